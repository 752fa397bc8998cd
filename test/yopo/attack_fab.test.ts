// FAB-T against exact answers: on linear classifiers the minimal adversarial perturbation is known in
// closed form, so FAB's norms and robust accuracy can be checked against it; on a small nonlinear model
// it must lower accuracy with inputs that are truly misclassified, in the box and the ball; no tensor
// outlives a call; and it runs on WebGPU.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Backend, Random, type Tensor, relu, reshape, setBackend, tensor, tidy } from '../../engine/index.js';
import { Classifier, Linear } from '../../nn/index.js';
import { type FabNorm, HyperplaneProjector, fabTargetedAttack } from '../../yopo/attacks/fab.js';
import { cpu, webgpu } from '../helpers.js';

const SIDE = 8;
const FEATURES = SIDE * SIDE;

/** Linear (hidden = 0) or one-hidden-layer ReLU network on [1, 8, 8] inputs. */
class Mlp extends Classifier {
  readonly inputShape = [1, SIDE, SIDE] as const;
  readonly fc1: Linear;
  readonly fc2: Linear | null;

  constructor(
    readonly classes: number,
    hidden: number,
    rng: Random,
  ) {
    super();
    this.fc1 = this.registerModule('fc1', new Linear(FEATURES, hidden || classes, rng));
    this.fc2 = hidden ? this.registerModule('fc2', new Linear(hidden, classes, rng)) : null;
  }

  firstLayer(x: Tensor): Tensor {
    const z = this.fc1.forward(reshape(x, [x.shape[0], FEATURES]));
    return this.fc2 ? relu(z) : z;
  }

  rest(z: Tensor): Tensor {
    return this.fc2 ? this.fc2.forward(z) : z;
  }

  firstLayerParameters(): Tensor[] {
    return this.fc1.parameters();
  }
}

function uniformInputs(count: number, seed: number, lo: number, hi: number): Float32Array {
  const rng = new Random(seed);
  return Float32Array.from({ length: count * FEATURES }, () => rng.uniform(lo, hi));
}

async function logitsOf(model: Classifier, x: Float32Array): Promise<Float64Array> {
  const out = tidy(() => model.forward(tensor(x, [x.length / FEATURES, 1, SIDE, SIDE])));
  const values = Float64Array.from(await out.data());
  out.dispose();
  return values;
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < row.length; c++) if (row[c] > row[best]) best = c;
  return best;
}

function dist(a: ArrayLike<number>, b: ArrayLike<number>, norm: FabNorm): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s = norm === 'linf' ? Math.max(s, Math.abs(a[i] - b[i])) : s + (a[i] - b[i]) ** 2;
  return norm === 'linf' ? s : Math.sqrt(s);
}

async function runFab(
  model: Classifier,
  x: Float32Array,
  labels: Int32Array,
  eps: number,
  norm: FabNorm,
  extra: { steps?: number; restarts?: number; targets?: number } = {},
) {
  const input = tensor(x, [labels.length, 1, SIDE, SIDE]);
  const adv = await fabTargetedAttack(model, input, labels, { eps, norm, ...extra }, new Random(3));
  const values = Float32Array.from(await adv.data());
  input.dispose();
  adv.dispose();
  return values;
}

/** Per example: in [0, 1], within ε, and either x itself or misclassified. Returns the robust mask. */
async function checkReturned(
  model: Classifier,
  x: Float32Array,
  adv: Float32Array,
  labels: Int32Array,
  eps: number,
  norm: FabNorm,
  what: string,
): Promise<boolean[]> {
  const logits = await logitsOf(model, adv);
  const classes = model.classes;
  return Array.from(labels, (label, i) => {
    const a = adv.subarray(i * FEATURES, (i + 1) * FEATURES);
    const c = x.subarray(i * FEATURES, (i + 1) * FEATURES);
    assert.ok(
      a.every((v) => v >= 0 && v <= 1),
      `${what}: example ${i} leaves [0, 1]`,
    );
    assert.ok(dist(a, c, norm) <= eps, `${what}: example ${i} at distance ${dist(a, c, norm)} > ε ${eps}`);
    const predicted = argmax(logits.subarray(i * classes, (i + 1) * classes));
    const unchanged = a.every((v, j) => v === c[j]);
    assert.ok(unchanged || predicted !== label, `${what}: example ${i} was changed but is still classified ${label}`);
    return predicted === label;
  });
}

// ---------------------------------------------------------------------------------------------
// Exact answers for a linear model: the margin f_t − f_y = u·x + m0 with u = w_t − w_y.

/** A linear model whose logits are all equal at the centre of the box (so its classes share the inputs),
 *  and its weights on the host. */
async function linearModel(
  classes: number,
  seed: number,
): Promise<{ model: Mlp; weights: { w: Float64Array; b: Float64Array } }> {
  const model = new Mlp(classes, 0, new Random(seed)).eval();
  const w = Float64Array.from(await model.fc1.weight.data());
  const b = Float64Array.from(
    { length: classes },
    (_, c) => -0.5 * w.subarray(c * FEATURES, (c + 1) * FEATURES).reduce((s, v) => s + v, 0),
  );
  model.fc1.bias.assign(tensor(Float32Array.from(b), [classes]));
  return { model, weights: { w, b: Float64Array.from(await model.fc1.bias.data()) } };
}

function marginTerms(weights: { w: Float64Array; b: Float64Array }, x: ArrayLike<number>, y: number, t: number) {
  const u = Float64Array.from(
    { length: FEATURES },
    (_, i) => weights.w[t * FEATURES + i] - weights.w[y * FEATURES + i],
  );
  let margin = weights.b[t] - weights.b[y];
  for (let i = 0; i < FEATURES; i++) margin += u[i] * x[i];
  return { u, margin };
}

/** The largest rise of u·δ over |δ|∞ ≤ λ, x + δ in [0, 1]: each coordinate moves λ along sign(u), within the box. */
function linfRise(u: Float64Array, x: ArrayLike<number>, lambda: number): number {
  let s = 0;
  for (let i = 0; i < FEATURES; i++) s += Math.max(u[i] * Math.max(-lambda, -x[i]), u[i] * Math.min(lambda, 1 - x[i]));
  return s;
}

/** Minimal L∞ norm to reach margin 0 inside the box (bisection on the closed form above); ∞ if the box cannot. */
function linfDistance(u: Float64Array, margin: number, x: ArrayLike<number>): number {
  if (margin >= 0) return 0;
  if (margin + linfRise(u, x, 1) < 0) return Infinity;
  let lo = 0;
  let hi = 1;
  for (let k = 0; k < 60; k++) {
    const mid = (lo + hi) / 2;
    if (margin + linfRise(u, x, mid) >= 0) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Minimal L2 norm, the distance to the hyperplane, where its foot lies in the box (asserted when asked). */
function l2Distance(u: Float64Array, margin: number, x: ArrayLike<number>, footInBox: boolean): number {
  const uu = u.reduce((s, v) => s + v * v, 0);
  for (let i = 0; footInBox && i < FEATURES; i++) {
    const foot = x[i] - (margin / uu) * u[i];
    assert.ok(foot >= 0 && foot <= 1, 'test setup: the closest point on the hyperplane leaves the box');
  }
  return Math.abs(margin) / Math.sqrt(uu);
}

/**
 * Minimal distance to any other class (∞ if none is reachable), 0 when already misclassified. In L2 it
 * is exact inside the box only where the hyperplane's foot lies in it (the two-class test asserts that);
 * otherwise it is the distance without the box, exact for the question "does a ball inside the box
 * reach the class", which the ten-class test asks.
 */
function exactDistance(
  weights: { w: Float64Array; b: Float64Array },
  x: ArrayLike<number>,
  y: number,
  classes: number,
  norm: FabNorm,
): number {
  let best = Infinity;
  for (let t = 0; t < classes; t++) {
    if (t === y) continue;
    const { u, margin } = marginTerms(weights, x, y, t);
    best = Math.min(
      best,
      norm === 'linf' ? linfDistance(u, margin, x) : margin >= 0 ? 0 : l2Distance(u, margin, x, classes === 2),
    );
  }
  return best;
}

// Inputs fill the box for L∞ (its faces matter); for L2 they stay in [0.3, 0.7], where with these
// weights the closest points on the hyperplanes and every ball used lie inside the box.
const inputRange = (norm: FabNorm): [number, number] => (norm === 'linf' ? [0, 1] : [0.3, 0.7]);

for (const norm of ['linf', 'l2'] as const) {
  test(`${norm}: on a two-class linear model FAB's perturbation is within 1% of the exact minimal norm`, async () => {
    setBackend(cpu);
    const count = 100;
    const { model, weights } = await linearModel(2, 10);
    const x = uniformInputs(count, 11, ...inputRange(norm));
    const logits = await logitsOf(model, x);
    const labels = Int32Array.from({ length: count }, (_, i) => argmax(logits.subarray(2 * i, 2 * i + 2)));
    const adv = await runFab(model, x, labels, 10, norm);
    await checkReturned(model, x, adv, labels, 10, norm, `${norm} two-class`);
    let reachable = 0;
    let worst = 0;
    for (let i = 0; i < count; i++) {
      const xi = x.subarray(i * FEATURES, (i + 1) * FEATURES);
      const exact = exactDistance(weights, xi, labels[i], 2, norm);
      const found = dist(adv.subarray(i * FEATURES, (i + 1) * FEATURES), xi, norm);
      if (exact === Infinity) {
        assert.is(found, 0, `example ${i}: no adversarial exists in the box, yet x was changed`);
        continue;
      }
      reachable++;
      assert.ok(found >= exact * (1 - 1e-5), `example ${i}: ${found} is below the exact minimum ${exact}`);
      worst = Math.max(worst, found / exact - 1);
    }
    assert.ok(reachable >= count / 2, `only ${reachable} of ${count} examples can be broken inside the box`);
    assert.ok(worst <= 0.01, `${norm}: worst excess over the minimal norm ${(100 * worst).toFixed(2)}%`);
    model.dispose();
  });

  test(`${norm}: on a 10-class linear model FAB-T's robust accuracy matches the exact one within 1 point`, async () => {
    setBackend(cpu);
    const count = 300;
    const classes = 10;
    const { model, weights } = await linearModel(classes, 20);
    const x = uniformInputs(count, 21, ...inputRange(norm));
    const logits = await logitsOf(model, x);
    // Labels: the prediction, except every tenth, so that some examples start misclassified.
    const labels = Int32Array.from(
      { length: count },
      (_, i) => (argmax(logits.subarray(i * classes, (i + 1) * classes)) + (i % 10 === 0 ? 1 : 0)) % classes,
    );
    const exact = Array.from(labels, (y, i) =>
      exactDistance(weights, x.subarray(i * FEATURES, (i + 1) * FEATURES), y, classes, norm),
    );
    const finite = exact.filter((d) => d > 0 && d < Infinity).sort((a, b) => a - b);
    const eps = finite[Math.floor(finite.length / 2)] * 1.0001; // half of the correct examples robust
    if (norm === 'l2') assert.ok(eps < 0.3, `test setup: the L2 ball (ε ${eps}) must stay inside the box`);
    const adv = await runFab(model, x, labels, eps, norm);
    const robust = await checkReturned(model, x, adv, labels, eps, norm, `${norm} ten-class`);
    const exactRobust = exact.map((d) => d > eps);
    robust.forEach((r, i) => {
      if (!r)
        assert.ok(
          exact[i] <= eps * (1 + 1e-6),
          `example ${i}: broken by FAB at ε ${eps}, but its exact minimal distance is ${exact[i]}`,
        );
    });
    const fabAcc = robust.filter(Boolean).length / count;
    const exactAcc = exactRobust.filter(Boolean).length / count;
    assert.ok(exactAcc > 0.2 && exactAcc < 0.8, `test setup: exact robust accuracy ${exactAcc}`);
    assert.ok(fabAcc >= exactAcc - 1e-9, `FAB ${fabAcc} below the exact robust accuracy ${exactAcc}: impossible`);
    assert.ok(
      fabAcc - exactAcc <= 0.01,
      `${norm}: FAB-T robust accuracy ${(100 * fabAcc).toFixed(1)}% vs exact ${(100 * exactAcc).toFixed(1)}%`,
    );
    model.dispose();
  });
}

// ---------------------------------------------------------------------------------------------
// The projection onto hyperplane ∩ box

test('projection: lands on the hyperplane inside the box, matches the closed form away from the box, and goes to the nearest corner when unreachable', () => {
  const rng = new Random(30);
  const n = 37;
  for (const norm of ['linf', 'l2'] as const) {
    const projector = new HyperplaneProjector(n, norm);
    const d = new Float64Array(n);
    for (let trial = 0; trial < 50; trial++) {
      const t = Float64Array.from({ length: n }, () => rng.uniform(0, 1));
      const w = Float64Array.from({ length: n }, (_, i) => (i % 7 === 3 ? 0 : rng.uniform(-1, 1)));
      const wt = w.reduce((s, v, i) => s + v * t[i], 0);
      // Reachable: b at a random point of the box's range of w·z.
      const lo = w.reduce((s, v) => s + Math.min(v, 0), 0);
      const hi = w.reduce((s, v) => s + Math.max(v, 0), 0);
      const b = rng.uniform(lo, hi);
      projector.project(t, w, b, d);
      const landed = w.reduce((s, v, i) => s + v * (t[i] + d[i]), 0);
      assert.ok(Math.abs(landed - b) < 1e-9, `${norm}: w·(t + d) = ${landed}, b = ${b}`);
      assert.ok(
        d.every((v, i) => t[i] + v >= -1e-12 && t[i] + v <= 1 + 1e-12),
        `${norm}: left the box`,
      );
      assert.ok(
        d.every((v, i) => w[i] !== 0 || v === 0),
        `${norm}: moved a coordinate with w = 0`,
      );
      // Optimal: no shorter move reaches b (the exact minimal L∞ norm by bisection on the closed form).
      if (norm === 'linf') {
        const u = Float64Array.from(w, (v) => (wt > b ? -v : v));
        const gap = -Math.abs(wt - b);
        let lo2 = 0;
        let hi2 = 1;
        for (let k = 0; k < 60; k++) {
          const mid = (lo2 + hi2) / 2;
          let rise = 0;
          for (let i = 0; i < n; i++) rise += Math.max(u[i] * Math.max(-mid, -t[i]), u[i] * Math.min(mid, 1 - t[i]));
          if (gap + rise >= 0) hi2 = mid;
          else lo2 = mid;
        }
        const found = d.reduce((s, v) => Math.max(s, Math.abs(v)), 0);
        assert.ok(Math.abs(found - hi2) < 1e-9, `linf: ‖d‖∞ ${found} vs exact ${hi2}`);
      } else {
        // KKT: every coordinate not at a face moves by μ·w_i with one common μ.
        const free = [...d.keys()].filter((i) => w[i] !== 0 && t[i] + d[i] > 1e-12 && t[i] + d[i] < 1 - 1e-12);
        const mus = free.map((i) => d[i] / w[i]);
        assert.ok(
          mus.every((mu) => Math.abs(mu - mus[0]) < 1e-9 * Math.max(1, Math.abs(mus[0]))),
          'l2: free coordinates move by different multiples of w',
        );
      }
    }
    // Away from the box: the unconstrained closed forms.
    const t = new Float64Array(n).fill(0.5);
    const w = Float64Array.from({ length: n }, () => rng.uniform(-1, 1));
    const l1 = w.reduce((s, v) => s + Math.abs(v), 0);
    const l2sq = w.reduce((s, v) => s + v * v, 0);
    const b = 0.5 * w.reduce((s, v) => s + v, 0) + 0.01;
    projector.project(t, w, b, d);
    for (let i = 0; i < n; i++) {
      const expected = norm === 'linf' ? (0.01 / l1) * Math.sign(w[i]) : (0.01 / l2sq) * w[i];
      assert.ok(Math.abs(d[i] - expected) < 1e-12, `${norm}: closed form, coordinate ${i}: ${d[i]} vs ${expected}`);
    }
    // Unreachable: the corner that maximises w·z.
    projector.project(t, w, 1e3, d);
    for (let i = 0; i < n; i++) assert.is(t[i] + d[i], w[i] > 0 ? 1 : 0, `${norm}: corner coordinate ${i}`);
  }
});

// ---------------------------------------------------------------------------------------------
// A nonlinear model, restarts, options, memory

async function mlpSetup(backend: Backend, count: number) {
  setBackend(backend);
  const model = new Mlp(10, 32, new Random(40)).eval();
  const x = uniformInputs(count, 41, 0, 1);
  const logits = await logitsOf(model, x);
  const labels = Int32Array.from({ length: count }, (_, i) => argmax(logits.subarray(i * 10, (i + 1) * 10)));
  return { model, x, labels };
}

for (const [norm, eps] of [
  ['linf', 0.05],
  ['l2', 0.3],
] as const) {
  test(`${norm}: on a ReLU network FAB-T lowers accuracy with truly misclassified inputs; a second restart only adds`, async () => {
    const { model, x, labels } = await mlpSetup(cpu, 60);
    // 30 steps instead of 100 keep the test short; the linear tests above run the standard 100.
    const one = await checkReturned(
      model,
      x,
      await runFab(model, x, labels, eps, norm, { steps: 30 }),
      labels,
      eps,
      norm,
      `${norm} mlp`,
    );
    const two = await checkReturned(
      model,
      x,
      await runFab(model, x, labels, eps, norm, { steps: 30, restarts: 2 }),
      labels,
      eps,
      norm,
      `${norm} mlp, 2 restarts`,
    );
    const accuracy = (r: boolean[]) => r.filter(Boolean).length / r.length;
    assert.ok(accuracy(one) < 0.6, `${norm}: robust accuracy ${accuracy(one)} from 1.0 clean`);
    // The first restart is deterministic (it starts at x), so the second can only break more.
    one.forEach((r, i) => assert.ok(r || !two[i], `example ${i}: broken with 1 restart, not with 2`));
    model.dispose();
  });
}

test('bad options give one-line errors naming the problem', async () => {
  const { model, x, labels } = await mlpSetup(cpu, 4);
  const input = tensor(x, [4, 1, SIDE, SIDE]);
  const rng = new Random(1);
  const cases: [Parameters<typeof fabTargetedAttack>[3], Int32Array, RegExp][] = [
    [{ eps: 0, norm: 'linf' }, labels, /eps must be a positive number/],
    [{ eps: 0.1, norm: 'l1' as FabNorm }, labels, /norm must be 'linf' or 'l2'/],
    [{ eps: 0.1, norm: 'l2', steps: 2.5 }, labels, /steps must be a positive integer/],
    [{ eps: 0.1, norm: 'l2', restarts: 0 }, labels, /restarts must be a positive integer/],
    [{ eps: 0.1, norm: 'l2' }, labels.subarray(0, 3), /one label per row, got 3 labels/],
    [{ eps: 0.1, norm: 'l2' }, Int32Array.of(0, 1, 10, 2), /label 10 at index 2 is outside \[0, 10\)/],
  ];
  for (const [options, l, message] of cases) {
    try {
      await fabTargetedAttack(model, input, l, options, rng);
      assert.unreachable(`accepted ${JSON.stringify(options)}`);
    } catch (error) {
      const text = (error as Error).message;
      assert.match(text, message);
      assert.not.match(text, /\n/);
    }
  }
  input.dispose();
  model.dispose();
});

test('no tensor outlives a call: live buffers are flat across two calls', async () => {
  const { model, x, labels } = await mlpSetup(cpu, 8);
  const input = tensor(x, [8, 1, SIDE, SIDE]);
  const live = () => cpu.memory().liveBuffers;
  const start = live();
  for (let call = 0; call < 2; call++) {
    const adv = await fabTargetedAttack(
      model,
      input,
      labels,
      { eps: 0.05, norm: call ? 'l2' : 'linf', steps: 10, restarts: 2 },
      new Random(call),
    );
    assert.is(live(), start + 1, `call ${call}: only the result is alive`);
    adv.dispose();
    assert.is(live(), start, `call ${call}`);
  }
  input.dispose();
  model.dispose();
});

test('WebGPU: FAB-T runs there and gives valid adversarial inputs', async () => {
  const gpu = await webgpu();
  const { model, x, labels } = await mlpSetup(gpu, 16);
  const start = gpu.memory().liveBuffers;
  const adv = await runFab(model, x, labels, 0.05, 'linf', { steps: 20 });
  assert.is(gpu.memory().liveBuffers, start, 'no buffer outlives the call');
  const robust = await checkReturned(model, x, adv, labels, 0.05, 'linf', 'webgpu');
  assert.ok(robust.filter(Boolean).length < 12, `robust ${robust.filter(Boolean).length} of 16 at ε 0.05`);
  model.dispose();
});

test.run();
