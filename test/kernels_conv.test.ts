// Convolution kernels: WebGPU forward, backward-input and backward-filter against the CPU reference
// on awkward configurations (odd sizes, strides 2 to 4, channel counts not multiples of the register
// tile, 1x1, 3x3, 5x5 and non-square kernels, with and without bias), and finite-difference checks of
// the conv2d VJP.

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { Random, Tensor, conv2d, conv2dShape, mul, sum } from '../engine/index.js';
import type { OpCheck } from '../engine/reference/index.js';
import { assertOp, cpu, gradCheck, maxAbs, randomArray, webgpu } from './helpers.js';

interface Case {
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

const describe = (c: Case) =>
  `x [${c.batch},${c.inChannels},${c.height},${c.width}] w [${c.outChannels},${c.inChannels},${c.kh},${c.kw}] s${c.stride} p${c.padding}${c.bias ? ' +bias' : ''}`;

/** Forward, backward-input and backward-filter of one case, through the Backend methods: a check for
 *  the reference harness (inputs x, w, dy and the bias when the case has one). */
function convCheck(c: Case): OpCheck {
  const s = conv2dShape([c.batch, c.inChannels, c.height, c.width], [c.outChannels, c.inChannels, c.kh, c.kw], c.stride, c.padding);
  const yShape = [c.batch, c.outChannels, s.outHeight, s.outWidth];
  // Sums of K products of values in [-1, 1]: float32 rounding grows with K.
  const kFwd = c.inChannels * c.kh * c.kw;
  const kIn = c.outChannels * c.kh * c.kw;
  const kFilter = c.batch * s.outHeight * s.outWidth;
  return {
    name: `conv2d ${describe(c)} (forward, backward-input, backward-filter)`,
    inputs: [{ shape: [c.batch, c.inChannels, c.height, c.width] }, { shape: [c.outChannels, c.inChannels, c.kh, c.kw] }, { shape: yShape }, ...(c.bias ? [{ shape: [c.outChannels] }] : [])],
    run: ([x, w, dy, bias], b) => [
      Tensor.fromStorage(b, b.conv2d(x.storage, w.storage, bias ? bias.storage : null, s), yShape, 'float32'),
      Tensor.fromStorage(b, b.conv2dBackwardInput(dy.storage, w.storage, s), x.shape, 'float32'),
      Tensor.fromStorage(b, b.conv2dBackwardFilter(x.storage, dy.storage, s), w.shape, 'float32'),
    ],
    rtol: 1e-4,
    atol: [2e-6 * kFwd + 1e-6, 2e-6 * kIn + 1e-6, 2e-6 * kFilter + 1e-6],
  };
}

async function check(c: Case, seed: number): Promise<void> {
  const r = await assertOp(await webgpu(), convCheck(c), { seed, reference: cpu });
  // Guard against vacuous passes (all zeros on both sides).
  assert.ok(r.expected.every((out) => maxAbs(out) > 0), `${describe(c)}: reference is all zeros`);
}

const CASES: Case[] = [
  { batch: 1, inChannels: 3, outChannels: 5, height: 13, width: 13, kh: 3, kw: 3, stride: 1, padding: 0, bias: true },
  { batch: 3, inChannels: 3, outChannels: 5, height: 13, width: 13, kh: 3, kw: 3, stride: 2, padding: 1, bias: false },
  { batch: 3, inChannels: 7, outChannels: 6, height: 13, width: 13, kh: 3, kw: 3, stride: 1, padding: 1, bias: true },
  { batch: 1, inChannels: 7, outChannels: 6, height: 29, width: 29, kh: 3, kw: 3, stride: 2, padding: 0, bias: false },
  { batch: 3, inChannels: 6, outChannels: 10, height: 13, width: 13, kh: 1, kw: 1, stride: 2, padding: 0, bias: false },
  { batch: 2, inChannels: 8, outChannels: 12, height: 16, width: 16, kh: 1, kw: 1, stride: 2, padding: 0, bias: false },
  { batch: 1, inChannels: 1, outChannels: 3, height: 29, width: 29, kh: 3, kw: 3, stride: 1, padding: 0, bias: true },
  { batch: 2, inChannels: 4, outChannels: 4, height: 9, width: 11, kh: 3, kw: 2, stride: 1, padding: 1, bias: false },
  { batch: 1, inChannels: 2, outChannels: 3, height: 3, width: 3, kh: 3, kw: 3, stride: 1, padding: 0, bias: false },
  // Shapes of the real models (small batch), so the tiled fast paths are exercised exactly.
  { batch: 2, inChannels: 1, outChannels: 32, height: 28, width: 28, kh: 3, kw: 3, stride: 1, padding: 0, bias: true },
  { batch: 2, inChannels: 32, outChannels: 32, height: 26, width: 26, kh: 3, kw: 3, stride: 1, padding: 0, bias: true },
  { batch: 2, inChannels: 32, outChannels: 64, height: 12, width: 12, kh: 3, kw: 3, stride: 1, padding: 0, bias: true },
  { batch: 2, inChannels: 3, outChannels: 64, height: 32, width: 32, kh: 3, kw: 3, stride: 1, padding: 1, bias: false },
  { batch: 2, inChannels: 64, outChannels: 128, height: 16, width: 16, kh: 3, kw: 3, stride: 2, padding: 1, bias: false },
  { batch: 2, inChannels: 64, outChannels: 128, height: 16, width: 16, kh: 1, kw: 1, stride: 2, padding: 0, bias: false },
  { batch: 3, inChannels: 128, outChannels: 64, height: 4, width: 4, kh: 3, kw: 3, stride: 1, padding: 1, bias: false },
  // Strided backward-input runs one pass per phase (h mod S, v mod S) of the input pixels: odd sizes
  // (phases of different sizes), strides 2 to 4, kernels smaller than the stride (phases no tap
  // reaches, written as zeros), non-square kernels, padding up to and past the kernel size (dy read
  // from an offset), in-channel counts on and off the vec4 weight path.
  { batch: 2, inChannels: 8, outChannels: 6, height: 13, width: 11, kh: 1, kw: 1, stride: 3, padding: 0, bias: false },
  { batch: 2, inChannels: 5, outChannels: 4, height: 13, width: 13, kh: 1, kw: 1, stride: 2, padding: 1, bias: false },
  { batch: 2, inChannels: 4, outChannels: 5, height: 13, width: 29, kh: 3, kw: 2, stride: 2, padding: 1, bias: true },
  { batch: 1, inChannels: 4, outChannels: 3, height: 13, width: 11, kh: 5, kw: 3, stride: 3, padding: 2, bias: false },
  { batch: 2, inChannels: 5, outChannels: 6, height: 13, width: 9, kh: 3, kw: 3, stride: 4, padding: 1, bias: false },
  { batch: 2, inChannels: 3, outChannels: 2, height: 2, width: 5, kh: 3, kw: 3, stride: 3, padding: 1, bias: false },
  { batch: 2, inChannels: 8, outChannels: 8, height: 13, width: 13, kh: 3, kw: 3, stride: 2, padding: 2, bias: false },
  { batch: 1, inChannels: 12, outChannels: 7, height: 29, width: 13, kh: 3, kw: 3, stride: 2, padding: 1, bias: false },
];

CASES.forEach((c, i) => {
  test(`conv2d WebGPU matches CPU: ${describe(c)}`, () => check(c, 100 + i));
});

test('conv2d WebGPU matches CPU: random configurations', async () => {
  const rng = new Random(2024);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  for (let t = 0; t < 5; t++) {
    const k = pick([1, 3]);
    const c: Case = {
      batch: pick([1, 2, 3]),
      inChannels: 1 + rng.int(9),
      outChannels: 1 + rng.int(11),
      height: pick([5, 8, 13, 16, 29]),
      width: pick([5, 7, 13, 16, 29]),
      kh: k,
      kw: k,
      stride: pick([1, 2]),
      padding: k === 1 ? 0 : pick([0, 1]),
      bias: rng.next() < 0.5,
    };
    await check(c, 500 + t);
  }
});

// Few: a stride-S configuration compiles up to S² backward-input kernels, each about a second on a
// cold lavapipe shader cache (as is every other kernel of every configuration in this file).
test('conv2d WebGPU matches CPU: random strided configurations', async () => {
  const rng = new Random(2025);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  for (let t = 0; t < 2; t++) {
    const kh = 1 + rng.int(5);
    const kw = 1 + rng.int(5);
    const c: Case = {
      batch: pick([1, 2]),
      inChannels: pick([1, 3, 4, 8, 9]),
      outChannels: 1 + rng.int(7),
      height: pick([5, 8, 11, 13]),
      width: pick([5, 7, 12, 13]),
      kh,
      kw,
      stride: pick([2, 3]),
      padding: rng.int(Math.min(kh, kw, 3)),
      bias: rng.next() < 0.5,
    };
    await check(c, 700 + t);
  }
});

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const weighted = (y: Tensor, w: Tensor) => sum(mul(y, w));

for (const [stride, padding] of [
  [2, 1],
  [1, 0],
]) {
  test(`gradCheck: conv2d w.r.t. input, weight and bias (3x3, stride ${stride}, pad ${padding})`, async () => {
    const rng = new Random(41 + stride);
    const xShape = [2, 3, 5, 5];
    const wShape = [4, 3, 3, 3];
    const s = conv2dShape(xShape, wShape, stride, padding);
    const yShape = [s.batch, s.outChannels, s.outHeight, s.outWidth];
    await gradCheck(
      (x, w, b, r) => weighted(conv2d(x, w, b, { stride, padding }), r),
      [
        { values: randomArray(rng, size(xShape)), shape: xShape },
        { values: randomArray(rng, size(wShape)), shape: wShape },
        { values: randomArray(rng, 4), shape: [4] },
        { values: randomArray(rng, size(yShape)), shape: yShape, differentiable: false },
      ],
      `conv2d s${stride} p${padding}`,
    );
  });
}

test('gradCheck: conv2d 1x1 stride 2 without bias', async () => {
  const rng = new Random(43);
  const xShape = [2, 3, 5, 5];
  const wShape = [2, 3, 1, 1];
  const s = conv2dShape(xShape, wShape, 2, 0);
  const yShape = [s.batch, s.outChannels, s.outHeight, s.outWidth];
  await gradCheck(
    (x, w, r) => weighted(conv2d(x, w, null, { stride: 2 }), r),
    [
      { values: randomArray(rng, size(xShape)), shape: xShape },
      { values: randomArray(rng, size(wShape)), shape: wShape },
      { values: randomArray(rng, size(yShape)), shape: yShape, differentiable: false },
    ],
    'conv2d 1x1 s2',
  );
});

test.run();
