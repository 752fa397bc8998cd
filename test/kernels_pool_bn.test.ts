// Pooling and batch-norm kernels: WebGPU against the CPU reference on odd sizes, max-pool ties,
// numerically stable batch statistics, and finite-difference checks of the ops' gradients.

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import {
  type Backend,
  Random,
  Tape,
  type Tensor,
  avgPool2d,
  batchNormEval,
  batchNormTrain,
  maxPool2d,
  mul,
  pool2dShape,
  sum,
} from '../engine/index.js';
import { assertClose, cpu, cpu64, gradCheck, put, randomArray, webgpu } from './helpers.js';

type PoolKind = 'max' | 'avg';

/** Forward and backward of one pooling kind on a backend, through the Backend methods directly. */
async function runPool(b: Backend, kind: PoolKind, x: Float32Array, dy: Float32Array, shape: number[], kernel: number, stride: number) {
  const s = pool2dShape(shape, kernel, stride, 'test');
  const xs = b.upload(x, 'float32');
  const dys = b.upload(dy, 'float32');
  const ys = kind === 'max' ? b.maxPool2d(xs, s) : b.avgPool2d(xs, s);
  const dxs = kind === 'max' ? b.maxPool2dBackward(dys, xs, s) : b.avgPool2dBackward(dys, s);
  const y = (await b.read(ys, 'float32', dy.length)) as Float32Array;
  const dx = (await b.read(dxs, 'float32', x.length)) as Float32Array;
  for (const t of [xs, dys, ys, dxs]) b.release(t);
  return { y, dx, s };
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

const POOL_CASES: { shape: number[]; kernel: number; stride: number; what: string }[] = [
  { shape: [3, 5, 13, 11], kernel: 2, stride: 2, what: '2x2 stride 2, odd sizes (floor)' },
  { shape: [2, 3, 9, 9], kernel: 3, stride: 2, what: '3x3 stride 2 (overlapping windows)' },
  { shape: [1, 2, 8, 7], kernel: 3, stride: 1, what: '3x3 stride 1 (heavily overlapping)' },
  { shape: [2, 2, 11, 10], kernel: 2, stride: 3, what: '2x2 stride 3 (gaps between windows)' },
  { shape: [2, 7, 4, 4], kernel: 4, stride: 4, what: 'global 4x4' },
];

for (const kind of ['max', 'avg'] as const) {
  for (const c of POOL_CASES) {
    test(`${kind}Pool2d: WebGPU matches CPU, ${c.what} on [${c.shape}]`, async () => {
      const gpu = await webgpu();
      const rng = new Random(11);
      const s = pool2dShape(c.shape, c.kernel, c.stride, 'test');
      const x = Float32Array.from(randomArray(rng, size(c.shape)));
      const dy = Float32Array.from(randomArray(rng, s.batch * s.channels * s.outHeight * s.outWidth));
      const g = await runPool(gpu, kind, x, dy, c.shape, c.kernel, c.stride);
      const r = await runPool(cpu, kind, x, dy, c.shape, c.kernel, c.stride);
      assertClose(g.y, r.y, `${kind}Pool2d forward`, 1e-6, 1e-6);
      assertClose(g.dx, r.dx, `${kind}Pool2d backward`, 1e-5, 1e-6);
    });
  }
}

test('avgPool2d: global pool equals the plane mean', async () => {
  const gpu = await webgpu();
  const shape = [2, 7, 4, 4];
  const x = Float32Array.from(randomArray(new Random(3), size(shape)));
  const { y } = await runPool(gpu, 'avg', x, new Float32Array(14), shape, 4, 4);
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
      for (let j = 0; j < s.outWidth; j++) dx[p * s.inHeight * s.inWidth + i * s.stride * s.inWidth + j * s.stride] += dy[(p * s.outHeight + i) * s.outWidth + j];
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
    const dy = Float32Array.from(randomArray(new Random(5), s.batch * s.channels * s.outHeight * s.outWidth));
    const expected = firstElementGradient(s, dy);
    const g = await runPool(gpu, 'max', x, dy, c.shape, c.kernel, c.stride);
    const r = await runPool(cpu, 'max', x, dy, c.shape, c.kernel, c.stride);
    assertClose(g.y, new Float32Array(dy.length).fill(0.5), 'forward', 0, 0);
    assertClose(r.dx, expected, 'CPU backward', 1e-6, 1e-7);
    assertClose(g.dx, expected, 'WebGPU backward', 1e-6, 1e-7);
  });
}

test('maxPool2d ties: many partial ties (values from {0, 1, 2}) agree exactly between backends', async () => {
  const gpu = await webgpu();
  const rng = new Random(9);
  const shape = [2, 3, 10, 9];
  for (const [kernel, stride] of [[2, 2], [3, 2], [3, 1]]) {
    const s = pool2dShape(shape, kernel, stride, 'test');
    const x = Float32Array.from({ length: size(shape) }, () => rng.int(3));
    const dy = Float32Array.from(randomArray(rng, s.batch * s.channels * s.outHeight * s.outWidth));
    const g = await runPool(gpu, 'max', x, dy, shape, kernel, stride);
    const r = await runPool(cpu, 'max', x, dy, shape, kernel, stride);
    assertClose(g.y, r.y, `k${kernel} s${stride} forward`, 0, 0);
    assertClose(g.dx, r.dx, `k${kernel} s${stride} backward`, 1e-6, 1e-7);
  }
});

// ---- Batch norm --------------------------------------------------------------------------------

async function stats(b: Backend, x: Float32Array, shape: number[]) {
  const [n, c, h, w] = shape;
  const xs = b.upload(x, 'float32');
  const [ms, vs] = b.batchNormStats(xs, n, c, h * w);
  const mean = await b.read(ms, 'float32', c);
  const variance = await b.read(vs, 'float32', c);
  for (const t of [xs, ms, vs]) b.release(t);
  return { mean, variance };
}

const BN_CASES: { shape: number[]; offset: number; what: string }[] = [
  { shape: [3, 5, 7, 9], offset: 0, what: 'small odd sizes, one workgroup per channel' },
  { shape: [17, 2, 25, 25], offset: 0, what: 'three uneven chunks per channel, scalar loads' },
  { shape: [4, 3, 16, 16], offset: 1000, what: 'values 1000 ± 1, one workgroup per channel' },
  { shape: [40, 2, 32, 32], offset: 1000, what: 'values 1000 ± 1, four chunks per channel' },
];

for (const c of BN_CASES) {
  test(`batchNormStats: WebGPU matches float64 CPU, ${c.what} on [${c.shape}]`, async () => {
    const gpu = await webgpu();
    const rng = new Random(21);
    // Per-channel offsets and scales, so channels differ; the float32 values are what both see.
    const [, ch, h, w] = c.shape;
    const x = new Float32Array(size(c.shape));
    for (let i = 0; i < x.length; i++) {
      const channel = Math.floor(i / (h * w)) % ch;
      x[i] = c.offset + channel * 0.25 + (1 + channel) * 0.5 * rng.uniform(-1, 1);
    }
    const g = await stats(gpu, x, c.shape);
    const r = await stats(cpu64, x, c.shape);
    // Means of ~1000 carry float32 rounding of the sums (~1e-7 relative); variances stay accurate
    // to ~1e-5 relative because nothing subtracts E[x]² from E[x²] (which would be off by ~10%).
    assertClose(g.mean, r.mean, 'mean', 1e-6, 1e-5);
    assertClose(g.variance, r.variance, 'variance', 1e-4, 1e-6);
  });
}

test('batchNormApply: WebGPU matches float64 CPU on [3,5,7,9] with given statistics', async () => {
  const gpu = await webgpu();
  const rng = new Random(4);
  const [n, c, h, w] = [3, 5, 7, 9];
  const x = Float32Array.from(randomArray(rng, n * c * h * w, -2, 3));
  const mean = Float32Array.from(randomArray(rng, c));
  const variance = Float32Array.from(randomArray(rng, c, 0.1, 2));
  const gamma = Float32Array.from(randomArray(rng, c, 0.5, 1.5));
  const beta = Float32Array.from(randomArray(rng, c));
  const run = async (b: Backend) => {
    const s = [x, mean, variance, gamma, beta].map((v) => b.upload(v, 'float32'));
    const y = b.batchNormApply(s[0], s[1], s[2], s[3], s[4], n, c, h * w, 1e-3);
    const out = await b.read(y, 'float32', x.length);
    for (const t of [...s, y]) b.release(t);
    return out;
  };
  assertClose(await run(gpu), await run(cpu64), 'batchNormApply', 1e-5, 1e-6);
});

for (const c of BN_CASES) {
  test(`batchNormTrain: WebGPU y, mean and variance match float64 CPU, ${c.what}`, async () => {
    const gpu = await webgpu();
    const rng = new Random(8);
    const ch = c.shape[1];
    const x = Float32Array.from(randomArray(rng, size(c.shape), c.offset - 1, c.offset + 1));
    const gamma = Float32Array.from(randomArray(rng, ch, 0.5, 1.5));
    const beta = Float32Array.from(randomArray(rng, ch));
    const run = async (b: Backend) => {
      const out = batchNormTrain(put(b, x, c.shape), put(b, gamma, [ch]), put(b, beta, [ch]));
      const result = { y: await out.y.data(), mean: await out.mean.data(), variance: await out.variance.data() };
      out.y.dispose();
      out.mean.dispose();
      out.variance.dispose();
      return result;
    };
    const g = await run(gpu);
    const r = await run(cpu64);
    assertClose(g.mean, r.mean, 'mean', 1e-6, 1e-5);
    assertClose(g.variance, r.variance, 'variance', 1e-4, 1e-6);
    // y = (x − mean)·γ/σ: a mean error of ~1e-5 at offset 1000 shows up as ~1e-4 in y.
    assertClose(g.y, r.y, 'y', 1e-4, c.offset ? 2e-4 : 1e-5);
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
    const out = batchNormTrain(put(b, x, shape), put(b, new Float32Array(c).fill(1), [c]), put(b, new Float32Array(c), [c]), 1e-5);
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
    const y = batchNormEval(put(b, x, shape), put(b, mean, [c]), put(b, variance, [c]), put(b, gamma, [c]), put(b, beta, [c]), eps);
    assertClose(await y.data(), expected, `${b.name} batchNormEval`, 1e-5, 1e-6);
    y.dispose();
  }
});

// ---- Gradients -----------------------------------------------------------------------------------

const weighted = (y: Tensor, w: Tensor) => sum(mul(y, w));

test('gradCheck: maxPool2d (non-overlapping and overlapping windows)', async () => {
  const rng = new Random(31);
  for (const [shape, kernel, stride] of [[[2, 2, 5, 7], 2, 2], [[1, 2, 7, 7], 3, 2]] as [number[], number, number][]) {
    const s = pool2dShape(shape, kernel, stride, 'test');
    await gradCheck(
      (x, w) => weighted(maxPool2d(x, kernel, stride), w),
      [
        { values: randomArray(rng, size(shape)), shape },
        { values: randomArray(rng, s.batch * s.channels * s.outHeight * s.outWidth), shape: [s.batch, s.channels, s.outHeight, s.outWidth], differentiable: false },
      ],
      `maxPool2d k${kernel} s${stride}`,
    );
  }
});

test('gradCheck: avgPool2d (overlapping windows and global pool)', async () => {
  const rng = new Random(32);
  for (const [shape, kernel, stride] of [[[2, 2, 7, 6], 3, 2], [[2, 3, 4, 4], 4, 4]] as [number[], number, number][]) {
    const s = pool2dShape(shape, kernel, stride, 'test');
    await gradCheck(
      (x, w) => weighted(avgPool2d(x, kernel, stride), w),
      [
        { values: randomArray(rng, size(shape)), shape },
        { values: randomArray(rng, s.batch * s.channels * s.outHeight * s.outWidth), shape: [s.batch, s.channels, s.outHeight, s.outWidth], differentiable: false },
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
  const gpu = await webgpu();
  const rng = new Random(35);
  const shape = [4, 3, 5, 6];
  const x = Float32Array.from(randomArray(rng, size(shape), -2, 2));
  const gamma = Float32Array.from(randomArray(rng, 3, 0.5, 1.5));
  const beta = Float32Array.from(randomArray(rng, 3));
  const w = Float32Array.from(randomArray(rng, size(shape)));
  const run = async (b: Backend) => {
    const inputs = [put(b, x, shape), put(b, gamma, [3]), put(b, beta, [3])];
    const wt = put(b, w, shape);
    const tape = new Tape();
    const loss = tape.record(() => weighted(batchNormTrain(inputs[0], inputs[1], inputs[2]).y, wt));
    const grads = tape.gradient(loss, inputs);
    return Promise.all(grads.map((g) => g.data()));
  };
  const g = await run(gpu);
  const r = await run(cpu64);
  for (const [i, name] of ['dx', 'dgamma', 'dbeta'].entries()) assertClose(g[i], r[i], name, 1e-4, 1e-5);
});

test.run();
