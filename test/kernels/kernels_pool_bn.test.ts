// Pooling and batch-norm kernels: WebGPU against the CPU reference on odd sizes, max-pool ties,
// numerically stable batch statistics, and finite-difference checks of the ops' gradients. The op
// checks are defined in kernels/checks/pool_bn_checks.ts, where a few of them also run in Chromium.

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import {
  Random,
  type Tensor,
  avgPool2d,
  batchNormEval,
  batchNormTrain,
  maxPool2d,
  mul,
  pool2dShape,
  sum,
} from '../../engine/index.js';
import { makeInputs } from '../../engine/reference/index.js';
import {
  BN_APPLY_SHAPE,
  BN_CASES,
  BN_VJP_SHAPE,
  POOL_CASES,
  POOL_SEED,
  batchNormApplyCheck,
  batchNormTrainCheck,
  batchNormVjpCheck,
  channelValues,
  poolCaseCheck,
  poolCheck,
  statsCheck,
} from '../../kernels/checks/pool_bn_checks.js';
import { assertClose, assertOp, cpu, cpu64, gradCheck, put, randomArray, webgpu } from '../helpers.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

for (const kind of ['max', 'avg'] as const) {
  for (const c of POOL_CASES) {
    test(`${kind}Pool2d: WebGPU matches CPU, ${c.what} on [${c.shape}]`, async () => {
      await assertOp(await webgpu(), poolCaseCheck(kind, c), { seed: POOL_SEED, reference: cpu });
    });
  }
}

test('avgPool2d: global pool equals the plane mean', async () => {
  const gpu = await webgpu();
  const shape = [2, 7, 4, 4];
  const x = Float32Array.from(randomArray(new Random(3), size(shape)));
  const r = await assertOp(gpu, poolCheck('avg', shape, 4, 4, [1e-6, 1e-5], [1e-6, 1e-6], x));
  const y = r.actual[0];
  for (let p = 0; p < 14; p++) {
    let m = 0;
    for (let i = 0; i < 16; i++) m += x[p * 16 + i] / 16;
    assert.ok(Math.abs(y[p] - m) < 1e-6, `plane ${p}: ${y[p]} vs ${m}`);
  }
});

/** Expected max-pool gradient for a constant input: dy of each window lands on its top-left element. */
function firstElementGradient(s: ReturnType<typeof pool2dShape>, dy: Float32Array): Float64Array {
  const dx = new Float64Array(s.batch * s.channels * s.inHeight * s.inWidth);
  for (let p = 0; p < s.batch * s.channels; p++)
    for (let i = 0; i < s.outHeight; i++)
      for (let j = 0; j < s.outWidth; j++)
        dx[p * s.inHeight * s.inWidth + i * s.stride * s.inWidth + j * s.stride] +=
          dy[(p * s.outHeight + i) * s.outWidth + j];
  return dx;
}

for (const c of [
  { shape: [2, 3, 7, 9], kernel: 2, stride: 2 },
  { shape: [2, 2, 9, 9], kernel: 3, stride: 2 },
  { shape: [1, 2, 6, 5], kernel: 3, stride: 1 },
]) {
  test(`maxPool2d ties: constant input sends the gradient to each window's first element (k${c.kernel} s${c.stride})`, async () => {
    const gpu = await webgpu();
    const s = pool2dShape(c.shape, c.kernel, c.stride, 'test');
    const x = new Float32Array(size(c.shape)).fill(0.5);
    const r = await assertOp(gpu, poolCheck('max', c.shape, c.kernel, c.stride, [0, 1e-6], [0, 1e-7], x), {
      seed: 5,
      reference: cpu,
    });
    const dy = Float32Array.from(
      makeInputs(poolCheck('max', c.shape, c.kernel, c.stride, [0, 0], [0, 0], x).inputs, 5)[1].values,
    );
    const expected = firstElementGradient(s, dy);
    assertClose(r.actual[0], new Float32Array(dy.length).fill(0.5), 'forward', 0, 0);
    assertClose(r.expected[1], expected, 'CPU backward', 1e-6, 1e-7);
    assertClose(r.actual[1], expected, 'WebGPU backward', 1e-6, 1e-7);
  });
}

test('maxPool2d ties: many partial ties (values from {0, 1, 2}) agree exactly between backends', async () => {
  const gpu = await webgpu();
  const rng = new Random(9);
  const shape = [2, 3, 10, 9];
  for (const [kernel, stride] of [
    [2, 2],
    [3, 2],
    [3, 1],
  ]) {
    const x = Float32Array.from({ length: size(shape) }, () => rng.int(3));
    await assertOp(gpu, poolCheck('max', shape, kernel, stride, [0, 1e-6], [0, 1e-7], x), {
      seed: rng.int(1000),
      reference: cpu,
    });
  }
});

// ---- Batch norm --------------------------------------------------------------------------------

// ---- Batch norm --------------------------------------------------------------------------------

for (const c of BN_CASES) {
  test(`batchNormStats: WebGPU matches float64 CPU, ${c.what} on [${c.shape}]`, async () => {
    const gpu = await webgpu();
    const x = channelValues(c.shape, c.offset);
    await assertOp(gpu, statsCheck(c.shape, x), { reference: cpu64 });
  });
}

test('batchNormApply: WebGPU matches float64 CPU on [3,5,7,9] with given statistics', async () => {
  await assertOp(await webgpu(), batchNormApplyCheck(BN_APPLY_SHAPE), { seed: 4, reference: cpu64 });
});

for (const c of BN_CASES) {
  test(`batchNormTrain: WebGPU y, mean and variance match float64 CPU, ${c.what}`, async () => {
    await assertOp(await webgpu(), batchNormTrainCheck(c), { seed: 8, reference: cpu64 });
  });
}

test('batchNormTrain normalises each channel (gamma = 1, beta = 0) on both backends', async () => {
  const gpu = await webgpu();
  const rng = new Random(13);
  const shape = [6, 4, 5, 7];
  const [n, c, h, w] = shape;
  const x = new Float32Array(size(shape));
  for (let i = 0; i < x.length; i++) {
    const channel = Math.floor(i / (h * w)) % c;
    x[i] = 3 * channel - 2 + (channel + 0.5) * rng.normal();
  }
  for (const b of [gpu, cpu]) {
    const out = batchNormTrain(
      put(b, x, shape),
      put(b, new Float32Array(c).fill(1), [c]),
      put(b, new Float32Array(c), [c]),
      1e-5,
    );
    const y = await out.y.data();
    for (let ch = 0; ch < c; ch++) {
      let m = 0;
      let v = 0;
      const m0 = n * h * w;
      for (let k = 0; k < n; k++) for (let i = 0; i < h * w; i++) m += y[(k * c + ch) * h * w + i] / m0;
      for (let k = 0; k < n; k++) for (let i = 0; i < h * w; i++) v += (y[(k * c + ch) * h * w + i] - m) ** 2 / m0;
      assert.ok(Math.abs(m) < 1e-5, `${b.name} channel ${ch}: mean of y is ${m}`);
      assert.ok(Math.abs(v - 1) < 1e-4, `${b.name} channel ${ch}: variance of y is ${v}`);
    }
    for (const t of [out.y, out.mean, out.variance]) t.dispose();
  }
});

test('batchNormEval uses the given statistics, not the batch ones', async () => {
  const gpu = await webgpu();
  const rng = new Random(17);
  const shape = [2, 3, 4, 5];
  const [, c, h, w] = shape;
  const x = Float32Array.from(randomArray(rng, size(shape), -3, 3));
  const mean = Float32Array.of(0.5, -1, 2);
  const variance = Float32Array.of(4, 0.25, 1);
  const gamma = Float32Array.of(1, 2, -0.5);
  const beta = Float32Array.of(0, 0.5, 1);
  const eps = 1e-3;
  const expected = Float64Array.from(x, (v, i) => {
    const ch = Math.floor(i / (h * w)) % c;
    return ((v - mean[ch]) / Math.sqrt(variance[ch] + eps)) * gamma[ch] + beta[ch];
  });
  for (const b of [gpu, cpu]) {
    const y = batchNormEval(
      put(b, x, shape),
      put(b, mean, [c]),
      put(b, variance, [c]),
      put(b, gamma, [c]),
      put(b, beta, [c]),
      eps,
    );
    assertClose(await y.data(), expected, `${b.name} batchNormEval`, 1e-5, 1e-6);
    y.dispose();
  }
});

// ---- Gradients -----------------------------------------------------------------------------------

const weighted = (y: Tensor, w: Tensor) => sum(mul(y, w));

test('gradCheck: maxPool2d (non-overlapping and overlapping windows)', async () => {
  const rng = new Random(31);
  for (const [shape, kernel, stride] of [
    [[2, 2, 5, 7], 2, 2],
    [[1, 2, 7, 7], 3, 2],
  ] as [number[], number, number][]) {
    const s = pool2dShape(shape, kernel, stride, 'test');
    await gradCheck(
      (x, w) => weighted(maxPool2d(x, kernel, stride), w),
      [
        { values: randomArray(rng, size(shape)), shape },
        {
          values: randomArray(rng, s.batch * s.channels * s.outHeight * s.outWidth),
          shape: [s.batch, s.channels, s.outHeight, s.outWidth],
          differentiable: false,
        },
      ],
      `maxPool2d k${kernel} s${stride}`,
    );
  }
});

test('gradCheck: avgPool2d (overlapping windows and global pool)', async () => {
  const rng = new Random(32);
  for (const [shape, kernel, stride] of [
    [[2, 2, 7, 6], 3, 2],
    [[2, 3, 4, 4], 4, 4],
  ] as [number[], number, number][]) {
    const s = pool2dShape(shape, kernel, stride, 'test');
    await gradCheck(
      (x, w) => weighted(avgPool2d(x, kernel, stride), w),
      [
        { values: randomArray(rng, size(shape)), shape },
        {
          values: randomArray(rng, s.batch * s.channels * s.outHeight * s.outWidth),
          shape: [s.batch, s.channels, s.outHeight, s.outWidth],
          differentiable: false,
        },
      ],
      `avgPool2d k${kernel} s${stride}`,
    );
  }
});

test('gradCheck: batchNormTrain w.r.t. x, gamma and beta', async () => {
  const rng = new Random(33);
  const shape = [3, 2, 3, 4];
  await gradCheck(
    (x, gamma, beta, w) => weighted(batchNormTrain(x, gamma, beta, 1e-3).y, w),
    [
      { values: randomArray(rng, size(shape), -2, 2), shape },
      { values: randomArray(rng, 2, 0.5, 1.5), shape: [2] },
      { values: randomArray(rng, 2), shape: [2] },
      { values: randomArray(rng, size(shape)), shape, differentiable: false },
    ],
    'batchNormTrain',
    { rtol: 1e-5, atol: 1e-7 },
  );
});

test('gradCheck: batchNormEval w.r.t. x, gamma and beta', async () => {
  const rng = new Random(34);
  const shape = [2, 3, 2, 3];
  await gradCheck(
    (x, mean, variance, gamma, beta, w) => weighted(batchNormEval(x, mean, variance, gamma, beta, 1e-3), w),
    [
      { values: randomArray(rng, size(shape), -2, 2), shape },
      { values: randomArray(rng, 3), shape: [3], differentiable: false },
      { values: randomArray(rng, 3, 0.2, 2), shape: [3], differentiable: false },
      { values: randomArray(rng, 3, 0.5, 1.5), shape: [3] },
      { values: randomArray(rng, 3), shape: [3] },
      { values: randomArray(rng, size(shape)), shape, differentiable: false },
    ],
    'batchNormEval',
  );
});

test('batchNormTrain gradients: WebGPU matches float64 CPU', async () => {
  await assertOp(await webgpu(), batchNormVjpCheck(BN_VJP_SHAPE), { seed: 35, reference: cpu64 });
});

test.run();
