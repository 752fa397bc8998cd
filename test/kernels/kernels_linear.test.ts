// The linear layer on WebGPU: a matmul kernel with an epilogue (each sum starts at its column's bias,
// then a ReLU at the store), against the float64 CPU reference on random inputs of odd sizes, with and
// without the ReLU and the bias, in every matmul kernel variant; NaN through its ReLU; its VJP on
// WebGPU against the CPU; and the chunked path under a lowered binding limit, where the bias binds
// whole in every chunk. The checks are defined in kernels/checks/matmul_checks.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Backend, type LinearShape, type Tensor, linear } from '../../engine/index.js';
import {
  type LinearEpilogue,
  linearCheck,
  linearName,
  linearSeed,
  linearVjpCheck,
} from '../../kernels/checks/matmul_checks.js';
import { matmulWith } from '../../kernels/matmul.js';
import { matmulVariants } from '../../kernels/matmul_plan.js';
import type { GpuBuffer } from '../../kernels/webgpu/gpu.js';
import { assertOp, cpu, cpu64, put, webgpu } from '../helpers.js';

/** rows × in → out: 1, 7 and 130 rows (past two 64-row tiles); 3 and 29 in features (scalar loads, k tails
 *  of 3 and 1) and 1024 (vec4 loads: SmallCNN's fc1); 1, 10, 13 and 200 out features (partial groups of 4
 *  columns, and past a 64-column tile). */
const SHAPES: [number, number, number][] = [
  [1, 3, 1],
  [7, 29, 10],
  [130, 1024, 200],
  [1, 1024, 13],
  [130, 29, 1],
  [7, 3, 200],
  [130, 3, 13],
  [7, 1024, 10],
];

const shapeOf = ([rows, inFeatures, outFeatures]: [number, number, number]): LinearShape => ({
  rows,
  inFeatures,
  outFeatures,
});

/** Runs a linear check on the backend's own path (the tuner's or the default variant), then on every variant. */
async function allVariants(s: LinearShape, e: LinearEpilogue): Promise<void> {
  const gpu = await webgpu();
  const seed = linearSeed(s, e);
  await assertOp(gpu, linearCheck(s, e), { seed, reference: cpu64 });
  for (const variant of matmulVariants(gpu.gpu.subgroupSize))
    await assertOp(gpu, linearCheck(s, e, variant), { seed, reference: cpu64 });
}

for (const shape of SHAPES) {
  for (const relu of [false, true]) {
    const s = shapeOf(shape);
    const e = { bias: true, relu };
    test(`linear: WebGPU matches CPU in every matmul variant, ${linearName(s, e)}`, () => allVariants(s, e));
  }
}

test('linear without a bias, with and without ReLU, in every matmul variant', async () => {
  for (const relu of [false, true]) await allVariants(shapeOf([7, 29, 13]), { bias: false, relu });
});

test('linear: its ReLU passes NaN through and zeroes negatives, as the CPU reference', async () => {
  const gpu = await webgpu();
  // Row 0 holds a NaN; row 1 gives x·wᵀ + bias = [-3, 2]: the ReLU gives [0, 2].
  const x = new Float32Array([Number.NaN, 1, 1, 1]);
  const w = new Float32Array([-1, -1, 1, 1]);
  const bias = new Float32Array([-1, 0]);
  const run = async (backend: Backend) => {
    const out = linear(put(backend, x, [2, 2]), put(backend, w, [2, 2]), put(backend, bias, [2]), { relu: true });
    const values = Array.from(await out.data());
    out.dispose();
    return values;
  };
  const [onGpu, onCpu] = [await run(gpu), await run(cpu)];
  assert.equal(onCpu.slice(2), [0, 2]);
  assert.ok(onCpu.slice(0, 2).every(Number.isNaN), `CPU: ${onCpu}`);
  assert.equal(onGpu.slice(2), [0, 2]);
  assert.ok(onGpu.slice(0, 2).every(Number.isNaN), `WebGPU: ${onGpu}`);
});

for (const [shape, e] of [
  [[7, 29, 13], { bias: true, relu: true }],
  [[130, 33, 10], { bias: true, relu: false }],
  [[5, 8, 3], { bias: false, relu: true }],
] as [[number, number, number], LinearEpilogue][]) {
  const s = shapeOf(shape);
  test(`linear VJP: WebGPU gradients match CPU, ${linearName(s, e)}`, async () => {
    await assertOp(await webgpu(), linearVjpCheck(s, e), { seed: linearSeed(s, e), reference: cpu64 });
  });
}

test('linear in chunks of rows under a 4 KiB binding limit: aligned windows, and rows copied through scratch', async () => {
  const LIMIT = 4096;
  const gpu = await webgpu();
  gpu.gpu.setBindingLimitForTesting(LIMIT);
  try {
    // x rows of 28 bytes (windows 64 rows apart stay aligned); x rows of 1200 bytes (16 rows would be
    // the aligned unit, over the limit: one row a chunk, through scratch copies). x is over the limit,
    // w within it (it binds whole in every chunk, as B does in a matmul).
    for (const [shape, e] of [
      [[301, 7, 5], { bias: true, relu: true }],
      [[13, 300, 3], { bias: true, relu: false }],
    ] as [[number, number, number], LinearEpilogue][]) {
      const s = shapeOf(shape);
      assert.ok(s.rows * s.inFeatures * 4 > LIMIT, `${linearName(s, e)}: x is over the limit`);
      const before = gpu.gpu.counters.dispatches;
      await assertOp(gpu, linearCheck(s, e), { seed: linearSeed(s, e), reference: cpu64 });
      assert.ok(gpu.gpu.counters.dispatches - before > 1, `${linearName(s, e)}: ran in chunks`);
    }
  } finally {
    gpu.gpu.setBindingLimitForTesting(null);
  }
});

const buf = (t: Tensor) => t.storage as GpuBuffer;

test('a matmul epilogue is refused where the sum may be split along k (one matrix Aᵀ·B)', async () => {
  const gpu = await webgpu();
  const a = put(gpu, new Float32Array(6), [3, 2]);
  const b = put(gpu, new Float32Array(6), [3, 2]);
  try {
    assert.throws(
      () =>
        matmulWith(gpu.gpu, buf(a), buf(b), { batch: 1, m: 2, n: 2, k: 3, transA: true, transB: false }, null, {
          bias: null,
          relu: true,
        }),
      /no bias or ReLU epilogue on one matrix Aᵀ·B/,
    );
  } finally {
    a.dispose();
    b.dispose();
  }
});

test.run();
