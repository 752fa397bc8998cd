// Compiles per program: kernels whose scalars (ε, step sizes, learning rates, fill values, affine
// scale/shift, clamp bounds, batch-norm eps) come in uniforms and whose elementwise sizes come from
// arrayLength compile one pipeline, whatever the values and sizes; and a program key that misses
// something its WGSL depends on is caught.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Backend, type DType, Random, type Storage } from '../engine/index.js';
import { assertClose, cpu, randomArray, webgpu } from './helpers.js';

/** Every op with a scalar operand, at n elements (odd n: one value at a time; n a multiple of 4: vec4s), with scalar s. */
function scalarOps(b: Backend, n: number, s: number, rng: Random): { what: string; out: Storage; dtype: DType; size: number }[] {
  const up = (values: ArrayLike<number>, dtype: DType = 'float32') => b.upload(dtype === 'int32' ? Int32Array.from(values) : Float32Array.from(values), dtype);
  const x = up(randomArray(rng, n, -2, 2));
  const y = up(randomArray(rng, n, -2, 2));
  const mask = up(Array.from({ length: n }, (_, i) => i % 3 === 0 ? 1 : 0));
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
    { what: 'mul by a single value', out: b.binary('mul', x, [n], up([s]), [1], [n], 'float32'), dtype: 'float32' as DType, size: n },
    { what: 'where', out: b.where(mask, x, y, n), dtype: 'float32' as DType, size: n },
    { what: 'cast', out: b.cast(x, n, 'float32', 'int32'), dtype: 'int32' as DType, size: n },
    { what: 'sgd param (lr)', out: param, dtype: 'float32' as DType, size: n },
    { what: 'sgd momentum', out: momentum, dtype: 'float32' as DType, size: n },
    { what: 'batch norm (eps)', out: b.batchNormApply(bnX, mean, variance, gamma, beta, 2, 3, 5, Math.abs(s) / 100), dtype: 'float32' as DType, size: 30 },
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
    assertClose(await gpu.read(out, dtype, size), await cpu.read(reference[k].out, dtype, size), `${what} (n ${n}, scalar ${s})`);
    gpu.release(out);
  }
}

test('new scalars (ε, lr, fill value, affine, clamp bounds, batch-norm eps) and new sizes compile no new pipeline', async () => {
  const { gpu } = await webgpu();
  // One value at a time, four at a time, and a single element (whose operands all read element 0).
  await checkScalarOps(37, 0.5, 1);
  await checkScalarOps(44, 0.25, 2);
  await checkScalarOps(1, 2, 3);
  const compiled = gpu.counters.pipelines;
  await checkScalarOps(53, -0.125, 4);
  await checkScalarOps(1028, 3, 5);
  await checkScalarOps(1, 8 / 255, 6);
  assert.is(gpu.counters.pipelines, compiled, 'pipelines compiled for new scalar values or sizes');
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
  const compiled = b.gpu.counters.pipelines;
  await emptySum(7, 9);
  await emptySum(12, 20);
  assert.is(b.gpu.counters.pipelines, compiled, 'pipelines compiled for an empty sum of a new size');
});

test('a program key that names two different WGSL sources is an error (with checkProgramKeys, as in tests)', async () => {
  const { gpu } = await webgpu();
  assert.ok(gpu.checkProgramKeys, 'tests run with program keys checked');
  const source = (value: string) => () => `@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n@compute @workgroup_size(1) fn main() { out[0] = ${value}; }`;
  const first = gpu.program('key_check', 'k', source('1.0'));
  assert.is(gpu.program('key_check', 'k', source('1.0')), first);
  assert.throws(() => gpu.program('key_check', 'k', source('2.0')), /key 'k' names two different WGSL sources/);
});

test.run();
