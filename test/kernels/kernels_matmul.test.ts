// The matmul kernel: WebGPU against the float64 CPU reference on random inputs for square, odd and
// batched shapes in all four transpose combinations (the register-blocked kernel has separate load
// paths per case and edge handling for sizes that are not multiples of its tile), plus
// finite-difference checks of the op's VJP and the VJP run on WebGPU against the CPU. The checks are
// defined in kernels/checks/matmul_checks.ts, where a few of them also run in Chromium.

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { type MatmulShape, Random } from '../../engine/index.js';
import { matmulTunable } from '../../kernels/matmul.js';
import { matmulVariants } from '../../kernels/matmul_plan.js';
import { Tuner, setTuner } from '../../kernels/tune.js';
import {
  GRAD_CASES,
  TRANSPOSES,
  gradName,
  gradSeed,
  matmulCheck,
  matmulLoss,
  matmulName,
  matmulSeed,
  matmulVjpCheck,
  operandShapes,
} from '../../kernels/checks/matmul_checks.js';
import { assertOp, cpu64, gradCheck, randomArray, webgpu } from '../helpers.js';

/** [batch, m, n, k], whether to run all four transpose combinations or only the plain one, and whether
 *  the workgroup-memory variants run too. Each shape, combination and variant compiles its own kernel
 *  (about a second each on a cold lavapipe cache), so the combinations run on the odd, batched and
 *  edge-heavy shapes, where the load paths differ, and the tiled variants on those that cross their
 *  tiles' edges (in m, n and k) rather than on every shape. */
const SHAPES: [number, number, number, number, 'all' | 'plain', 'tiled' | 'register'][] = [
  [1, 1, 1, 1, 'plain', 'register'],
  [1, 7, 13, 5, 'all', 'register'],
  [3, 5, 11, 7, 'all', 'register'],
  [1, 33, 65, 17, 'all', 'tiled'],
  [1, 128, 96, 200, 'plain', 'tiled'],
  [2, 4, 8, 16, 'plain', 'register'],
  [1, 1, 64, 3, 'plain', 'register'],
  [1, 70, 1, 9, 'plain', 'tiled'],
  [1, 9, 10, 1, 'plain', 'register'],
  [4, 17, 3, 33, 'all', 'tiled'],
  [1, 64, 64, 64, 'plain', 'register'],
];

for (const [batch, m, n, k, combos, variants] of SHAPES) {
  for (const [transA, transB] of combos === 'all' ? TRANSPOSES : TRANSPOSES.slice(0, 1)) {
    const s: MatmulShape = { batch, m, n, k, transA, transB };
    test(`matmul: WebGPU matches CPU, batch·m·n·k = ${matmulName(s)}`, async () => {
      const gpu = await webgpu();
      const seed = matmulSeed(s);
      await assertOp(gpu, matmulCheck(s), { seed, reference: cpu64 });
      // Every kernel variant the device can run, whichever the tuner would pick: plain, sharing A
      // across a subgroup, and (on the shapes above) the two workgroup-memory tilings.
      for (const variant of matmulVariants(gpu.gpu.subgroupSize)) {
        if (variant.startsWith('tiled') && variants !== 'tiled') continue;
        await assertOp(gpu, matmulCheck(s, variant), { seed, reference: cpu64 });
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
  await assertOp(gpu, matmulCheck(s), { seed: rng.int(1000) });
  const before = gpu.gpu.counters.pipelines;
  await assertOp(gpu, matmulCheck(s), { seed: rng.int(1000) });
  assert.is(gpu.gpu.counters.pipelines, before);
});

test('matmul tuning at first use: the default runs, the next readback times every variant, later calls run the fastest', async () => {
  const gpu = await webgpu();
  // A shape whose variants the tests above compiled; a tuner that measures at first use and keeps choices in memory.
  const s: MatmulShape = { batch: 1, m: 33, n: 65, k: 17, transA: true, transB: false };
  const tuner = new Tuner(gpu.gpu, 'test', 'on');
  const before = setTuner(gpu.gpu, tuner);
  try {
    await assertOp(gpu, matmulCheck(s), { seed: matmulSeed(s), reference: cpu64 });
    const choice = tuner.choiceFor(matmulTunable, s);
    assert.ok(choice, 'tuned at the readback');
    assert.equal(Object.keys(choice.ms), matmulVariants(gpu.gpu.subgroupSize));
    for (const ms of Object.values(choice.ms)) assert.ok(ms > 0 && Number.isFinite(ms));
    assert.is(
      choice.variant,
      Object.keys(choice.ms).reduce((a, b) => (choice.ms[b] < choice.ms[a] ? b : a)),
    );
    assert.not.ok(tuner.hasPending);
    assert.is(tuner.choose(matmulTunable, s), choice.variant);
    await assertOp(gpu, matmulCheck(s), { seed: matmulSeed(s) + 1, reference: cpu64 });
  } finally {
    setTuner(gpu.gpu, before);
  }
});

// ---- Gradients ----------------------------------------------------------------------------------

const count = (shape: number[]) => shape.reduce((x, y) => x * y, 1);

for (const c of GRAD_CASES) {
  const name = gradName(c);
  test(`matmul VJP: finite differences, ${name}`, async () => {
    const rng = new Random(c.m * 31 + c.n * 7 + c.k);
    const sh = operandShapes(c);
    await gradCheck(
      matmulLoss(c.transA, c.transB),
      [
        { values: randomArray(rng, count(sh.a)), shape: sh.a },
        { values: randomArray(rng, count(sh.b)), shape: sh.b },
        { values: randomArray(rng, count(sh.out)), shape: sh.out, differentiable: false },
      ],
      `matmul ${name}`,
    );
  });

  test(`matmul VJP: WebGPU gradients match CPU, ${name}`, async () => {
    await assertOp(await webgpu(), matmulVjpCheck(c), { seed: gradSeed(c), reference: cpu64 });
  });
}

test.run();
