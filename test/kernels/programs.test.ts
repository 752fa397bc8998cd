// Compiles per program: kernels whose scalars (ε, step sizes, learning rates, fill values, affine
// scale/shift, clamp bounds, batch-norm eps) come in uniforms and whose elementwise sizes come from
// arrayLength compile one pipeline, whatever the values and sizes; pooling compiles one per window
// geometry, whatever the batch and channels, softmax and cross-entropy one per class count,
// broadcasts, reductions, argmax and transposes along the batch one per shape of the rest, and batch
// norm (statistics, apply and its gradient's ops) one per spatial size and channel count, whatever the
// batch; matmul one per variant, transposes, load modes and k mod 4, whatever the sizes; and a program
// key that misses something its WGSL depends on is caught.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Backend,
  type DType,
  type MatmulShape,
  Random,
  type Storage,
  Tape,
  type Tensor,
  batchNormTrain,
  mul,
  pool2dShape,
  sum,
  tidy,
} from '../../engine/index.js';
import { assertClose, assertOp, cpu, cpu64, on, put, randomArray, webgpu } from '../helpers.js';
import { matmulCheck } from '../../kernels/checks/matmul_checks.js';
import { matmulVariants } from '../../kernels/matmul_plan.js';
import type { Gpu } from '../../kernels/webgpu/gpu.js';

/** Every op with a scalar operand, at n elements (odd n: one value at a time; n a multiple of 4: vec4s), with scalar s. */
function scalarOps(
  b: Backend,
  n: number,
  s: number,
  rng: Random,
): { what: string; out: Storage; dtype: DType; size: number }[] {
  const up = (values: ArrayLike<number>, dtype: DType = 'float32') =>
    b.upload(dtype === 'int32' ? Int32Array.from(values) : Float32Array.from(values), dtype);
  const x = up(randomArray(rng, n, -2, 2));
  const y = up(randomArray(rng, n, -2, 2));
  const mask = up(Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0)));
  const param = up(randomArray(rng, n));
  const momentum = up(randomArray(rng, n));
  b.sgdUpdate(param, y, momentum, n, { lr: s, momentum: 0.9, weightDecay: s / 10, nesterov: false });
  // Batch norm's WGSL keeps its shape (2 images × 3 channels × 5): only eps changes.
  const bnX = up(randomArray(rng, 30));
  const [mean, variance] = b.batchNormStats(bnX, 2, 3, 5);
  const [gamma, beta] = [up([1, 0.5, 2]), up([0, 0.25, -1])];
  const ops = [
    { what: 'fill float32', out: b.fill(n, s, 'float32'), dtype: 'float32' as DType, size: n },
    { what: 'fill int32', out: b.fill(n, Math.round(s * 7), 'int32'), dtype: 'int32' as DType, size: n },
    { what: 'affine', out: b.affine(x, n, s, -s / 2), dtype: 'float32' as DType, size: n },
    { what: 'clamp (ε-ball)', out: b.clamp(x, n, -Math.abs(s), Math.abs(s)), dtype: 'float32' as DType, size: n },
    { what: 'relu', out: b.unary('relu', x, n), dtype: 'float32' as DType, size: n },
    { what: 'add', out: b.binary('add', x, [n], y, [n], [n], 'float32'), dtype: 'float32' as DType, size: n },
    {
      what: 'mul by a single value',
      out: b.binary('mul', x, [n], up([s]), [1], [n], 'float32'),
      dtype: 'float32' as DType,
      size: n,
    },
    { what: 'where', out: b.where(mask, x, y, n), dtype: 'float32' as DType, size: n },
    { what: 'cast', out: b.cast(x, n, 'float32', 'int32'), dtype: 'int32' as DType, size: n },
    { what: 'sgd param (lr)', out: param, dtype: 'float32' as DType, size: n },
    { what: 'sgd momentum', out: momentum, dtype: 'float32' as DType, size: n },
    {
      what: 'batch norm (eps)',
      out: b.batchNormApply(bnX, mean, variance, gamma, beta, 2, 3, 5, Math.abs(s) / 100),
      dtype: 'float32' as DType,
      size: 30,
    },
  ];
  for (const t of [x, y, mask, bnX, mean, variance, gamma, beta]) b.release(t);
  return ops;
}

/** Runs scalarOps on WebGPU and on the CPU reference and compares them. */
async function checkScalarOps(n: number, s: number, seed: number): Promise<void> {
  const gpu = await webgpu();
  const ours = scalarOps(gpu, n, s, new Random(seed));
  const reference = scalarOps(cpu, n, s, new Random(seed));
  for (let k = 0; k < ours.length; k++) {
    const { what, out, dtype, size } = ours[k];
    assertClose(
      await gpu.read(out, dtype, size),
      await cpu.read(reference[k].out, dtype, size),
      `${what} (n ${n}, scalar ${s})`,
    );
    gpu.release(out);
  }
}

/** Runs fn and asserts that it compiled no new pipeline (the message: "pipelines compiled for `what`"). */
async function compilesNothing(gpu: Gpu, what: string, fn: () => Promise<void>): Promise<void> {
  const compiled = gpu.counters.pipelines;
  await fn();
  assert.is(gpu.counters.pipelines, compiled, `pipelines compiled for ${what}`);
}

test('new scalars (ε, lr, fill value, affine, clamp bounds, batch-norm eps) and new sizes compile no new pipeline', async () => {
  const { gpu } = await webgpu();
  // One value at a time, four at a time, and a single element (whose operands all read element 0).
  await checkScalarOps(37, 0.5, 1);
  await checkScalarOps(44, 0.25, 2);
  await checkScalarOps(1, 2, 3);
  await compilesNothing(gpu, 'new scalar values or sizes', async () => {
    await checkScalarOps(53, -0.125, 4);
    await checkScalarOps(1028, 3, 5);
    await checkScalarOps(1, 8 / 255, 6);
  });
});

test('empty sums (matmul with k = 0) of new sizes compile no new pipeline and are zeros', async () => {
  const b = await webgpu();
  const emptySum = async (m: number, n: number) => {
    // Pooled buffers are not zeroed: dirty one of the output's size class first.
    b.release(b.fill(m * n, 7, 'float32'));
    const none = b.upload(new Float32Array(0), 'float32');
    const out = b.matmul(none, none, { batch: 1, m, n, k: 0, transA: false, transB: false });
    assert.equal(Array.from(await b.read(out, 'float32', m * n)), new Array(m * n).fill(0), `${m}×${n} with k = 0`);
    for (const t of [none, out]) b.release(t);
  };
  await emptySum(3, 5);
  await emptySum(4, 8);
  await compilesNothing(b.gpu, 'an empty sum of a new size', async () => {
    await emptySum(7, 9);
    await emptySum(12, 20);
  });
});

test('matmul at new sizes with the same transposes, load modes and k mod 4 compiles no new pipeline, and matches the CPU', async () => {
  const b = await webgpu();
  // Every variant of this device runs each shape (the tuner's pick aside), so each variant's kernel is checked.
  const variants = matmulVariants(b.gpu.subgroupSize);
  const check = async (s: MatmulShape, seed: number) => {
    for (const variant of variants) await assertOp(b, matmulCheck(s, variant), { seed, reference: cpu64 });
  };
  const shape = (batch: number, m: number, n: number, k: number, transA: boolean, transB: boolean): MatmulShape => ({
    batch,
    m,
    n,
    k,
    transA,
    transB,
  });
  // Scalar loads (odd sizes, k mod 4 = 1), and vec4 loads along k (A·Bᵀ with k a multiple of 4).
  await check(shape(1, 7, 13, 5, false, false), 1);
  await check(shape(2, 8, 12, 16, false, true), 2);
  await compilesNothing(b.gpu, 'matmuls of new sizes', async () => {
    await check(shape(3, 11, 5, 9, false, false), 3);
    await check(shape(1, 33, 70, 1, false, false), 4);
    await check(shape(1, 20, 36, 132, false, true), 5);
  });
  // k mod 4 is part of the kernel: a new remainder compiles.
  const before = b.gpu.counters.pipelines;
  await check(shape(1, 7, 13, 6, false, false), 6);
  assert.ok(b.gpu.counters.pipelines > before, 'k mod 4 = 2 after 1 compiles its own kernel');
});

/** An op's output: what it is, its storage, dtype and element count. */
interface Output {
  what: string;
  out: Storage;
  dtype?: DType;
  size: number;
}

/** Compares each WebGPU output with the CPU reference's output of the same op, and releases both. */
async function compareWithCpu(b: Backend, ours: Output[], reference: Output[], where: string): Promise<void> {
  for (let k = 0; k < ours.length; k++) {
    const { what, out, dtype = 'float32', size } = ours[k];
    assertClose(await b.read(out, dtype, size), await cpu.read(reference[k].out, dtype, size), `${what} ${where}`);
    b.release(out);
    cpu.release(reference[k].out);
  }
}

/** Max and average pooling, forward and backward, on [batch, channels, 7, 9] (2×2/2: the cell kernels; 3×3/2: overlapping windows), against the CPU reference. */
async function checkPools(b: Backend, batch: number, channels: number, seed: number): Promise<void> {
  const rng = new Random(seed);
  for (const [kernel, stride] of [
    [2, 2],
    [3, 2],
  ]) {
    const s = pool2dShape([batch, channels, 7, 9], kernel, stride, 'pool');
    const inputs = batch * channels * 7 * 9;
    const outputs = batch * channels * s.outHeight * s.outWidth;
    const x = Float32Array.from(randomArray(rng, inputs));
    const dy = Float32Array.from(randomArray(rng, outputs));
    const run = (backend: Backend): Output[] => {
      const [xs, dys] = [backend.upload(x, 'float32'), backend.upload(dy, 'float32')];
      const outs = [
        { what: 'maxPool2d', out: backend.maxPool2d(xs, s), size: outputs },
        { what: 'maxPool2dBackward', out: backend.maxPool2dBackward(dys, xs, s), size: inputs },
        { what: 'avgPool2d', out: backend.avgPool2d(xs, s), size: outputs },
        { what: 'avgPool2dBackward', out: backend.avgPool2dBackward(dys, s), size: inputs },
      ];
      backend.release(xs);
      backend.release(dys);
      return outs;
    };
    await compareWithCpu(b, run(b), run(cpu), `${kernel}×${kernel}/${stride} on [${batch}, ${channels}, 7, 9]`);
  }
}

test('pooling at new batch sizes and channel counts compiles no new pipeline', async () => {
  const b = await webgpu();
  // Pooled buffers are not zeroed and are bigger than the op: dirty them, so an output bound past
  // its elements (arrayLength too large) would show.
  b.release(b.fill(4096, 7, 'float32'));
  await checkPools(b, 2, 3, 1);
  await compilesNothing(b.gpu, 'pooling at a new batch size or channel count', async () => {
    await checkPools(b, 5, 3, 2);
    await checkPools(b, 1, 1, 3);
    await checkPools(b, 3, 4, 4);
  });
});

/** Log-softmax and the mean softmax cross-entropy with its gradient on [rows, 10], against the CPU reference. */
async function checkSoftmax(b: Backend, rows: number, seed: number): Promise<void> {
  const rng = new Random(seed);
  const cols = 10;
  const logits = Float32Array.from(randomArray(rng, rows * cols, -4, 4));
  const labels = Int32Array.from({ length: rows }, () => rng.int(cols));
  const run = (backend: Backend): Output[] => {
    const [x, y, dy] = [
      backend.upload(logits, 'float32'),
      backend.upload(labels, 'int32'),
      backend.upload(Float32Array.of(1.5), 'float32'),
    ];
    const outs = [
      { what: 'logSoftmax', out: backend.logSoftmax(x, rows, cols), size: rows * cols },
      { what: 'softmaxCrossEntropy', out: backend.softmaxCrossEntropy(x, y, rows, cols), size: 1 },
      {
        what: 'softmaxCrossEntropyGrad',
        out: backend.softmaxCrossEntropyGrad(x, y, dy, rows, cols),
        size: rows * cols,
      },
    ];
    for (const t of [x, y, dy]) backend.release(t);
    return outs;
  };
  await compareWithCpu(b, run(b), run(cpu), `on [${rows}, ${cols}]`);
}

test('softmax and cross-entropy at new batch sizes compile no new pipeline', async () => {
  const b = await webgpu();
  await checkSoftmax(b, 7, 1);
  await compilesNothing(b.gpu, 'softmax or cross-entropy at a new batch size', async () => {
    await checkSoftmax(b, 200, 2);
    await checkSoftmax(b, 1, 3);
    await checkSoftmax(b, 37, 4);
  });
});

/**
 * The batch-shaped ops of a training or attack step on [batch, 3, 16, 17] (a conv layer's bias add and
 * bias gradient, a per-example factor, per-row sums, argmax over classes, a permutation that keeps the
 * batch first), against the CPU reference. Every reduction here is long enough (272 and more per
 * output) to take the same kernel variant at every batch.
 */
async function checkBatchOps(b: Backend, batch: number, seed: number): Promise<void> {
  const rng = new Random(seed);
  const shape = [batch, 3, 16, 17];
  const per = 3 * 16 * 17;
  const n = batch * per;
  const x = Float32Array.from(randomArray(rng, n));
  const bias = Float32Array.from(randomArray(rng, 3));
  const factor = Float32Array.from(randomArray(rng, batch));
  const run = (backend: Backend): Output[] => {
    const [xs, bs, fs] = [
      backend.upload(x, 'float32'),
      backend.upload(bias, 'float32'),
      backend.upload(factor, 'float32'),
    ];
    const outs = [
      {
        what: 'bias add',
        out: backend.binary('add', xs, shape, bs, [1, 3, 1, 1], shape, 'float32'),
        dtype: 'float32' as DType,
        size: n,
      },
      {
        what: 'per-example factor',
        out: backend.binary('mul', fs, [batch, 1, 1, 1], xs, shape, shape, 'float32'),
        dtype: 'float32' as DType,
        size: n,
      },
      {
        what: 'bias gradient (sum over 0, 2, 3)',
        out: backend.reduce('sum', xs, shape, [0, 2, 3], 'float32'),
        dtype: 'float32' as DType,
        size: 3,
      },
      {
        what: 'per-row max',
        out: backend.reduce('max', xs, [batch, per], [1], 'float32'),
        dtype: 'float32' as DType,
        size: batch,
      },
      { what: 'argmax over axis 1', out: backend.argmax(xs, [batch, per], 1), dtype: 'int32' as DType, size: batch },
      {
        what: 'transpose keeping the batch first',
        out: backend.transpose(xs, shape, [0, 2, 3, 1], 'float32'),
        dtype: 'float32' as DType,
        size: n,
      },
    ];
    for (const t of [xs, bs, fs]) backend.release(t);
    return outs;
  };
  await compareWithCpu(b, run(b), run(cpu), `at batch ${batch}`);
}

test('broadcasts, reductions, argmax and transposes along the batch compile no new pipeline at a new batch size', async () => {
  const b = await webgpu();
  // Dirty the pool first, so an output bound past its elements would show.
  b.release(b.fill(65536, 7, 'float32'));
  await checkBatchOps(b, 4, 1);
  await compilesNothing(b.gpu, 'a batch-shaped op at a new batch size', async () => {
    // (Not batch 1: there a per-example factor is a single value, which the elementwise kernel takes.)
    await checkBatchOps(b, 9, 2);
    await checkBatchOps(b, 2, 3);
    await checkBatchOps(b, 64, 4);
  });
});

/**
 * Batch norm in training mode (the batch's statistics, then y) and the gradients dx, dγ, dβ of
 * sum(y ⊙ w) through the tape, on [batch, 3, height, width], against the CPU reference. On 5×7 the
 * statistics load one value at a time, one workgroup per channel; on 32×32 they load vec4s, and from
 * 4096 values per channel on (batch 4) split each channel into chunks that a second dispatch merges.
 */
async function checkBatchNorm(
  b: Backend,
  batch: number,
  [height, width]: [number, number],
  seed: number,
): Promise<void> {
  const rng = new Random(seed);
  const shape = [batch, 3, height, width];
  const n = batch * 3 * height * width;
  const x = Float32Array.from(randomArray(rng, n, -2, 3));
  const w = Float32Array.from(randomArray(rng, n));
  const gamma = Float32Array.from(randomArray(rng, 3, 0.5, 1.5));
  const beta = Float32Array.from(randomArray(rng, 3));
  const run = (backend: Backend): Output[] => {
    const outs = on(backend, () =>
      tidy(() => {
        const [xt, wt, gt, bt] = [
          put(backend, x, shape),
          put(backend, w, shape),
          put(backend, gamma, [3]),
          put(backend, beta, [3]),
        ];
        const tape = new Tape();
        let forward!: { y: Tensor; mean: Tensor; variance: Tensor };
        const loss = tape.record(() => {
          forward = batchNormTrain(xt, gt, bt);
          return sum(mul(forward.y, wt));
        });
        const [dx, dGamma, dBeta] = tape.gradient(loss, [xt, gt, bt]);
        return { ...forward, dx, dGamma, dBeta };
      }),
    );
    // compareWithCpu releases each output's storage (these tensors are not used again).
    return Object.entries(outs).map(([what, t]) => ({ what, out: t.storage, size: t.size }));
  };
  await compareWithCpu(b, run(b), run(cpu), `of batch norm on [${shape}]`);
}

test('batch norm (training-mode statistics and y, and its gradients) at new batch sizes compiles no new pipeline', async () => {
  const b = await webgpu();
  // Dirty the pool first, so an output bound past its elements (or a stale partial result) would show.
  b.release(b.fill(65536, 7, 'float32'));
  await checkBatchNorm(b, 5, [5, 7], 1);
  await checkBatchNorm(b, 5, [32, 32], 2);
  await compilesNothing(b.gpu, 'batch norm at a new batch size', async () => {
    // Batch 3 on 32×32 has 3072 values per channel: one chunk each, where batch 5 and 7 have two.
    await checkBatchNorm(b, 7, [5, 7], 3);
    await checkBatchNorm(b, 7, [32, 32], 4);
    await checkBatchNorm(b, 3, [5, 7], 5);
    await checkBatchNorm(b, 3, [32, 32], 6);
  });
});

test('a program key that names two different WGSL sources is an error (with checkProgramKeys, as in tests)', async () => {
  const { gpu } = await webgpu();
  assert.ok(gpu.checkProgramKeys, 'tests run with program keys checked');
  const source = (value: string) => () =>
    `@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n@compute @workgroup_size(1) fn main() { out[0] = ${value}; }`;
  const first = gpu.program('key_check', 'k', source('1.0'));
  assert.is(gpu.program('key_check', 'k', source('1.0')), first);
  assert.throws(() => gpu.program('key_check', 'k', source('2.0')), /key 'k' names two different WGSL sources/);
});

test.run();
