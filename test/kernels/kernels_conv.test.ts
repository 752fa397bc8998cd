// Convolution kernels: WebGPU forward, backward-input and backward-filter against the CPU reference
// (the cases and the check of kernels/checks/conv_checks.ts, a few of which run in Chromium too)
// on awkward configurations (odd sizes, strides 2 to 4, channel counts not multiples of the register
// tile, 1x1, 3x3, 5x5 and non-square kernels, with and without bias), and finite-difference checks of
// the conv2d VJP.

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { Random, Tensor, conv2d, conv2dShape, mul, sum } from '../../engine/index.js';
import { CONV_CASES, type ConvCase, convCheck, convSeed, describeConv } from '../../kernels/checks/conv_checks.js';
import { assertOp, cpu, gradCheck, maxAbs, put, randomArray, webgpu } from '../helpers.js';

async function check(c: ConvCase, seed: number): Promise<void> {
  const r = await assertOp(await webgpu(), convCheck(c), { seed, reference: cpu });
  // Guard against vacuous passes (all zeros on both sides).
  assert.ok(
    r.expected.every((out) => maxAbs(out) > 0),
    `${describeConv(c)}: reference is all zeros`,
  );
}

CONV_CASES.forEach((c, i) => {
  test(`conv2d WebGPU matches CPU: ${describeConv(c)}`, () => check(c, convSeed(i)));
});

test('conv2d WebGPU matches CPU: random configurations', async () => {
  const rng = new Random(2024);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  for (let t = 0; t < 5; t++) {
    const k = pick([1, 3]);
    const c: ConvCase = {
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
    const c: ConvCase = {
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

// The ReLU fused into the forward (SmallCNN's convs): on the vec4-weight path (12 out channels; these
// small convs run the plain tiles, test/kernels/conv_configs.test.ts the subgroup ones), on the scalar path at
// stride 2 with padding, and at SmallCNN's first conv.
const RELU_CASES: ConvCase[] = [
  { batch: 2, inChannels: 9, outChannels: 12, height: 13, width: 11, kh: 3, kw: 3, stride: 1, padding: 1, bias: true },
  { batch: 3, inChannels: 3, outChannels: 5, height: 13, width: 13, kh: 3, kw: 3, stride: 2, padding: 1, bias: false },
  { batch: 2, inChannels: 1, outChannels: 32, height: 28, width: 28, kh: 3, kw: 3, stride: 1, padding: 0, bias: true },
];

test('conv2d with its ReLU fused matches the CPU reference, zeroing negatives and passing NaN', async () => {
  const be = await webgpu();
  for (const [i, c] of RELU_CASES.entries()) {
    const s = conv2dShape(
      [c.batch, c.inChannels, c.height, c.width],
      [c.outChannels, c.inChannels, c.kh, c.kw],
      c.stride,
      c.padding,
    );
    const yShape = [c.batch, c.outChannels, s.outHeight, s.outWidth];
    const r = await assertOp(
      be,
      {
        name: `conv2d + ReLU ${describeConv(c)}`,
        inputs: [
          { shape: [c.batch, c.inChannels, c.height, c.width] },
          { shape: [c.outChannels, c.inChannels, c.kh, c.kw] },
          ...(c.bias ? [{ shape: [c.outChannels] }] : []),
        ],
        run: ([x, w, bias], b) => [
          Tensor.fromStorage(b, b.conv2d(x.storage, w.storage, bias ? bias.storage : null, s, true), yShape, 'float32'),
        ],
        rtol: 1e-4,
        atol: 2e-6 * c.inChannels * c.kh * c.kw + 1e-6,
      },
      { seed: 900 + i, reference: cpu },
    );
    const y = r.expected[0];
    assert.ok(
      y.some((v) => v === 0) && y.some((v) => v > 0),
      `${describeConv(c)}: the pre-activations should have both signs`,
    );
  }
  // A NaN input reaches output (0, 0, 0, 0) through the window of its first tap: the ReLU must not hide it.
  const c = RELU_CASES[0];
  const xs = new Float32Array(c.batch * c.inChannels * c.height * c.width).fill(-1);
  xs[0] = NaN;
  const x = put(be, xs, [c.batch, c.inChannels, c.height, c.width]);
  const w = put(be, new Float32Array(c.outChannels * c.inChannels * 9).fill(1), [c.outChannels, c.inChannels, 3, 3]);
  const out = conv2d(x, w, null, { padding: 1, relu: true });
  const y = await out.data();
  assert.ok(
    Number.isNaN(y[0]) && y[y.length - 1] === 0,
    `NaN passes and negatives are zero: ${y[0]}, ${y[y.length - 1]}`,
  );
  for (const t of [x, w, out]) t.dispose();
});

test('gradCheck: conv2d with a fused ReLU w.r.t. input, weight and bias (3x3, stride 2, pad 1)', async () => {
  const rng = new Random(47);
  const xShape = [2, 3, 5, 5];
  const wShape = [4, 3, 3, 3];
  const s = conv2dShape(xShape, wShape, 2, 1);
  const yShape = [s.batch, s.outChannels, s.outHeight, s.outWidth];
  await gradCheck(
    (x, w, b, r) => weighted(conv2d(x, w, b, { stride: 2, padding: 1, relu: true }), r),
    [
      { values: randomArray(rng, size(xShape)), shape: xShape },
      { values: randomArray(rng, size(wShape)), shape: wShape },
      { values: randomArray(rng, 4), shape: [4] },
      { values: randomArray(rng, size(yShape)), shape: yShape, differentiable: false },
    ],
    'conv2d + ReLU s2 p1',
  );
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
