// Convolution kernels (forward, backward-input, backward-filter) against the CPU reference, as op
// checks for the reference harness: the cases test/kernels/kernels_conv.test.ts runs on Node's WebGPU, and the
// few of them (`checks`) that also run in Chromium.

import { Tensor, conv2dShape } from '../../engine/index.js';
import type { OpCheck } from '../../engine/reference/index.js';
import { type Check, opCheck } from './check.js';

export interface ConvCase {
  batch: number;
  inChannels: number;
  outChannels: number;
  height: number;
  width: number;
  kh: number;
  kw: number;
  stride: number;
  padding: number;
  bias: boolean;
}

export const describeConv = (c: ConvCase) =>
  `x [${c.batch},${c.inChannels},${c.height},${c.width}] w [${c.outChannels},${c.inChannels},${c.kh},${c.kw}] s${c.stride} p${c.padding}${c.bias ? ' +bias' : ''}`;

/** Forward, backward-input and backward-filter of one case, through the Backend methods: a check for
 *  the reference harness (inputs x, w, dy, and the bias and a ReLU mask when the case has a bias: then
 *  also the weight and bias gradients of the masked dy, from one pass). */
export function convCheck(c: ConvCase): OpCheck {
  const s = conv2dShape(
    [c.batch, c.inChannels, c.height, c.width],
    [c.outChannels, c.inChannels, c.kh, c.kw],
    c.stride,
    c.padding,
  );
  const yShape = [c.batch, c.outChannels, s.outHeight, s.outWidth];
  // Sums of K products of values in [-1, 1]: float32 rounding grows with K.
  const kFwd = c.inChannels * c.kh * c.kw;
  const kIn = c.outChannels * c.kh * c.kw;
  const kFilter = c.batch * s.outHeight * s.outWidth;
  return {
    name: `conv2d ${describeConv(c)} (forward, backward-input, backward-filter)`,
    inputs: [
      { shape: [c.batch, c.inChannels, c.height, c.width] },
      { shape: [c.outChannels, c.inChannels, c.kh, c.kw] },
      { shape: yShape },
      // With a bias, a ReLU mask too (random: about half its values positive).
      ...(c.bias ? [{ shape: [c.outChannels] }, { shape: yShape }] : []),
    ],
    run: ([x, w, dy, bias, mask], b) => {
      const out = [
        Tensor.fromStorage(b, b.conv2d(x.storage, w.storage, bias ? bias.storage : null, s), yShape, 'float32'),
        Tensor.fromStorage(b, b.conv2dBackwardInput(dy.storage, w.storage, s), x.shape, 'float32'),
        Tensor.fromStorage(b, b.conv2dBackwardFilter(x.storage, dy.storage, s).weight, w.shape, 'float32'),
      ];
      if (!bias) return out;
      // The weight gradient's pass with the bias gradient summed in and dy masked as it is read.
      const grads = b.conv2dBackwardFilter(x.storage, dy.storage, s, { bias: true, reluMask: mask.storage });
      return [
        ...out,
        Tensor.fromStorage(b, grads.weight, w.shape, 'float32'),
        Tensor.fromStorage(b, grads.bias!, [c.outChannels], 'float32'),
      ];
    },
    rtol: 1e-4,
    atol: [2e-6 * kFwd + 1e-6, 2e-6 * kIn + 1e-6, 2e-6 * kFilter + 1e-6, 2e-6 * kFilter + 1e-6, 2e-6 * kFilter + 1e-6],
  };
}

/** The seed of CONV_CASES[i]'s random inputs. */
export const convSeed = (i: number) => 100 + i;

const conv = (
  batch: number,
  inChannels: number,
  outChannels: number,
  height: number,
  width: number,
  kh: number,
  kw: number,
  stride: number,
  padding: number,
  bias: boolean,
): ConvCase => ({ batch, inChannels, outChannels, height, width, kh, kw, stride, padding, bias });

export const CONV_CASES: ConvCase[] = [
  conv(1, 3, 5, 13, 13, 3, 3, 1, 0, true),
  conv(3, 3, 5, 13, 13, 3, 3, 2, 1, false),
  conv(3, 7, 6, 13, 13, 3, 3, 1, 1, true),
  conv(1, 7, 6, 29, 29, 3, 3, 2, 0, false),
  conv(3, 6, 10, 13, 13, 1, 1, 2, 0, false),
  conv(2, 8, 12, 16, 16, 1, 1, 2, 0, false),
  conv(1, 1, 3, 29, 29, 3, 3, 1, 0, true),
  conv(2, 4, 4, 9, 11, 3, 2, 1, 1, false),
  conv(1, 2, 3, 3, 3, 3, 3, 1, 0, false),
  // Shapes of the real models (small batch), so the tiled fast paths are exercised exactly.
  conv(2, 1, 32, 28, 28, 3, 3, 1, 0, true),
  conv(2, 32, 32, 26, 26, 3, 3, 1, 0, true),
  conv(2, 32, 64, 12, 12, 3, 3, 1, 0, true),
  conv(2, 3, 64, 32, 32, 3, 3, 1, 1, false),
  conv(2, 64, 128, 16, 16, 3, 3, 2, 1, false),
  conv(2, 64, 128, 16, 16, 1, 1, 2, 0, false),
  conv(3, 128, 64, 4, 4, 3, 3, 1, 1, false),
  // Strided backward-input runs one pass per phase (h mod S, v mod S) of the input pixels: odd sizes
  // (phases of different sizes), strides 2 to 4, kernels smaller than the stride (phases no tap
  // reaches, written as zeros), non-square kernels, padding up to and past the kernel size (dy read
  // from an offset), in-channel counts on and off the vec4 weight path.
  conv(2, 8, 6, 13, 11, 1, 1, 3, 0, false),
  conv(2, 5, 4, 13, 13, 1, 1, 2, 1, false),
  conv(2, 4, 5, 13, 29, 3, 2, 2, 1, true),
  conv(1, 4, 3, 13, 11, 5, 3, 3, 2, false),
  conv(2, 5, 6, 13, 9, 3, 3, 4, 1, false),
  conv(2, 3, 2, 2, 5, 3, 3, 3, 1, false),
  conv(2, 8, 8, 13, 13, 3, 3, 2, 2, false),
  conv(1, 12, 7, 29, 13, 3, 3, 2, 1, false),
];

/** Small cases that cover the kernel families: 3x3 with bias, stride 2 with padding, 1x1 stride 2, a
 *  non-square kernel, and strided backward-input with stride 3 and 4. */
const IN_BOTH = [0, 1, 4, 7, 16, 20];

export const checks: Check[] = IN_BOTH.map((i) => opCheck(convCheck(CONV_CASES[i]), convSeed(i), 'float32'));
