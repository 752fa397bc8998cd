// Every WebGPU kernel of the core engine against the CPU reference, on random inputs with odd shapes
// (7x13, 1x1, 3x5x11, [2,1,9], 0-d) and broadcasting; plus creation ops, dtypes, Random determinism
// and the error messages users see.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BINARY_OPS,
  type Backend,
  binary,
  binaryRow,
  Random,
  type Tensor,
  type TypedArray,
  UNARY_OPS,
  unary,
  add,
  addScalar,
  affine,
  argmax,
  clamp,
  div,
  eq,
  exp,
  full,
  fullLike,
  ge,
  gt,
  le,
  logSoftmax,
  lt,
  max,
  maximum,
  mean,
  min,
  mul,
  ne,
  ones,
  rand,
  randn,
  relu,
  reshape,
  scalar,
  setBackend,
  sign,
  softmax,
  softmaxCrossEntropy,
  square,
  step,
  sum,
  Tape,
  tensor,
  tidy,
  transpose,
  where,
  zeros,
  zerosLike,
} from '../../engine/index.js';
import { assertClose, assertOp, cpu, on, put, randomArray, webgpu } from '../helpers.js';

// Sizes that are multiples of 4 run the vec4 kernels (52: a partial last invocation; 1,344: several
// workgroups); the others run the one-element-per-invocation kernels.
const SHAPES: number[][] = [[7, 13], [1, 1], [3, 5, 11], [2, 1, 9], [], [4, 13], [3, 7, 64]];
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

interface Input {
  values: Float64Array | Int32Array;
  shape: number[];
}

interface Result {
  data: TypedArray;
  shape: number[];
  dtype: string;
}

/** Runs fn on a backend over uploaded copies of the inputs; returns the output's values, shape, dtype. */
async function runOn(backend: Backend, fn: (...ts: Tensor[]) => Tensor, inputs: Input[]): Promise<Result> {
  const out = tidy(() => fn(...inputs.map((inp) => put(backend, inp.values, inp.shape))));
  const data = await out.data();
  const result = { data, shape: [...out.shape], dtype: out.dtype };
  out.dispose();
  return result;
}

/** Runs fn on the CPU reference and on WebGPU through the reference harness (shape, dtype and values agree). */
async function compare(
  what: string,
  fn: (...ts: Tensor[]) => Tensor,
  inputs: Input[],
  rtol = 1e-5,
  atol = 1e-6,
): Promise<Result> {
  const report = await assertOp(
    await webgpu(),
    {
      name: what,
      inputs: inputs.map((inp) => ({
        shape: inp.shape,
        values: inp.values,
        dtype: inp.values instanceof Int32Array ? 'int32' : 'float32',
      })),
      run: (ts) => fn(...ts),
      rtol,
      atol,
    },
    { reference: cpu },
  );
  const out = report.outputs[0];
  assert.is(report.actual[0] instanceof Int32Array, report.expected[0] instanceof Int32Array, `${what}: storage type`);
  return { data: report.expected[0], shape: out.shape, dtype: out.dtype };
}

const rng = new Random(1234);
const floats = (shape: number[], lo = -2, hi = 2): Input => ({ values: randomArray(rng, size(shape), lo, hi), shape });
/** Values on a coarse grid (multiples of 0.25) so comparisons and max/min see ties. */
const gridded = (shape: number[]): Input => ({
  values: randomArray(rng, size(shape), -1, 1).map((v) => Math.round(v * 4) / 4),
  shape,
});
const ints = (shape: number[], lo = -9, hi = 9): Input => ({
  values: Int32Array.from({ length: size(shape) }, () => lo + rng.int(hi - lo + 1)),
  shape,
});
/** Away from zero (|x| in [0.5, 2]) with random sign: denominators, reciprocals. */
const nonZero = (shape: number[]): Input => ({
  values: randomArray(rng, size(shape), 0.5, 2).map((v) => (rng.next() < 0.5 ? -v : v)),
  shape,
});

// ---------------------------------------------------------------------------------------------
// Elementwise

test('unary: every op matches the CPU reference on odd shapes and a 0-d scalar', async () => {
  for (const op of UNARY_OPS) {
    for (const shape of SHAPES) {
      let input: Input;
      if (op === 'log' || op === 'sqrt') input = floats(shape, 0.05, 5);
      else if (op === 'reciprocal') input = nonZero(shape);
      else {
        input = floats(shape, -3, 3);
        // Exact zeros: sign(0) = 0, step(0) = 0, relu(0) = 0, abs(0) = 0.
        if (input.values.length > 2) input.values[1] = 0;
      }
      await compare(`${op} ${JSON.stringify(shape)}`, (x) => unary(op, x), [input]);
    }
  }
});

test('unary: hand-checked values of the reference itself', async () => {
  const x: Input = { values: Float64Array.from([-2, -0, 0, 0.5, 4]), shape: [5] };
  assert.equal(Array.from((await runOn(cpu, sign, [x])).data), [-1, 0, 0, 1, 1]);
  assert.equal(Array.from((await runOn(cpu, step, [x])).data), [0, 0, 0, 1, 1]);
  assert.equal(Array.from((await runOn(cpu, relu, [x])).data), [0, 0, 0, 0.5, 4]);
  assert.equal(Array.from((await runOn(cpu, square, [x])).data), [4, 0, 0, 0.25, 16]);
  const gpu = await webgpu();
  assert.equal(Array.from((await runOn(gpu, sign, [x])).data), [-1, 0, 0, 1, 1]);
  assert.equal(Array.from((await runOn(gpu, step, [x])).data), [0, 0, 0, 1, 1]);
});

test('affine and clamp match the CPU reference', async () => {
  for (const shape of SHAPES) {
    const x = floats(shape, -3, 3);
    await compare(`affine ${JSON.stringify(shape)}`, (t) => affine(t, 2.5, -0.75), [x]);
    await compare(`affine(-1/3, 1e-3) ${JSON.stringify(shape)}`, (t) => affine(t, -1 / 3, 1e-3), [x]);
    await compare(`addScalar ${JSON.stringify(shape)}`, (t) => addScalar(t, 7), [x]);
    await compare(`clamp ${JSON.stringify(shape)}`, (t) => clamp(t, -0.5, 0.3), [x]);
    await compare(`clamp(lo = hi) ${JSON.stringify(shape)}`, (t) => clamp(t, 1, 1), [x]);
  }
  const x: Input = { values: Float64Array.from([-5, -0.5, 0, 0.3, 9]), shape: [5] };
  const r = await compare('clamp hand values', (t) => clamp(t, -0.5, 0.3), [x]);
  assertClose(r.data, [-0.5, -0.5, 0, 0.3, 0.3], 'clamp hand values', 0, 1e-7);
  assert.throws(() => on(cpu, () => clamp(scalar(1), 2, 1)), /lower bound 2 is above upper bound 1/);
});

const BROADCAST_PAIRS: [number[], number[]][] = [
  [
    [7, 13],
    [7, 13],
  ],
  [[7, 13], [13]],
  [[13], [7, 13]],
  [
    [3, 1, 11],
    [5, 1],
  ],
  [[1], [4, 4]],
  [
    [3, 5, 11],
    [3, 1, 1],
  ],
  [
    [3, 1, 1],
    [3, 5, 11],
  ],
  [[], [2, 1, 9]],
  [[2, 1, 9], []],
  [
    [1, 1],
    [1, 1],
  ],
  [[], []],
  // vec4 kernels: same shapes, or a single value against a multiple of 4 (broadcasting otherwise falls
  // back to the per-element kernel, as in [4, 13] with [13]).
  [
    [4, 13],
    [4, 13],
  ],
  [[3, 7, 64], []],
  [[1], [3, 7, 64]],
  [[4, 13], [13]],
];

test('binary: every op (arithmetic and comparisons) with broadcasting matches the CPU reference', async () => {
  for (const op of BINARY_OPS) {
    for (const [sa, sb] of BROADCAST_PAIRS) {
      const a = gridded(sa);
      const b = op === 'div' ? nonZero(sb) : gridded(sb);
      const r = await compare(`${op} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`, (x, y) => binary(op, x, y), [a, b]);
      const expectedShape =
        sa.length >= sb.length
          ? sa.map((d, i) => Math.max(d, sb[i - (sa.length - sb.length)] ?? 1))
          : sb.map((d, i) => Math.max(d, sa[i - (sb.length - sa.length)] ?? 1));
      assert.equal(r.shape, expectedShape, `${op}: broadcast shape`);
      assert.is(r.dtype, 'float32');
    }
  }
});

test('binary: broadcast results are hand-checked on a small case', async () => {
  const gpu = await webgpu();
  const a: Input = { values: Float64Array.from([1, 2, 3]), shape: [3, 1] };
  const b: Input = { values: Float64Array.from([10, 20]), shape: [2] };
  for (const backend of [cpu, gpu]) {
    const r = await runOn(backend, add, [a, b]);
    assert.equal(r.shape, [3, 2], backend.name);
    assert.equal(Array.from(r.data), [11, 21, 12, 22, 13, 23], backend.name);
    const c = await runOn(backend, ge, [a, { values: Float64Array.from([2]), shape: [] }]);
    assert.equal(Array.from(c.data), [0, 1, 1], backend.name);
  }
});

test('binary: int32 arithmetic and comparisons (comparisons return float32)', async () => {
  for (const op of BINARY_OPS) {
    for (const [sa, sb] of [
      [[7, 13], [13]],
      [
        [3, 1, 11],
        [5, 1],
      ],
      [[4], [4]],
      [[], [2, 1, 9]],
      [
        [4, 13],
        [4, 13],
      ],
      [[3, 7, 64], []],
    ] as [number[], number[]][]) {
      const a = ints(sa);
      // Denominators without zero: ±1..9. Integer division truncates toward zero on both backends.
      const b =
        op === 'div'
          ? { values: ints(sb, 1, 9).values.map((v) => (rng.next() < 0.5 ? -v : v)), shape: sb }
          : ints(sb, -4, 4);
      const r = await compare(
        `int32 ${op} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`,
        (x, y) => binary(op, x, y),
        [a, b],
        0,
        0,
      );
      const comparison = binaryRow(op).comparison === true;
      assert.is(r.dtype, comparison ? 'float32' : 'int32', `int32 ${op} dtype`);
    }
  }
  const r = await compare(
    'int32 div truncates',
    div,
    [
      { values: Int32Array.from([7, -7, 7, -7, 1]), shape: [5] },
      { values: Int32Array.from([2, 2, -2, -2, 3]), shape: [5] },
    ],
    0,
    0,
  );
  assert.equal(Array.from(r.data), [3, -3, -3, 3, 0]);
});

test('where: float mask with broadcasting, and int32 branches', async () => {
  const mask = (shape: number[]): Input => ({
    values: Float64Array.from({ length: size(shape) }, () => (rng.next() < 0.5 ? 1 : 0)),
    shape,
  });
  const cases: [number[], number[], number[]][] = [
    [
      [7, 13],
      [7, 13],
      [7, 13],
    ],
    [[7, 1], [7, 13], [13]],
    [[13], [1], [7, 13]],
    [
      [3, 5, 11],
      [3, 1, 1],
      [5, 1],
    ],
    [[], [2, 1, 9], [9]],
    [[], [], []],
    [
      [4, 13],
      [4, 13],
      [4, 13],
    ],
    [[3, 7, 64], [3, 7, 64], [1]],
  ];
  for (const [sc, sa, sb] of cases) {
    await compare(`where ${JSON.stringify([sc, sa, sb])}`, where, [mask(sc), floats(sa), floats(sb)], 0, 0);
    await compare(
      `where(int32) ${JSON.stringify([sc, sa, sb])}`,
      where,
      [mask(sc), ints(sa, -1000, 1000), ints(sb, -1000, 1000)],
      0,
      0,
    );
  }
  // A mask made by a comparison, hand-checked.
  const gpu = await webgpu();
  for (const backend of [cpu, gpu]) {
    const r = await runOn(backend, (x, y) => where(gt(x, y), x, y), [
      { values: Float64Array.from([1, 5, -2, 3]), shape: [4] },
      { values: Float64Array.from([2, 4, -3, 3]), shape: [4] },
    ]);
    assert.equal(Array.from(r.data), [2, 5, -2, 3], backend.name);
  }
});

// ---------------------------------------------------------------------------------------------
// Reductions

/** Tolerance for a sum of `count` terms of magnitude ≤ m (float32 accumulation on the GPU). */
const sumTol = (count: number, m: number) => 2e-7 * count * m + 1e-6;

test('reduce: sum/mean/max/min over every single axis, several axes, all axes, keepDims', async () => {
  const shape = [3, 5, 11];
  const x = floats(shape);
  const g = gridded(shape); // ties for max/min
  const axesList: (number | number[] | undefined)[] = [0, 1, 2, -1, [0, 2], [0, 1], [1, 2], [0, 1, 2], undefined, []];
  for (const axes of axesList) {
    for (const keepDims of [false, true]) {
      const tag = `axes ${JSON.stringify(axes)} keepDims ${keepDims}`;
      const s = await compare(`sum ${tag}`, (t) => sum(t, axes, keepDims), [x], 1e-5, sumTol(165, 2));
      await compare(`mean ${tag}`, (t) => mean(t, axes, keepDims), [x], 1e-5, sumTol(165, 2));
      await compare(`max ${tag}`, (t) => max(t, axes, keepDims), [g], 0, 0);
      await compare(`min ${tag}`, (t) => min(t, axes, keepDims), [x], 0, 0);
      const reduced =
        axes === undefined ? [0, 1, 2] : (typeof axes === 'number' ? [axes] : axes).map((a) => (a < 0 ? a + 3 : a));
      const expectedShape = keepDims
        ? shape.map((d, i) => (reduced.includes(i) ? 1 : d))
        : shape.filter((_, i) => !reduced.includes(i));
      assert.equal(s.shape, expectedShape, `sum ${tag}: shape`);
    }
  }
  for (const shape2 of [
    [7, 13],
    [1, 1],
    [2, 1, 9],
  ]) {
    for (const axis of shape2.map((_, i) => i)) {
      const y = floats(shape2);
      await compare(`sum ${JSON.stringify(shape2)} axis ${axis}`, (t) => sum(t, axis), [y], 1e-5, sumTol(13, 2));
      await compare(`max ${JSON.stringify(shape2)} axis ${axis}`, (t) => max(t, axis), [y], 0, 0);
      await compare(`min ${JSON.stringify(shape2)} axis ${axis}`, (t) => min(t, axis, true), [y], 0, 0);
      await compare(`mean ${JSON.stringify(shape2)} axis ${axis}`, (t) => mean(t, axis), [y], 1e-5, sumTol(13, 2));
    }
  }
  // A 0-d scalar reduces to itself.
  await compare('sum of a 0-d scalar', (t) => sum(t), [floats([])], 0, 0);
  await compare('max of a 0-d scalar', (t) => max(t), [floats([])], 0, 0);
});

test('reduce: hand-checked values', async () => {
  const gpu = await webgpu();
  const x: Input = { values: Float64Array.from([1, 2, 3, 4, 5, 6]), shape: [2, 3] };
  for (const backend of [cpu, gpu]) {
    assert.equal(Array.from((await runOn(backend, (t) => sum(t, 0), [x])).data), [5, 7, 9], backend.name);
    assert.equal(Array.from((await runOn(backend, (t) => sum(t, 1), [x])).data), [6, 15], backend.name);
    assert.equal(Array.from((await runOn(backend, (t) => sum(t), [x])).data), [21], backend.name);
    assert.equal(Array.from((await runOn(backend, (t) => mean(t, 1), [x])).data), [2, 5], backend.name);
    assert.equal(Array.from((await runOn(backend, (t) => max(t, 0), [x])).data), [4, 5, 6], backend.name);
    assert.equal(Array.from((await runOn(backend, (t) => min(t, 1), [x])).data), [1, 4], backend.name);
  }
});

test('reduce: long reductions (workgroup tree path) and many outputs', async () => {
  // ≥ 256 elements per output and few outputs: one workgroup per output with a shared-memory tree.
  const long = floats([1000, 3]);
  await compare('sum axis 0 of [1000, 3]', (t) => sum(t, 0), [long], 1e-5, sumTol(1000, 2));
  await compare('mean axis 0 of [1000, 3]', (t) => mean(t, 0), [long], 1e-5, sumTol(1000, 2) / 1000);
  await compare('max axis 0 of [1000, 3]', (t) => max(t, 0), [long], 0, 0);
  await compare('min axis 0 of [1000, 3]', (t) => min(t, 0, true), [long], 0, 0);
  await compare('sum of all of [1000, 3]', (t) => sum(t), [long], 1e-5, sumTol(3000, 2));
  await compare('sum axis 1 of [3, 1000] (contiguous)', (t) => sum(t, 1), [floats([3, 1000])], 1e-5, sumTol(1000, 2));
  // Non-contiguous reduced axes, tree path: 40·20 = 800 per output.
  const strided = floats([40, 3, 20]);
  await compare('sum axes [0, 2] of [40, 3, 20]', (t) => sum(t, [0, 2]), [strided], 1e-5, sumTol(800, 2));
  await compare('max axes [0, 2] of [40, 3, 20]', (t) => max(t, [0, 2]), [strided], 0, 0);
  // Long int32 sums are exact.
  await compare('int32 sum axis 0 of [1000, 3]', (t) => sum(t, 0), [ints([1000, 3], -1000, 1000)], 0, 0);
  // A positive sum where a lost term would show: 1000 ones.
  const gpu = await webgpu();
  const onesOut = await runOn(gpu, (t) => sum(t, 0), [{ values: new Float64Array(3000).fill(1), shape: [1000, 3] }]);
  assert.equal(Array.from(onesOut.data), [1000, 1000, 1000]);
  // Many outputs: one invocation per output.
  await compare('sum axis 1 of [5000, 3]', (t) => sum(t, 1), [floats([5000, 3])], 1e-5, sumTol(3, 2));
  await compare('max axis 0 of [2, 4500]', (t) => max(t, 0), [floats([2, 4500])], 0, 0);
  // Many outputs AND long reductions (not the tree path).
  await compare('sum axis 0 of [300, 4100]', (t) => sum(t, 0), [floats([300, 4100])], 1e-5, sumTol(300, 2));
});

test('reduce: int32 sum/max/min', async () => {
  const x = ints([3, 5, 11], -50, 50);
  for (const axes of [0, 1, 2, [0, 2], undefined]) {
    for (const f of [sum, max, min]) {
      const r = await compare(`int32 ${f.name} ${JSON.stringify(axes)}`, (t) => f(t, axes), [x], 0, 0);
      assert.is(r.dtype, 'int32');
    }
  }
});

test('argmax: random inputs on every axis, and ties give the first index', async () => {
  for (const [shape, axis] of [
    [[7, 13], -1],
    [[7, 13], 0],
    [[3, 5, 11], 1],
    [[3, 5, 11], 0],
    [[3, 5, 11], 2],
    [[2, 1, 9], 1],
    [[13], 0],
  ] as [number[], number][]) {
    const r = await compare(
      `argmax ${JSON.stringify(shape)} axis ${axis}`,
      (t) => argmax(t, axis),
      [floats(shape)],
      0,
      0,
    );
    assert.is(r.dtype, 'int32');
    await compare(
      `argmax with ties ${JSON.stringify(shape)} axis ${axis}`,
      (t) => argmax(t, axis),
      [gridded(shape)],
      0,
      0,
    );
  }
  const ties: Input = {
    values: Float64Array.from([1, 3, 3, 2, 5, 5, 5, 5, 0, -1, 2, 2, -4, -4, -7, -4]),
    shape: [4, 4],
  };
  const gpu = await webgpu();
  for (const backend of [cpu, gpu]) {
    const rows = await runOn(backend, (t) => argmax(t), [ties]);
    assert.equal(Array.from(rows.data), [1, 0, 2, 0], `${backend.name}: argmax over rows`);
    assert.ok(rows.data instanceof Int32Array);
    const cols = await runOn(backend, (t) => argmax(t, 0), [ties]);
    assert.equal(Array.from(cols.data), [1, 1, 1, 1], `${backend.name}: argmax over columns`);
  }
});

// ---------------------------------------------------------------------------------------------
// Layout

test('transpose: 2-D, 3-D permutations, default reversal, int32', async () => {
  await compare('transpose [7, 13]', (t) => transpose(t), [floats([7, 13])], 0, 0);
  await compare('transpose [1, 1]', (t) => transpose(t, [1, 0]), [floats([1, 1])], 0, 0);
  for (const perm of [
    [2, 0, 1],
    [1, 0, 2],
    [0, 2, 1],
    [2, 1, 0],
    [0, 1, 2],
  ]) {
    const r = await compare(`transpose [3, 5, 11] perm ${perm}`, (t) => transpose(t, perm), [floats([3, 5, 11])], 0, 0);
    assert.equal(
      r.shape,
      perm.map((a) => [3, 5, 11][a]),
    );
  }
  await compare('transpose [2, 1, 9] default', (t) => transpose(t), [floats([2, 1, 9])], 0, 0);
  await compare('transpose int32', (t) => transpose(t, [2, 0, 1]), [ints([3, 5, 11])], 0, 0);
  const gpu = await webgpu();
  for (const backend of [cpu, gpu]) {
    const r = await runOn(backend, (t) => transpose(t), [
      { values: Float64Array.from([1, 2, 3, 4, 5, 6]), shape: [2, 3] },
    ]);
    assert.equal(r.shape, [3, 2]);
    assert.equal(Array.from(r.data), [1, 4, 2, 5, 3, 6], backend.name);
  }
  assert.throws(() => on(cpu, () => transpose(zeros([2, 3]), [0, 0])), /not a permutation/);
});

test('reshape: -1 inferred, shares values, bad shapes throw', async () => {
  const gpu = await webgpu();
  const x = floats([3, 5, 11]);
  for (const backend of [cpu, gpu]) {
    const r = await runOn(backend, (t) => reshape(t, [-1, 11]), [x]);
    assert.equal(r.shape, [15, 11]);
    assertClose(r.data, Float32Array.from(x.values), `${backend.name} reshape`, 0, 0);
    const r2 = await runOn(backend, (t) => reshape(t, [5, -1, 3]), [x]);
    assert.equal(r2.shape, [5, 11, 3]);
    const r3 = await runOn(backend, (t) => reshape(t, [-1]), [{ values: Float64Array.from([4]), shape: [] }]);
    assert.equal(r3.shape, [1]);
    const r4 = await runOn(backend, (t) => reshape(t, []), [{ values: Float64Array.from([4]), shape: [1, 1] }]);
    assert.equal(r4.shape, []);
    assert.equal(Array.from(r4.data), [4]);
    on(backend, () =>
      tidy(() => {
        const t = zeros([3, 5, 11]);
        assert.throws(() => reshape(t, [-1, 7]), /cannot infer -1 in \[-1, 7\] for 165 elements/);
        assert.throws(
          () => reshape(t, [4, 40]),
          /cannot view \[3, 5, 11\] \(165 elements\) as \[4, 40\] \(160 elements\)/,
        );
      }),
    );
  }
});

// ---------------------------------------------------------------------------------------------
// Softmax family

test('logSoftmax matches the CPU reference (2-D, 3-D, 1-D, large logits)', async () => {
  await compare('logSoftmax [7, 10]', logSoftmax, [floats([7, 10], -3, 3)], 1e-5, 1e-5);
  await compare('logSoftmax [3, 5, 11]', logSoftmax, [floats([3, 5, 11], -3, 3)], 1e-5, 1e-5);
  await compare('logSoftmax [13]', logSoftmax, [floats([13], -3, 3)], 1e-5, 1e-5);
  await compare('logSoftmax [1, 1]', logSoftmax, [floats([1, 1])], 1e-5, 1e-5);
  // Stability: exp(1000) overflows without the max subtracted.
  const big = await compare(
    'logSoftmax large',
    logSoftmax,
    [{ values: Float64Array.from([1000, 999, 990, -1000, -1001, -1010]), shape: [2, 3] }],
    1e-5,
    1e-4,
  );
  assert.ok(Array.from(big.data).every(Number.isFinite));
  assertClose(
    big.data,
    [-0.3133, -1.3133, -10.3133, -0.3133, -1.3133, -10.3133],
    'logSoftmax large hand values',
    1e-4,
    1e-4,
  );
  const probs = await compare(
    'softmax rows sum to 1',
    (t) => sum(softmax(t), -1),
    [floats([7, 10], -3, 3)],
    1e-5,
    1e-5,
  );
  assertClose(probs.data, new Array(7).fill(1), 'softmax rows', 0, 1e-5);
});

test('softmaxCrossEntropy: forward and gradient (rows 7, cols 10) match the CPU reference and the formula', async () => {
  const rows = 7;
  const cols = 10;
  const logits = floats([rows, cols], -3, 3);
  const labels: Input = { values: Int32Array.from({ length: rows }, () => rng.int(cols)), shape: [rows] };
  labels.values[0] = 0;
  labels.values[1] = cols - 1;
  const loss = await compare('softmaxCrossEntropy', softmaxCrossEntropy, [logits, labels], 1e-5, 1e-5);
  assert.equal(loss.shape, []);
  // The formula, in float64: mean over rows of logsumexp − logit[label].
  let expectedLoss = 0;
  const expectedGrad = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = Array.from(logits.values.subarray(r * cols, (r + 1) * cols));
    const m = Math.max(...row);
    const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
    expectedLoss += (m + Math.log(z) - row[labels.values[r]]) / rows;
    for (let j = 0; j < cols; j++)
      expectedGrad[r * cols + j] = (Math.exp(row[j] - m) / z - (j === labels.values[r] ? 1 : 0)) / rows;
  }
  assertClose(loss.data, [expectedLoss], 'softmaxCrossEntropy vs formula', 1e-5, 1e-6);
  // Gradient w.r.t. the logits through the tape, with dy = 1 and with a seed dy = 2.5.
  const gradOf = (seed: number) => (l: Tensor, y: Tensor) => {
    const tape = new Tape();
    const out = tape.record(() => softmaxCrossEntropy(l, y));
    return tape.gradient(out, [l], seed === 1 ? undefined : fullLike(out, seed))[0];
  };
  const g1 = await compare('softmaxCrossEntropy gradient', gradOf(1), [logits, labels], 1e-5, 1e-6);
  assert.equal(g1.shape, [rows, cols]);
  assertClose(g1.data, expectedGrad, 'softmaxCrossEntropy gradient vs formula', 1e-4, 1e-6);
  const g2 = await compare('softmaxCrossEntropy gradient seeded', gradOf(2.5), [logits, labels], 1e-5, 1e-6);
  assertClose(
    g2.data,
    expectedGrad.map((v) => v * 2.5),
    'seeded gradient vs formula',
    1e-4,
    1e-6,
  );
  // Equivalent to −mean(logSoftmax[label]) built from other ops.
  assert.throws(() => on(cpu, () => softmaxCrossEntropy(zeros([3, 4]), zeros([3]))), /labels must be int32/);
  assert.throws(
    () => on(cpu, () => softmaxCrossEntropy(zeros([3, 4]), zeros([2], 'int32'))),
    /labels of shape \[2\] do not match logits of shape \[3, 4\]/,
  );
  assert.throws(
    () => on(cpu, () => softmaxCrossEntropy(zeros([3, 4]), tensor(Int32Array.from([0, 4, 1])))),
    /label 4 at row 1 is outside \[0, 4\)/,
  );
});

// ---------------------------------------------------------------------------------------------
// Creation, dtypes, randomness

test('fill / zeros / ones / full / fullLike on both backends', async () => {
  const gpu = await webgpu();
  for (const backend of [cpu, gpu]) {
    for (const shape of [...SHAPES, [0], [3, 0]]) {
      const n = size(shape);
      const check = async (t: Tensor, value: number, dtype: string, what: string) => {
        assert.equal([...t.shape], shape, `${backend.name} ${what}: shape`);
        assert.is(t.dtype, dtype, `${backend.name} ${what}: dtype`);
        const d = await t.data();
        assert.is(d instanceof Int32Array, dtype === 'int32', `${backend.name} ${what}: array type`);
        assert.equal(Array.from(d), new Array(n).fill(value), `${backend.name} ${what} ${JSON.stringify(shape)}`);
        t.dispose();
      };
      setBackend(backend);
      await check(zeros(shape), 0, 'float32', 'zeros');
      await check(ones(shape), 1, 'float32', 'ones');
      await check(full(shape, -2.5), -2.5, 'float32', 'full');
      await check(full(shape, 7, 'int32'), 7, 'int32', 'full int32');
      await check(zeros(shape, 'int32'), 0, 'int32', 'zeros int32');
      const base = full(shape, 3, 'int32');
      await check(fullLike(base, -4), -4, 'int32', 'fullLike int32');
      base.dispose();
      const f = ones(shape);
      await check(zerosLike(f), 0, 'float32', 'zerosLike');
      f.dispose();
    }
  }
});

test('int32 tensors round-trip exactly; cast via the backend', async () => {
  const gpu = await webgpu();
  const values = Int32Array.from([0, 1, -1, 2 ** 30, -(2 ** 31), 2 ** 31 - 1, 16777217, -123456789]);
  for (const backend of [cpu, gpu]) {
    const t = put(backend, values, [2, 4]);
    assert.is(t.dtype, 'int32');
    const back = await t.data();
    assert.ok(back instanceof Int32Array, `${backend.name}: Int32Array back`);
    assert.equal(Array.from(back), Array.from(values), `${backend.name}: int32 round trip`);
    assert.equal(await t.array(), [Array.from(values.subarray(0, 4)), Array.from(values.subarray(4))]);
    t.dispose();

    // float32 → int32 truncates toward zero; int32 → float32 is exact for small integers.
    const f = put(backend, Float32Array.from([-2.7, -0.5, 0, 0.5, 2.7, 100.9, -100.9]), [7]);
    const castStorage = backend.cast(f.storage, f.size, 'float32', 'int32');
    const asInt = await backend.read(castStorage, 'int32', 7);
    assert.ok(asInt instanceof Int32Array);
    assert.equal(Array.from(asInt), [-2, 0, 0, 0, 2, 100, -100], `${backend.name}: cast to int32`);
    const backStorage = backend.cast(castStorage, 7, 'int32', 'float32');
    const asFloat = await backend.read(backStorage, 'float32', 7);
    assert.ok(asFloat instanceof Float32Array);
    assert.equal(Array.from(asFloat), [-2, 0, 0, 0, 2, 100, -100], `${backend.name}: cast back to float32`);
    backend.release(castStorage);
    backend.release(backStorage);
    f.dispose();
  }
});

test('tensor creation from nested arrays, flat arrays with a shape, scalars', async () => {
  const gpu = await webgpu();
  for (const backend of [cpu, gpu]) {
    setBackend(backend);
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.equal([...t.shape], [2, 3]);
    assert.is(t.dtype, 'float32');
    assert.equal(await t.array(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const t3 = tensor([
      [[1], [2]],
      [[3], [4]],
      [[5], [6]],
    ]);
    assert.equal([...t3.shape], [3, 2, 1]);
    assert.equal(Array.from(await t3.data()), [1, 2, 3, 4, 5, 6]);
    const flat = tensor([1, 2, 3, 4, 5, 6], [3, 2]);
    assert.equal(await flat.array(), [
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    const ints32 = tensor(
      [
        [1, -2],
        [3, 4],
      ],
      undefined,
      'int32',
    );
    assert.is(ints32.dtype, 'int32');
    assert.ok((await ints32.data()) instanceof Int32Array);
    const s = scalar(2.5);
    assert.equal([...s.shape], []);
    assert.is(s.rank, 0);
    assert.is(await s.item(), 2.5);
    assert.is(await tensor(7).item(), 7);
    const fromTyped = tensor(Float32Array.from([0.5, 1.5]));
    assert.equal([...fromTyped.shape], [2]);
    assert.throws(() => tensor([1, 2, 3], [2, 2]), /3 values do not fill shape \[2, 2\] \(4 elements\)/);
    assert.throws(() => tensor([1, 2], [-1, -2]), /invalid shape/);
    try {
      await flat.item();
      assert.unreachable('item() of a 6-element tensor should throw');
    } catch (e) {
      assert.match((e as Error).message, /item: tensor of shape \[3, 2\] has 6 elements, expected 1/);
    }
    for (const x of [t, t3, flat, ints32, s, fromTyped]) x.dispose();
  }
});

test('Random: same seed gives the same numbers, on both backends (rand, randn)', async () => {
  const a = new Random(42);
  const b = new Random(42);
  const seqA = Array.from({ length: 20 }, () => a.next());
  const seqB = Array.from({ length: 20 }, () => b.next());
  assert.equal(seqA, seqB);
  assert.ok(seqA.every((v) => v >= 0 && v < 1));
  assert.not.equal(
    seqA,
    Array.from({ length: 20 }, () => new Random(43).next()),
  );

  const gpu = await webgpu();
  const draw = async (backend: Backend, seed: number) => {
    setBackend(backend);
    const rng2 = new Random(seed);
    const u = rand([7, 13], rng2, -1, 1);
    const n = randn([3, 5, 11], rng2, 0.5, 2);
    const out = { u: Array.from(await u.data()), n: Array.from(await n.data()) };
    u.dispose();
    n.dispose();
    return out;
  };
  const onCpu = await draw(cpu, 7);
  const onGpu = await draw(gpu, 7);
  assert.equal(onGpu.u, onCpu.u, 'rand: same numbers on both backends');
  assert.equal(onGpu.n, onCpu.n, 'randn: same numbers on both backends');
  assert.equal((await draw(cpu, 7)).u, onCpu.u, 'rand: same seed again');
  assert.not.equal((await draw(cpu, 8)).u, onCpu.u, 'rand: another seed differs');
  assert.ok(onCpu.u.every((v) => v >= -1 && v < 1));
  const m = onCpu.n.reduce((s, v) => s + v, 0) / onCpu.n.length;
  assert.ok(Math.abs(m - 0.5) < 0.5, `randn mean ${m}`);
  // Determinism of the state: getState/setState resumes the stream.
  const r = new Random(5);
  r.next();
  const state = r.getState();
  const next3 = [r.next(), r.next(), r.next()];
  r.setState(state);
  assert.equal([r.next(), r.next(), r.next()], next3);
});

// ---------------------------------------------------------------------------------------------
// Errors

test('errors: broadcasting failure names both shapes and the op', async () => {
  const gpu = await webgpu();
  for (const backend of [cpu, gpu]) {
    setBackend(backend);
    tidy(() => {
      const a = zeros([2, 3]);
      const b = zeros([4]);
      for (const [name, f] of [
        ['add', add],
        ['mul', mul],
        ['maximum', maximum],
        ['lt', lt],
        ['eq', eq],
        ['ne', ne],
        ['le', le],
      ] as const) {
        try {
          f(a, b);
          assert.unreachable(`${name} of [2, 3] and [4] should throw`);
        } catch (e) {
          const message = (e as Error).message;
          assert.ok(message.startsWith(`${name}:`), message);
          assert.ok(message.includes('[2, 3]') && message.includes('[4]'), message);
          assert.match(message, /cannot be broadcast/);
        }
      }
      assert.throws(() => where(ones([2, 3]), a, b), /where: shapes \[2, 3\] and \[4\] cannot be broadcast/);
      assert.throws(() => add(a, zeros([2, 3], 'int32')), /add: dtypes differ \(float32 \[2, 3\] vs int32 \[2, 3\]\)/);
      assert.throws(() => exp(zeros([2], 'int32')), /exp: expected a float32 tensor, got int32 of shape \[2\]/);
      assert.throws(() => sum(a, 2), /sum: axis 2 is out of range for a tensor of rank 2/);
    });
  }
});

test('errors: using a disposed tensor throws; mixing backends throws', async () => {
  const gpu = await webgpu();
  for (const backend of [cpu, gpu]) {
    setBackend(backend);
    const t = ones([2, 3]);
    const u = ones([2, 3]);
    t.dispose();
    assert.ok(t.isDisposed);
    assert.throws(() => add(t, u), /was already disposed/);
    assert.throws(() => exp(t), /tensor #\d+ of shape \[2, 3\] was already disposed/);
    assert.throws(() => reshape(t, [6]), /reshape: .*already disposed/);
    try {
      await t.data();
      assert.unreachable('data() of a disposed tensor should throw');
    } catch (e) {
      assert.match((e as Error).message, /data: tensor #\d+ of shape \[2, 3\] was already disposed/);
    }
    t.dispose(); // a second dispose is harmless
    u.dispose();
  }
  const c = put(cpu, Float32Array.from([1, 2]), [2]);
  const g = put(gpu, Float32Array.from([1, 2]), [2]);
  assert.throws(() => add(c, g), /add: inputs live on different backends \(cpu and webgpu\)/);
  assert.throws(() => add(g, c), /add: inputs live on different backends \(webgpu and cpu\)/);
  const mask = put(cpu, Float32Array.from([1, 0]), [2]);
  assert.throws(() => where(mask, g, g), /where: inputs live on different backends/);
  mask.dispose();
  assert.throws(() => c.assign(g), /assign: tensors live on different backends/);
  c.dispose();
  g.dispose();
});

test.run();
