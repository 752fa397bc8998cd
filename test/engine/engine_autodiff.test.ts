// The VJP of every differentiable op against central finite differences (float64 CPU), tape
// behaviour (intermediate tensors, seeds, accumulation, noGrad, unrelated tensors, errors), and the
// same gradients computed on WebGPU against the CPU in float32.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BINARY_OPS,
  type Backend,
  type BinaryOp,
  UNARY_OPS,
  type UnaryOp,
  binary,
  unary,
  Random,
  Tape,
  type Tensor,
  abs,
  add,
  affine,
  clamp,
  div,
  exp,
  gt,
  isRecording,
  log,
  logSoftmax,
  matmul,
  max,
  maximum,
  mean,
  min,
  minimum,
  mul,
  neg,
  passIfPositive,
  noGrad,
  reciprocal,
  relu,
  reshape,
  setBackend,
  softmax,
  softmaxCrossEntropy,
  sqrt,
  square,
  sub,
  sum,
  tensor,
  tidy,
  transpose,
  where,
} from '../../engine/index.js';
import { assertClose, cpu, cpu64, gradCheck, maxAbs, put, randomArray, webgpu } from '../helpers.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const rng = new Random(2024);

type In = { values: Float64Array | Int32Array; shape: number[]; differentiable?: boolean };
const uniform = (shape: number[], lo = -2, hi = 2): In => ({ values: randomArray(rng, size(shape), lo, hi), shape });
/** |x| in [lo, hi] with a random sign: away from kinks (abs, relu) and poles (reciprocal, div). */
const awayFromZero = (shape: number[], lo = 0.1, hi = 2): In => ({
  values: randomArray(rng, size(shape), lo, hi).map((v) => (rng.next() < 0.5 ? -v : v)),
  shape,
});
const mask = (shape: number[]): In => ({
  values: Float64Array.from({ length: size(shape) }, () => (rng.next() < 0.5 ? 1 : 0)),
  shape,
  differentiable: false,
});
const labelsOf = (rows: number, cols: number): In => ({
  values: Int32Array.from({ length: rows }, () => rng.int(cols)),
  shape: [rows],
  differentiable: false,
});

/**
 * A fixed random cotangent per shape, so the checked scalar is Σ c·y: every element of y gets its own
 * weight (a plain sum would hide errors that permute or mix elements).
 */
const cotangents = new Map<string, Float64Array>();
function cotangent(shape: readonly number[]): Float64Array {
  const key = shape.join(',');
  let c = cotangents.get(key);
  if (!c) {
    const r = new Random(size(shape) * 31 + shape.length);
    c = r.fillUniform(new Float64Array(size(shape)), -1.5, 1.5) as Float64Array;
    cotangents.set(key, c);
  }
  return c;
}
/** Σ c·y with the shape's fixed cotangent (created on the current backend). */
const project = (y: Tensor): Tensor => sum(mul(y, tensor(cotangent(y.shape), y.shape)));

// ---------------------------------------------------------------------------------------------
// Unary

test('VJP: unary ops (neg, exp, log, sqrt, abs, relu, square, reciprocal, affine) by finite differences', async () => {
  for (const shape of [[3, 4], [2, 1, 3], []]) {
    const s = JSON.stringify(shape);
    await gradCheck((x) => project(neg(x)), [uniform(shape)], `neg ${s}`);
    await gradCheck((x) => project(exp(x)), [uniform(shape)], `exp ${s}`);
    await gradCheck((x) => project(log(x)), [uniform(shape, 0.2, 3)], `log ${s}`);
    await gradCheck((x) => project(sqrt(x)), [uniform(shape, 0.2, 3)], `sqrt ${s}`);
    await gradCheck((x) => project(abs(x)), [awayFromZero(shape)], `abs ${s}`);
    await gradCheck((x) => project(relu(x)), [awayFromZero(shape)], `relu ${s}`);
    await gradCheck((x) => project(square(x)), [uniform(shape)], `square ${s}`);
    await gradCheck((x) => project(reciprocal(x)), [awayFromZero(shape, 0.5, 2)], `reciprocal ${s}`);
    await gradCheck((x) => project(affine(x, -2.5, 0.75)), [uniform(shape)], `affine ${s}`);
  }
  // Chains of unary ops: the derivative of exp(sqrt(x²+1)) etc.
  await gradCheck((x) => project(exp(sqrt(affine(square(x), 1, 1)))), [uniform([4, 3])], 'exp∘sqrt∘(x²+1)');
  await gradCheck((x) => project(log(reciprocal(abs(x)))), [awayFromZero([5], 0.3, 2)], 'log∘reciprocal∘abs');
});

test('VJP: clamp by finite differences away from the bounds; zero outside [lo, hi], passes inside', async () => {
  const lo = -0.5;
  const hi = 0.5;
  // Points in [-1.5, 1.5], none within 0.02 of a bound: inside and outside the interval.
  const values = randomArray(rng, 24, -1.5, 1.5).map((v) =>
    Math.abs(v - lo) < 0.02 || Math.abs(v - hi) < 0.02 ? v + 0.05 : v,
  );
  assert.ok(values.some((v) => v < lo) && values.some((v) => v > hi) && values.some((v) => v > lo && v < hi));
  await gradCheck((x) => project(clamp(x, lo, hi)), [{ values, shape: [4, 6] }], 'clamp');

  // Exact values: the gradient is exactly 0 outside [lo, hi] and exactly the cotangent inside
  // (bounds included, as PyTorch's clamp does).
  const x = Float64Array.from([-3, -0.5000001, -0.5, -0.1, 0, 0.3, 0.5, 0.5000001, 7]);
  const c = Float64Array.from([0.9, 1.1, 1.3, 1.7, -1.9, 2.3, 2.9, 3.1, -3.7]);
  setBackend(cpu64);
  const g = tidy(() => {
    const xt = tensor(x);
    const tape = new Tape();
    const y = tape.record(() => clamp(xt, lo, hi));
    return tape.gradient(y, [xt], tensor(c))[0];
  });
  const gd = await g.data();
  g.dispose();
  assert.equal(Array.from(gd), [0, 0, 1.3, 1.7, -1.9, 2.3, 2.9, 0, 0]);
  for (const i of [0, 1, 7, 8])
    assert.ok(Object.is(Math.abs(gd[i]), 0), `clamp gradient at ${x[i]} must be exactly 0, got ${gd[i]}`);
});

// ---------------------------------------------------------------------------------------------
// Binary

const PAIRS: [number[], number[]][] = [
  [
    [3, 4],
    [3, 4],
  ],
  [
    [3, 4, 5],
    [4, 1],
  ],
  [[1], [4, 4]],
  [
    [3, 1, 5],
    [4, 1],
  ],
  [[4], [3, 4]],
  [[], [2, 3]],
  [
    [2, 3],
    [1, 1],
  ],
];

test('VJP: add/sub/mul/div with broadcasting by finite differences', async () => {
  for (const [sa, sb] of PAIRS) {
    const s = `${JSON.stringify(sa)} ${JSON.stringify(sb)}`;
    await gradCheck((a, b) => project(add(a, b)), [uniform(sa), uniform(sb)], `add ${s}`);
    await gradCheck((a, b) => project(sub(a, b)), [uniform(sa), uniform(sb)], `sub ${s}`);
    await gradCheck((a, b) => project(mul(a, b)), [uniform(sa), uniform(sb)], `mul ${s}`);
    await gradCheck((a, b) => project(div(a, b)), [uniform(sa), awayFromZero(sb, 0.5, 2)], `div ${s}`);
  }
});

test('VJP: maximum/minimum with broadcasting by finite differences; ties send the gradient to a', async () => {
  // a on odd multiples of 0.05, b on multiples of 0.1: never within 0.05 of each other.
  const offGrid = (shape: number[]): In => ({
    values: Float64Array.from({ length: size(shape) }, () => (rng.int(40) - 20) * 0.1 + 0.05),
    shape,
  });
  const onGrid = (shape: number[]): In => ({
    values: Float64Array.from({ length: size(shape) }, () => (rng.int(40) - 20) * 0.1),
    shape,
  });
  for (const [sa, sb] of PAIRS) {
    const s = `${JSON.stringify(sa)} ${JSON.stringify(sb)}`;
    await gradCheck((a, b) => project(maximum(a, b)), [offGrid(sa), onGrid(sb)], `maximum ${s}`);
    await gradCheck((a, b) => project(minimum(a, b)), [onGrid(sa), offGrid(sb)], `minimum ${s}`);
  }
  setBackend(cpu64);
  const [ga, gb, ha, hb] = tidy(() => {
    const a = tensor([1, 2, 3]);
    const b = tensor([1, 5, 0]);
    const tape = new Tape();
    const [y, z] = tape.record(() => [sum(maximum(a, b)), sum(minimum(a, b))]);
    return [...tape.gradient(y, [a, b]), ...tape.gradient(z, [a, b])];
  });
  assert.equal(Array.from(await ga.data()), [1, 0, 1]);
  assert.equal(Array.from(await gb.data()), [0, 1, 0]);
  assert.equal(Array.from(await ha.data()), [1, 1, 0]);
  assert.equal(Array.from(await hb.data()), [0, 0, 1]);
  for (const t of [ga, gb, ha, hb]) t.dispose();
});

test('VJP: passIfPositive (ReLU backward) with broadcasting by finite differences; relu uses it', async () => {
  for (const [sa, sb] of PAIRS) {
    const s = `${JSON.stringify(sa)} ${JSON.stringify(sb)}`;
    // a away from 0 (the mask's kink), both signs: the gradient reaches b through the mask, not a.
    await gradCheck((a, b) => project(passIfPositive(a, b)), [awayFromZero(sa), uniform(sb)], `passIfPositive ${s}`);
  }
  setBackend(cpu64);
  const [ga, gb] = tidy(() => {
    const a = tensor([-1, 0, 2, 3]);
    const b = tensor([5, 6, 7, -8]);
    const tape = new Tape();
    const y = tape.record(() => sum(passIfPositive(a, b)));
    return tape.gradient(y, [a, b]);
  });
  assert.equal(Array.from(await ga.data()), [0, 0, 0, 0]);
  assert.equal(Array.from(await gb.data()), [0, 0, 1, 1]);
  ga.dispose();
  gb.dispose();
});

test('VJP: where with broadcasting (mask not differentiable) by finite differences', async () => {
  await gradCheck(
    (c, a, b) => project(where(c, a, b)),
    [mask([3, 4]), uniform([3, 4]), uniform([3, 4])],
    'where same shapes',
  );
  await gradCheck(
    (c, a, b) => project(where(c, a, b)),
    [mask([3, 1]), uniform([3, 4]), uniform([4])],
    'where broadcast',
  );
  await gradCheck(
    (c, a, b) => project(where(c, a, b)),
    [mask([2, 3, 4]), uniform([3, 1]), uniform([])],
    'where broadcast 3-D',
  );
  // A mask computed from the inputs (the usual use): relu written with where.
  await gradCheck(
    (x) => project(where(gt(x, tensor(0)), x, mul(x, tensor(0.1)))),
    [awayFromZero([4, 5])],
    'leaky relu via where',
  );
});

// ---------------------------------------------------------------------------------------------
// Every row of the elementwise op table (engine/elementwise_ops.ts), so a new row is checked too: its
// VJP against finite differences, or, for a row without one, no gradient (the finite differences
// are 0 too, away from the kinks). The domains are Records over the unions: a new row needs one.

const UNARY_DOMAINS: Record<UnaryOp, (shape: number[]) => In> = {
  neg: (s) => uniform(s),
  exp: (s) => uniform(s),
  log: (s) => uniform(s, 0.2, 3),
  sqrt: (s) => uniform(s, 0.2, 3),
  abs: (s) => awayFromZero(s),
  sign: (s) => awayFromZero(s),
  relu: (s) => awayFromZero(s),
  step: (s) => awayFromZero(s),
  square: (s) => uniform(s),
  reciprocal: (s) => awayFromZero(s, 0.5, 2),
};

/** a on odd multiples of 0.05, b on multiples of 0.1: never within 0.05 of each other (no ties for comparisons, maximum, minimum). */
const apart = (sa: number[], sb: number[]): [In, In] => [
  { values: Float64Array.from({ length: size(sa) }, () => (rng.int(40) - 20) * 0.1 + 0.05), shape: sa },
  { values: Float64Array.from({ length: size(sb) }, () => (rng.int(40) - 20) * 0.1), shape: sb },
];
const BINARY_DOMAINS: Record<BinaryOp, (sa: number[], sb: number[]) => [In, In]> = {
  add: (sa, sb) => [uniform(sa), uniform(sb)],
  sub: (sa, sb) => [uniform(sa), uniform(sb)],
  mul: (sa, sb) => [uniform(sa), uniform(sb)],
  div: (sa, sb) => [uniform(sa), awayFromZero(sb, 0.5, 2)],
  maximum: apart,
  minimum: apart,
  eq: apart,
  ne: apart,
  lt: apart,
  le: apart,
  gt: apart,
  ge: apart,
  passIfPositive: (sa, sb) => [awayFromZero(sa), uniform(sb)],
};

test('VJP: every row of the elementwise op table by finite differences, with broadcasting', async () => {
  for (const op of UNARY_OPS) {
    for (const shape of [[3, 4], []])
      await gradCheck((x) => project(unary(op, x)), [UNARY_DOMAINS[op](shape)], `${op} ${JSON.stringify(shape)}`);
  }
  for (const op of BINARY_OPS) {
    for (const [sa, sb] of [
      [
        [3, 4],
        [3, 4],
      ],
      [
        [3, 1, 5],
        [4, 1],
      ],
    ])
      await gradCheck(
        (a, b) => project(binary(op, a, b)),
        BINARY_DOMAINS[op](sa, sb),
        `${op} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`,
      );
  }
});

// ---------------------------------------------------------------------------------------------
// Reductions and layout

test('VJP: sum/mean/max/min over axes (single, several, all, keepDims) by finite differences', async () => {
  const shape = [3, 4, 5];
  for (const axes of [0, 1, 2, -1, [0, 2], [1, 2], undefined]) {
    for (const keepDims of [false, true]) {
      const s = `axes ${JSON.stringify(axes)} keepDims ${keepDims}`;
      await gradCheck((x) => project(sum(x, axes, keepDims)), [uniform(shape)], `sum ${s}`);
      await gradCheck((x) => project(mean(x, axes, keepDims)), [uniform(shape)], `mean ${s}`);
      await gradCheck((x) => project(max(x, axes, keepDims)), [uniform(shape)], `max ${s}`);
      await gradCheck((x) => project(min(x, axes, keepDims)), [uniform(shape)], `min ${s}`);
    }
  }
  await gradCheck((x) => mean(x), [uniform([])], 'mean of a 0-d scalar');
  // Ties: the gradient of a max/min is split evenly between the tied positions.
  setBackend(cpu64);
  const [gmax, gmin] = tidy(() => {
    const x = tensor([
      [1, 3, 3, 2],
      [4, 4, 4, 0],
    ]);
    const tape = new Tape();
    const [y, z] = tape.record(() => [sum(max(x, 1)), sum(min(x, 1))]);
    return [tape.gradient(y, [x])[0], tape.gradient(z, [x])[0]];
  });
  assertClose(await gmax.data(), [0, 0.5, 0.5, 0, 1 / 3, 1 / 3, 1 / 3, 0], 'max ties', 0, 1e-15);
  assertClose(await gmin.data(), [1, 0, 0, 0, 0, 0, 0, 1], 'min', 0, 0);
  gmax.dispose();
  gmin.dispose();
});

test('VJP: reshape and transpose by finite differences', async () => {
  await gradCheck((x) => project(reshape(x, [-1, 2])), [uniform([3, 4])], 'reshape [3, 4] → [6, 2]');
  await gradCheck((x) => project(reshape(x, [])), [uniform([1, 1])], 'reshape to 0-d');
  await gradCheck((x) => project(transpose(x)), [uniform([3, 4])], 'transpose 2-D');
  await gradCheck((x) => project(transpose(x, [2, 0, 1])), [uniform([3, 4, 5])], 'transpose [2, 0, 1]');
  await gradCheck((x) => project(transpose(x, [1, 0, 2])), [uniform([3, 4, 5])], 'transpose [1, 0, 2]');
  // A reshape feeding an op that mixes elements, so a wrong inverse would show.
  await gradCheck(
    (x) => project(mul(reshape(transpose(x, [1, 0]), [2, 6]), tensor(cotangent([6]), [6]))),
    [uniform([3, 4])],
    'transpose → reshape → mul',
  );
});

// ---------------------------------------------------------------------------------------------
// Softmax family, composites

test('VJP: logSoftmax, softmax and softmaxCrossEntropy (w.r.t. logits) by finite differences', async () => {
  await gradCheck((x) => project(logSoftmax(x)), [uniform([4, 6], -3, 3)], 'logSoftmax [4, 6]');
  await gradCheck((x) => project(logSoftmax(x)), [uniform([2, 3, 5], -3, 3)], 'logSoftmax [2, 3, 5]');
  await gradCheck((x) => project(logSoftmax(x)), [uniform([7], -3, 3)], 'logSoftmax [7]');
  await gradCheck((x) => project(softmax(x)), [uniform([4, 6], -3, 3)], 'softmax');
  await gradCheck(
    (x, y) => softmaxCrossEntropy(x, y),
    [uniform([7, 10], -3, 3), labelsOf(7, 10)],
    'softmaxCrossEntropy [7, 10]',
  );
  await gradCheck(
    (x, y) => softmaxCrossEntropy(x, y),
    [uniform([1, 3], -3, 3), labelsOf(1, 3)],
    'softmaxCrossEntropy [1, 3]',
  );
  // Through a scale of the loss: the VJP uses dy, not 1.
  await gradCheck(
    (x, y) => affine(softmaxCrossEntropy(x, y), -3.5, 0),
    [uniform([5, 4], -3, 3), labelsOf(5, 4)],
    '−3.5 · softmaxCrossEntropy',
  );
});

/** A 2-layer MLP with ReLU and cross-entropy. */
function mlpLoss(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, y: Tensor): Tensor {
  const h = relu(add(matmul(x, w1), b1));
  return softmaxCrossEntropy(add(matmul(h, w2), b2), y);
}

function mlpInputs(batch: number, inputs: number, hidden: number, classes: number): In[] {
  return [
    uniform([batch, inputs]),
    uniform([inputs, hidden], -0.8, 0.8),
    uniform([hidden], -0.3, 0.3),
    uniform([hidden, classes], -0.8, 0.8),
    uniform([classes], -0.3, 0.3),
    labelsOf(batch, classes),
  ];
}

test('VJP: composites: a 2-layer MLP with ReLU (matmul) and an elementwise network', async () => {
  await gradCheck(mlpLoss, mlpInputs(5, 4, 6, 3), '2-layer MLP');
  await gradCheck(
    (x, w, b) => {
      const h = relu(add(mul(x, w), b));
      const z = sub(exp(mul(h, tensor(-0.5))), sqrt(affine(square(x), 1, 1)));
      return add(mean(max(z, 1)), div(sum(minimum(z, h)), affine(sum(abs(w)), 1, 1)));
    },
    [uniform([6, 5]), awayFromZero([5], 0.2, 1.5), uniform([5], -0.5, 0.5)],
    'elementwise network',
  );
});

// ---------------------------------------------------------------------------------------------
// Tape behaviour

/** Central finite differences of a float64 scalar function of one array. */
async function finiteDiff(f: (values: Float64Array) => Tensor, values: Float64Array, h = 1e-6): Promise<Float64Array> {
  setBackend(cpu64);
  const evaluate = async (v: Float64Array) => {
    const out = tidy(() => f(v));
    const r = await out.item();
    out.dispose();
    return r;
  };
  const g = new Float64Array(values.length);
  for (let j = 0; j < values.length; j++) {
    const plus = values.slice();
    const minus = values.slice();
    plus[j] += h;
    minus[j] -= h;
    g[j] = ((await evaluate(plus)) - (await evaluate(minus))) / (2 * h);
  }
  return g;
}

test('tape: gradient w.r.t. an INTERMEDIATE tensor (dL/dz with z = x·w) matches finite differences through z', async () => {
  const x = uniform([4, 3]).values as Float64Array;
  const w = uniform([3, 5]).values as Float64Array;
  const labels = Int32Array.from([0, 4, 2, 2]);
  setBackend(cpu64);
  const head = (z: Tensor) => add(softmaxCrossEntropy(relu(z), tensor(labels)), mean(square(relu(z))));
  const { gz, gw, gwAlone, zValues } = await (async () => {
    const r = tidy(() => {
      const xt = tensor(x, [4, 3]);
      const wt = tensor(w, [3, 5]);
      const tape = new Tape();
      let z!: Tensor;
      const loss = tape.record(() => {
        z = matmul(xt, wt);
        return head(z);
      });
      const [gz, gw] = tape.gradient(loss, [z, wt]);
      const [gwAlone] = tape.gradient(loss, [wt]);
      return { gz, gw, gwAlone, z };
    });
    const out = {
      gz: (await r.gz.data()) as Float64Array,
      gw: (await r.gw.data()) as Float64Array,
      gwAlone: (await r.gwAlone.data()) as Float64Array,
      zValues: (await r.z.data()) as Float64Array,
    };
    for (const t of [r.gz, r.gw, r.gwAlone, r.z]) t.dispose();
    return out;
  })();
  assert.ok(
    zValues.every((v) => Math.abs(v) > 1e-4),
    'z must stay away from the ReLU kink for this check',
  );
  // dL/dz: perturb z itself and evaluate only the part of the graph after it.
  const numericZ = await finiteDiff((zv) => head(tensor(zv, [4, 5])), zValues);
  assertClose(gz, numericZ, 'dL/dz vs finite differences through z', 1e-5, 1e-7);
  assert.ok(maxAbs(gz) > 1e-3, 'dL/dz is not trivially zero');
  // dL/dw is the total derivative (through z), the same as asking for w alone.
  const numericW = await finiteDiff((wv) => head(matmul(tensor(x, [4, 3]), tensor(wv, [3, 5]))), w);
  assertClose(gw, numericW, 'dL/dw vs finite differences', 1e-5, 1e-7);
  assertClose(gw, gwAlone, 'dL/dw with and without z in wrt', 0, 0);
  // And dL/dw = xᵀ·dL/dz.
  const xtdz = new Float64Array(15);
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 5; j++) for (let r = 0; r < 4; r++) xtdz[i * 5 + j] += x[r * 3 + i] * gz[r * 5 + j];
  assertClose(gw, xtdz, 'dL/dw = xᵀ·dL/dz', 1e-12, 1e-14);
});

test('tape: gradient of a non-scalar output with a seed (a VJP)', async () => {
  setBackend(cpu64);
  const xv = uniform([3, 4]).values as Float64Array;
  const sv = uniform([3, 4]).values as Float64Array;
  const [g, gRef] = tidy(() => {
    const x = tensor(xv, [3, 4]);
    const seed = tensor(sv, [3, 4]);
    const tape = new Tape();
    const y = tape.record(() => mul(exp(x), x)); // y = x·eˣ, dy/dx = (1 + x)·eˣ
    const g = tape.gradient(y, [x], seed)[0];
    const tape2 = new Tape();
    const s = tape2.record(() => sum(mul(mul(exp(x), x), seed)));
    return [g, tape2.gradient(s, [x])[0]];
  });
  const expected = xv.map((v, i) => sv[i] * (1 + v) * Math.exp(v));
  assertClose(await g.data(), expected, 'seeded VJP vs formula', 1e-12, 1e-14);
  assertClose(await g.data(), await gRef.data(), 'seeded VJP vs gradient of Σ seed·y', 1e-12, 1e-14);
  g.dispose();
  gRef.dispose();
  // A seed must match the target.
  tidy(() => {
    const x = tensor([1, 2, 3]);
    const tape = new Tape();
    const y = tape.record(() => exp(x));
    assert.throws(
      () => tape.gradient(y, [x], tensor([1, 2])),
      /seed of shape \[2\] does not match target of shape \[3\]/,
    );
  });
});

test('tape: a tensor used twice accumulates (y = x·x + x)', async () => {
  setBackend(cpu64);
  const xv = uniform([2, 5]).values as Float64Array;
  const [g, g2] = tidy(() => {
    const x = tensor(xv, [2, 5]);
    const tape = new Tape();
    const y = tape.record(() => sum(add(mul(x, x), x)));
    const tape2 = new Tape();
    // Used three times across ops, one of them broadcast: Σ (x·x·x + x·sum(x)).
    const z = tape2.record(() => sum(add(mul(mul(x, x), x), mul(x, sum(x)))));
    return [tape.gradient(y, [x])[0], tape2.gradient(z, [x])[0]];
  });
  assertClose(
    await g.data(),
    xv.map((v) => 2 * v + 1),
    'd/dx (x² + x)',
    1e-14,
    1e-15,
  );
  const total = xv.reduce((a, b) => a + b, 0);
  assertClose(
    await g2.data(),
    xv.map((v) => 3 * v * v + 2 * total),
    'd/dx Σ(x³ + x·Σx) = 3x² + 2Σx',
    1e-13,
    1e-14,
  );
  g.dispose();
  g2.dispose();
  await gradCheck((x) => sum(add(mul(x, x), x)), [uniform([2, 5])], 'x·x + x');
  await gradCheck((x) => sum(add(mul(mul(x, x), x), mul(x, sum(x)))), [uniform([2, 5])], 'x·x·x + x·Σx');
});

test('tape: noGrad pauses recording; isRecording reflects it', async () => {
  setBackend(cpu64);
  assert.is(isRecording(), false);
  const xv = Float64Array.from([0.5, -1, 2]);
  const g = tidy(() => {
    const x = tensor(xv);
    const tape = new Tape();
    const loss = tape.record(() => {
      assert.is(isRecording(), true);
      const c = noGrad(() => {
        assert.is(isRecording(), false);
        return mul(x, x); // a constant for the tape
      });
      assert.is(isRecording(), true);
      return sum(mul(c, x));
    });
    return tape.gradient(loss, [x])[0];
  });
  assert.is(isRecording(), false);
  // Treating c = x² as a constant: d/dx Σ c·x = x², not 3x².
  assert.equal(Array.from(await g.data()), [0.25, 1, 4]);
  g.dispose();
});

test('tape: zeros for an unrelated tensor; errors for a non-scalar target without seed and nested record', async () => {
  setBackend(cpu64);
  const [gx, gu, gv] = tidy(() => {
    const x = tensor([1, 2, 3]);
    const unrelated = tensor([
      [5, 6],
      [7, 8],
    ]);
    const alsoUnrelated = tensor([4, 4, 4]);
    const tape = new Tape();
    const y = tape.record(() => {
      mul(alsoUnrelated, alsoUnrelated); // recorded, but not on the path to the loss
      return exp(x);
    });
    const loss = tape.record(() => sum(y));
    return tape.gradient(loss, [x, unrelated, alsoUnrelated]);
  });
  assert.equal([...gu.shape], [2, 2]);
  assert.is(gu.dtype, 'float32');
  assertClose(await gx.data(), [Math.E, Math.exp(2), Math.exp(3)], 'd/dx Σ eˣ', 1e-14, 0);
  assert.equal(Array.from(await gu.data()), [0, 0, 0, 0]);
  assert.equal(Array.from(await gv.data()), [0, 0, 0]);
  for (const t of [gx, gu, gv]) t.dispose();
  // Non-scalar target without a seed.
  tidy(() => {
    const x = tensor([1, 2, 3]);
    const tape = new Tape();
    const y = tape.record(() => exp(x));
    assert.throws(() => tape.gradient(y, [x]), /target has shape \[3\]; pass a seed/);
  });
  // Nested record: an error, and the outer tape keeps recording afterwards.
  const g = tidy(() => {
    const x = tensor([1, 2, 3]);
    const outer = new Tape();
    const inner = new Tape();
    const loss = outer.record(() => {
      const y = square(x);
      assert.throws(() => inner.record(() => exp(x)), /another tape is already recording.*tapes do not nest/);
      assert.is(isRecording(), true);
      return sum(y);
    });
    assert.is(isRecording(), false);
    return outer.gradient(loss, [x])[0];
  });
  assert.equal(Array.from(await g.data()), [2, 4, 6]);
  g.dispose();
  // A tape that threw inside record stops recording.
  const tape = new Tape();
  assert.throws(
    () =>
      tape.record(() => {
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.is(isRecording(), false);
});

test('tape: gradient can be taken twice from one tape, and of the target itself', async () => {
  setBackend(cpu64);
  const [a, b, self] = tidy(() => {
    const x = tensor([0.5, 1.5]);
    const tape = new Tape();
    const loss = tape.record(() => sum(mul(square(x), tensor([2, 3]))));
    return [tape.gradient(loss, [x])[0], tape.gradient(loss, [x])[0], tape.gradient(loss, [loss])[0]];
  });
  assert.equal(Array.from(await a.data()), [2, 9]);
  assert.equal(Array.from(await b.data()), [2, 9]);
  assert.equal(Array.from(await self.data()), [1]);
  for (const t of [a, b, self]) t.dispose();
});

// ---------------------------------------------------------------------------------------------
// The same gradients on WebGPU

interface Case {
  name: string;
  inputs: In[];
  /** Index of the tensor inputs to differentiate, and the loss. */
  wrt: number[];
  loss: (...ts: Tensor[]) => Tensor;
}

async function gradientsOn(backend: Backend, c: Case): Promise<Float32Array[]> {
  setBackend(backend);
  const grads = tidy(() => {
    const ts = c.inputs.map((inp) =>
      put(backend, inp.values instanceof Int32Array ? inp.values : Float32Array.from(inp.values), inp.shape),
    );
    const tape = new Tape();
    const loss = tape.record(() => c.loss(...ts));
    return tape.gradient(
      loss,
      c.wrt.map((i) => ts[i]),
    );
  });
  const out: Float32Array[] = [];
  for (const g of grads) {
    out.push((await g.data()) as Float32Array);
    g.dispose();
  }
  return out;
}

test('WebGPU: tape gradients match the CPU (float32) on an elementwise network, a CE head and an intermediate', async () => {
  const gpu = await webgpu();
  const cases: Case[] = [
    {
      name: 'elementwise + reductions + CE',
      inputs: [uniform([8, 10]), uniform([10], -1, 1), uniform([10], -0.5, 0.5), labelsOf(8, 10)],
      wrt: [0, 1, 2],
      loss: (x, w, b, y) => {
        const h = relu(add(mul(x, w), b));
        const extra = sum(where(gt(x, tensor(0)), exp(mul(x, tensor(0.1))), neg(x)));
        return add(add(softmaxCrossEntropy(h, y), mean(max(h, 1))), div(extra, tensor(80)));
      },
    },
    {
      name: 'logSoftmax, transpose, reshape, clamp, min',
      inputs: [uniform([6, 4]), uniform([4, 6], 0.5, 2)],
      wrt: [0, 1],
      loss: (a, b) => {
        const l = logSoftmax(add(a, transpose(b)));
        return add(mean(mul(reshape(l, [4, 6]), clamp(b, 0.7, 1.6))), sum(min(sqrt(b), 0)));
      },
    },
    {
      name: 'max/min ties, maximum/minimum, reciprocal, log',
      inputs: [
        { values: Float64Array.from({ length: 24 }, () => rng.int(5) * 0.25 + 0.5), shape: [4, 6] },
        uniform([6], 0.5, 2),
      ],
      wrt: [0, 1],
      loss: (a, b) => add(sum(mul(max(a, 0), min(a, 1, true))), mean(log(maximum(reciprocal(a), minimum(a, b))))),
    },
  ];
  for (const c of cases) {
    const expected = await gradientsOn(cpu, c);
    const actual = await gradientsOn(gpu, c);
    assert.is(actual.length, expected.length);
    expected.forEach((e, i) =>
      assertClose(actual[i], e, `${c.name}: gradient ${i}`, 1e-4, 1e-5 * Math.max(1, maxAbs(e))),
    );
  }
  // dL/dz for an intermediate z on both backends.
  const xv = uniform([5, 7]).values;
  const intermediate = async (backend: Backend) => {
    setBackend(backend);
    const [gz, gx] = tidy(() => {
      const x = put(backend, Float32Array.from(xv), [5, 7]);
      const tape = new Tape();
      let z!: Tensor;
      const loss = tape.record(() => {
        z = affine(x, 2, -0.5);
        return sum(mul(square(relu(z)), tensor(cotangent([5, 7]), [5, 7])));
      });
      return tape.gradient(loss, [z, x]);
    });
    const out = [await gz.data(), await gx.data()];
    gz.dispose();
    gx.dispose();
    return out;
  };
  const [czs, cxs] = await intermediate(cpu);
  const [gzs, gxs] = await intermediate(gpu);
  assertClose(gzs, czs, 'WebGPU dL/dz', 1e-5, 1e-6);
  assertClose(gxs, cxs, 'WebGPU dL/dx', 1e-5, 1e-6);
  assertClose(
    cxs,
    Array.from(czs).map((v) => 2 * v),
    'dL/dx = 2·dL/dz',
    1e-6,
    1e-7,
  );
});

test('WebGPU: 2-layer MLP gradients (matmul) match the CPU', async () => {
  const gpu = await webgpu();
  const c: Case = { name: 'MLP', inputs: mlpInputs(16, 12, 20, 5), wrt: [0, 1, 2, 3, 4], loss: mlpLoss };
  const expected = await gradientsOn(cpu, c);
  const actual = await gradientsOn(gpu, c);
  expected.forEach((e, i) => assertClose(actual[i], e, `MLP gradient ${i}`, 1e-4, 1e-5 * Math.max(1, maxAbs(e))));
});

test.run();
