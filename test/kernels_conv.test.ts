// Convolution kernels: WebGPU forward, backward-input and backward-filter against the CPU reference
// (the cases and the check of test/checks/conv_checks.ts, a few of which run in Chromium too)
// on awkward configurations (odd sizes, strides 2 to 4, channel counts not multiples of the register
// tile, 1x1, 3x3, 5x5 and non-square kernels, with and without bias), and finite-difference checks of
// the conv2d VJP.

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { Random, type Tensor, conv2d, conv2dShape, mul, sum } from '../engine/index.js';
import { CONV_CASES, type ConvCase, convCheck, convSeed, describeConv } from './checks/conv_checks.js';
import { assertOp, cpu, gradCheck, maxAbs, randomArray, webgpu } from './helpers.js';

async function check(c: ConvCase, seed: number): Promise<void> {
  const r = await assertOp(await webgpu(), convCheck(c), { seed, reference: cpu });
  // Guard against vacuous passes (all zeros on both sides).
  assert.ok(r.expected.every((out) => maxAbs(out) > 0), `${describeConv(c)}: reference is all zeros`);
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
