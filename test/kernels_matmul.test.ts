// The matmul kernel: WebGPU against the float64 CPU reference on random inputs for square, odd and
// batched shapes in all four transpose combinations (the register-blocked kernel has separate load
// paths per case and edge handling for sizes that are not multiples of its tile), plus
// finite-difference checks of the op's VJP and the VJP run on WebGPU against the CPU.

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { type Backend, type MatmulShape, Random, Tape, Tensor, matmul, mul, sum, tidy } from '../engine/index.js';
import type { OpCheck } from '../engine/reference/index.js';
import type { GpuBuffer } from '../engine/webgpu/gpu.js';
import { WebGPUBackend } from '../kernels/index.js';
import { DEFAULT_CONFIG, type MatmulConfig, matmulWith, subgroupConfig } from '../kernels/matmul.js';
import { assertClose, assertOp, cpu64, gradCheck, maxAbs, put, randomArray, webgpu } from './helpers.js';

/** [batch, m, n, k], and whether to run all four transpose combinations or only the plain one. Each
 *  shape and combination compiles its own kernels (about a second each on a cold lavapipe cache), so
 *  the combinations run on the odd, batched and edge-heavy shapes, where the load paths differ. */
const SHAPES: [number, number, number, number, 'all' | 'plain'][] = [
  [1, 1, 1, 1, 'plain'],
  [1, 7, 13, 5, 'all'],
  [3, 5, 11, 7, 'all'],
  [1, 33, 65, 17, 'all'],
  [1, 128, 96, 200, 'plain'],
  [2, 4, 8, 16, 'plain'],
  [1, 1, 64, 3, 'plain'],
  [1, 70, 1, 9, 'plain'],
  [1, 9, 10, 1, 'plain'],
  [4, 17, 3, 33, 'all'],
  [1, 64, 64, 64, 'plain'],
];
const COMBOS: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

/** The backend's matmul as a check for the reference harness; on WebGPU, optionally one kernel configuration of it. */
function matmulCheck(s: MatmulShape, name: string, config?: { label: string; config: MatmulConfig }): OpCheck {
  return {
    name: `matmul ${name}${config ? ` (${config.label} kernel)` : ''}`,
    inputs: [{ shape: s.transA ? [s.batch, s.k, s.m] : [s.batch, s.m, s.k] }, { shape: s.transB ? [s.batch, s.n, s.k] : [s.batch, s.k, s.n] }],
    run: ([a, b], backend) => {
      const out = config && backend instanceof WebGPUBackend ? matmulWith(backend.gpu, a.storage as GpuBuffer, b.storage as GpuBuffer, s, config.config) : backend.matmul(a.storage, b.storage, s);
      return Tensor.fromStorage(backend, out, [s.batch, s.m, s.n], 'float32');
    },
    // Float32 sums of k products of values in [-1, 1]: the error grows with k.
    rtol: 1e-4,
    atol: 1e-6 * Math.max(1, s.k),
  };
}

for (const [batch, m, n, k, combos] of SHAPES) {
  for (const [transA, transB] of combos === 'all' ? COMBOS : COMBOS.slice(0, 1)) {
    const name = `${batch}x${m}x${n}x${k}${transA ? ' Aᵀ' : ''}${transB ? ' Bᵀ' : ''}`;
    test(`matmul: WebGPU matches CPU, batch·m·n·k = ${name}`, async () => {
      const gpu = await webgpu();
      const seed = batch * 1000003 + m * 10007 + n * 101 + k + (transA ? 7 : 0) + (transB ? 13 : 0);
      const s: MatmulShape = { batch, m, n, k, transA, transB };
      await assertOp(gpu, matmulCheck(s, name), { seed, reference: cpu64 });
      // Both kernel variants, whichever the device picks: plain, and sharing A across a subgroup.
      await assertOp(gpu, matmulCheck(s, name, { label: 'plain', config: DEFAULT_CONFIG }), { seed, reference: cpu64 });
      if (gpu.gpu.subgroupSize) {
        await assertOp(gpu, matmulCheck(s, name, { label: 'subgroup', config: subgroupConfig(gpu.gpu.subgroupSize) }), { seed, reference: cpu64 });
      }
    });
  }
}

test('matmul: empty dimension k = 0 gives zeros, m = 0 gives an empty result', async () => {
  const gpu = await webgpu();
  const s: MatmulShape = { batch: 2, m: 3, n: 4, k: 0, transA: false, transB: false };
  const a = gpu.upload(new Float32Array(0), 'float32');
  const b = gpu.upload(new Float32Array(0), 'float32');
  const out = gpu.matmul(a, b, s);
  const r = await gpu.read(out, 'float32', 24);
  assert.equal(Array.from(r), new Array(24).fill(0));
  for (const t of [a, b, out]) gpu.release(t);
});

test('matmul: repeated calls reuse one pipeline per shape', async () => {
  const gpu = await webgpu();
  const rng = new Random(5);
  const s: MatmulShape = { batch: 1, m: 19, n: 23, k: 29, transA: false, transB: true };
  await assertOp(gpu, matmulCheck(s, '19x23x29 Bᵀ'), { seed: rng.int(1000) });
  const before = gpu.gpu.counters.pipelines;
  await assertOp(gpu, matmulCheck(s, '19x23x29 Bᵀ'), { seed: rng.int(1000) });
  assert.is(gpu.gpu.counters.pipelines, before);
});

// ---- Gradients ----------------------------------------------------------------------------------

/** sum(matmul(a, b) ⊙ w): a scalar whose gradient reaches both operands through the VJP. */
const loss = (transA: boolean, transB: boolean) => (a: Parameters<typeof matmul>[0], b: Parameters<typeof matmul>[0], w: Parameters<typeof matmul>[0]) =>
  sum(mul(matmul(a, b, { transA, transB }), w));

const GRAD_CASES: { batch: number; m: number; n: number; k: number; transA: boolean; transB: boolean }[] = [
  { batch: 0, m: 3, n: 4, k: 5, transA: false, transB: false },
  { batch: 0, m: 4, n: 3, k: 2, transA: true, transB: false },
  { batch: 0, m: 2, n: 5, k: 3, transA: false, transB: true },
  { batch: 2, m: 3, n: 2, k: 4, transA: true, transB: true },
  { batch: 2, m: 3, n: 4, k: 2, transA: false, transB: false },
];

function operandShapes(c: (typeof GRAD_CASES)[number]) {
  const pre = c.batch ? [c.batch] : [];
  return {
    a: [...pre, ...(c.transA ? [c.k, c.m] : [c.m, c.k])],
    b: [...pre, ...(c.transB ? [c.n, c.k] : [c.k, c.n])],
    out: [...pre, c.m, c.n],
  };
}
const count = (shape: number[]) => shape.reduce((x, y) => x * y, 1);

for (const c of GRAD_CASES) {
  const name = `${c.batch ? `batch ${c.batch}, ` : ''}${c.m}x${c.n}x${c.k}${c.transA ? ' Aᵀ' : ''}${c.transB ? ' Bᵀ' : ''}`;
  test(`matmul VJP: finite differences, ${name}`, async () => {
    const rng = new Random(c.m * 31 + c.n * 7 + c.k);
    const sh = operandShapes(c);
    await gradCheck(
      loss(c.transA, c.transB),
      [
        { values: randomArray(rng, count(sh.a)), shape: sh.a },
        { values: randomArray(rng, count(sh.b)), shape: sh.b },
        { values: randomArray(rng, count(sh.out)), shape: sh.out, differentiable: false },
      ],
      `matmul ${name}`,
    );
  });

  test(`matmul VJP: WebGPU gradients match CPU, ${name}`, async () => {
    const gpu = await webgpu();
    const rng = new Random(c.m * 17 + c.n * 5 + c.k);
    const sh = operandShapes(c);
    const values = [sh.a, sh.b, sh.out].map((shape) => Float32Array.from(randomArray(rng, count(shape))));
    const grads = async (b: Backend) => {
      const [ga, gb] = tidy(() => {
        const [a, bt, w] = values.map((v, i) => put(b, v, [sh.a, sh.b, sh.out][i]));
        const tape = new Tape();
        const out = tape.record(() => loss(c.transA, c.transB)(a, bt, w));
        return tape.gradient(out, [a, bt]);
      });
      const r = [Float64Array.from(await ga.data()), Float64Array.from(await gb.data())];
      ga.dispose();
      gb.dispose();
      return r;
    };
    const [ea, eb] = await grads(cpu64);
    const [aa, ab] = await grads(gpu);
    assertClose(aa, ea, `dA ${name}`, 1e-4, 1e-5 * Math.max(1, maxAbs(ea)));
    assertClose(ab, eb, `dB ${name}`, 1e-4, 1e-5 * Math.max(1, maxAbs(eb)));
  });
}

test.run();
