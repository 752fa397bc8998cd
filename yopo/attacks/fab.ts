// FAB-T, the targeted Fast Adaptive Boundary attack (Croce & Hein, ICML 2020), as AutoAttack's standard
// version runs it. For each target t among the top-`targets` other classes (by clean logit), and each
// restart, on the points not yet broken, `steps` times:
//
//   linearise f_t − f_y at x¹: the decision boundary becomes the hyperplane w·z = b,
//     w = ∇(f_t − f_y)(x¹),  b = w·x¹ − (f_t − f_y)(x¹)
//   δ¹, δ⁰ = the smallest moves (L∞ or L2) that put x¹, x⁰ on that hyperplane inside [0, 1]^d
//   α = min(‖δ¹‖ / (‖δ¹‖ + ‖δ⁰‖), α_max)                      (bias towards the clean point x⁰)
//   x¹ ← clip((1 − α)(x¹ + η δ¹) + α (x⁰ + η δ⁰), 0, 1)       (η > 1 overshoots the boundary)
//   if x¹ is misclassified: keep it if it is the closest one yet, then x¹ ← x⁰ + β (x¹ − x⁰)
//
// A point is broken when the closest misclassified x¹ lies within ε; it is not attacked again. ε only
// decides that, and the radius ε/2 of a restart's random start. The model (forward, ∇ of f_t − f_y) runs
// on the backend; the projections, sorting-based, run per example on the host in float64.

import { Tape, type Tensor, mul, sum, tensor, tidy } from '../../engine/index.js';
import type { Random, TypedArray } from '../../engine/index.js';
import type { Classifier } from '../../nn/index.js';
import { argmaxRows, gatherRows, paddedIndices } from './rows.js';

/** The norms FAB-T runs in: L∞ or L2. */
export type FabNorm = 'linf' | 'l2';

/** Options of fabTargetedAttack: radius eps (in input units, inputs in [0, 1]) in the given norm, and the iteration, target and restart counts. */
export interface FabOptions {
  eps: number;
  norm: FabNorm;
  /** Iterations per target and restart (100). */
  steps?: number;
  /** How many of the other classes to target, highest clean logit first (9; at most classes − 1). */
  targets?: number;
  /** Runs per target; the first starts at x, the others at a random point at distance ε/2 (1). */
  restarts?: number;
}

/** The published constants of the standard version. */
const ALPHA_MAX = 0.1;
const ETA = 1.05;
const BETA = 0.9;

/**
 * FAB-T: returns adversarial inputs [B, ...] within the ε-ball and [0, 1], each checked misclassified by
 * a forward pass; for examples where none was found (or that are misclassified already), x itself.
 * The caller puts the model in eval mode (examples must not interact) and selects x's backend.
 */
export async function fabTargetedAttack(
  model: Classifier,
  x: Tensor,
  labels: Int32Array,
  o: FabOptions,
  rng: Random,
): Promise<Tensor> {
  const { steps, targets, restarts } = checkOptions(model, x, labels, o);
  const batch = x.shape[0];
  const n = x.size / batch;
  const rowShape = x.shape.slice(1);
  const clean = Float32Array.from(await x.data());
  const out = Float32Array.from(clean);
  const cleanLogits = await logitsAt(model, clean, x.shape);
  const ranked = Array.from({ length: batch }, (_, i) => classesByLogit(cleanLogits, i, model.classes));
  const robust = ranked.map((order, i) => order[0] === labels[i]);

  for (let k = 1; k <= targets; k++) {
    for (let r = 0; r < restarts; r++) {
      const rows = robust.flatMap((ok, i) => (ok ? [i] : []));
      if (rows.length === 0) break;
      // Padded to a size of paddedIndices's ladder: the shrinking set of robust points would bring a new size (compiles) each run.
      const batchRows = paddedIndices(rows);
      const runShape = [batchRows.length, ...rowShape];
      const x0 = gatherRows(clean, n, batchRows);
      const y = Int32Array.from(batchRows, (i) => labels[i]);
      const target = Int32Array.from(batchRows, (i) => ranked[i][k]);
      const run = await fabRun(model, x0, y, target, runShape, o, steps, r > 0 ? rng : null);
      // AutoAttack's acceptance test: misclassified (by a fresh forward pass) and within ε.
      const predicted = argmaxRows(await logitsAt(model, run, runShape), model.classes);
      rows.forEach((i, j) => {
        const adv = run.subarray(j * n, (j + 1) * n);
        if (predicted[j] !== labels[i] && distance(adv, x0.subarray(j * n, (j + 1) * n), o.norm) <= o.eps) {
          robust[i] = false;
          out.set(adv, i * n);
        }
      });
    }
  }

  // The batch as returned: an input that the model does not misclassify here is given back clean.
  const finalPredicted = argmaxRows(await logitsAt(model, out, x.shape), model.classes);
  for (let i = 0; i < batch; i++) {
    if (finalPredicted[i] === labels[i]) out.set(clean.subarray(i * n, (i + 1) * n), i * n);
  }
  return tensor(out, x.shape);
}

/** One FAB run against one target class per example; returns the closest misclassified point found
 *  for each example (x⁰ itself where none was). */
async function fabRun(
  model: Classifier,
  x0: Float32Array,
  y: Int32Array,
  target: Int32Array,
  shape: number[],
  o: FabOptions,
  steps: number,
  randomStart: Random | null,
): Promise<Float32Array> {
  const m = y.length;
  const n = x0.length / m;
  const classes = model.classes;
  const x1 = randomStart ? startInBall(x0, m, o, randomStart) : Float32Array.from(x0);
  const best = Float32Array.from(x0);
  const bestNorm = new Float64Array(m).fill(Infinity);
  const projector = new HyperplaneProjector(n, o.norm);
  const d1 = new Float64Array(n);
  const d0 = new Float64Array(n);
  // Σ_i (f_t − f_y)(x_i): its input gradient is every example's ∇(f_t − f_y) at once.
  const coefficients = new Float32Array(m * classes);
  for (let i = 0; i < m; i++) {
    coefficients[i * classes + target[i]] += 1;
    coefficients[i * classes + y[i]] -= 1;
  }
  const selector = tensor(coefficients, [m, classes]);
  try {
    for (let step = 0; step < steps; step++) {
      const { logits, grad } = await marginGradient(model, x1, shape, selector);
      for (let i = 0; i < m; i++) {
        const xi = x1.subarray(i * n, (i + 1) * n);
        const x0i = x0.subarray(i * n, (i + 1) * n);
        const w = grad.subarray(i * n, (i + 1) * n);
        const margin = logits[i * classes + target[i]] - logits[i * classes + y[i]];
        const b = dot(w, xi) - margin;
        projector.project(xi, w, b, d1);
        projector.project(x0i, w, b, d0);
        const a1 = Math.max(norm(d1, o.norm), 1e-8);
        const a0 = Math.max(norm(d0, o.norm), 1e-8);
        const alpha = Math.min(a1 / (a1 + a0), ALPHA_MAX);
        for (let j = 0; j < n; j++) {
          xi[j] = clip01((1 - alpha) * (xi[j] + ETA * d1[j]) + alpha * (x0i[j] + ETA * d0[j]));
        }
      }
      const predicted = argmaxRows(await logitsAt(model, x1, shape), classes);
      for (let i = 0; i < m; i++) {
        if (predicted[i] === y[i]) continue;
        const xi = x1.subarray(i * n, (i + 1) * n);
        const x0i = x0.subarray(i * n, (i + 1) * n);
        const dist = distance(xi, x0i, o.norm);
        if (dist < bestNorm[i]) {
          bestNorm[i] = dist;
          best.set(xi, i * n);
        }
        // Step back towards x⁰ to look for a closer crossing.
        for (let j = 0; j < n; j++) xi[j] = x0i[j] + BETA * (xi[j] - x0i[j]);
      }
    }
  } finally {
    selector.dispose();
  }
  return best;
}

/**
 * The smallest move d (in the L∞ or L2 norm) that puts a point t on the hyperplane w·z = b inside
 * [0, 1]^n, or, where the box does not reach the hyperplane, the move to the box corner nearest to it.
 * Each coordinate moves towards the hyperplane by min(λ·k_i, r_i): r_i is its room to the box face on
 * that side, k_i its speed, 1 in L∞ and |w_i| in L2 (the KKT conditions); λ ≥ 0 is the smallest value
 * that closes the gap |w·t − b|, i.e. closed(λ) = Σ |w_i| min(λ k_i, r_i) = gap. closed() is piecewise
 * linear with breakpoints λ_i = r_i / k_i. The reference sorts them; here a quickselect-style search
 * narrows the segment holding λ in expected O(n): each round evaluates closed() at one breakpoint and
 * retires the coordinates that are saturated (λ_i below the segment) or linear (above) throughout it.
 */
export class HyperplaneProjector {
  private readonly room: Float64Array;
  private readonly speed: Float64Array;
  private readonly breakAt: Float64Array;
  private readonly active: Int32Array;

  constructor(
    readonly size: number,
    readonly norm: FabNorm,
  ) {
    this.room = new Float64Array(size);
    this.speed = new Float64Array(size);
    this.breakAt = new Float64Array(size);
    this.active = new Int32Array(size);
  }

  /** Writes d into `out` (length `size`). */
  project(t: ArrayLike<number>, w: ArrayLike<number>, b: number, out: Float64Array): void {
    const n = this.size;
    const { room, speed, breakAt, active } = this;
    const excess = dot(w, t) - b;
    const side = excess >= 0 ? 1 : -1; // move so as to lower side·(w·z)
    const gap = Math.abs(excess);
    out.fill(0);
    if (gap === 0) return;
    let count = 0;
    let reachable = 0;
    for (let i = 0; i < n; i++) {
      const wi = w[i];
      const r = side * wi > 0 ? t[i] : 1 - t[i];
      room[i] = r > 0 && wi !== 0 ? r : 0;
      if (room[i] === 0) continue; // cannot move: contributes nothing for any λ
      speed[i] = this.norm === 'linf' ? 1 : Math.abs(wi);
      breakAt[i] = room[i] / speed[i];
      reachable += Math.abs(wi) * room[i];
      active[count++] = i;
    }
    let lambda = Infinity; // unreachable inside the box: every coordinate goes all the way
    if (reachable >= gap) {
      let saturated = 0; // Σ |w_i| r_i of the coordinates saturated on the whole segment
      let slope = 0; // Σ |w_i| k_i of those still moving on the whole segment
      while (count > 0) {
        const pivot = breakAt[active[count >> 1]];
        let closedAtPivot = saturated + pivot * slope;
        for (let k = 0; k < count; k++) {
          const i = active[k];
          closedAtPivot += Math.abs(w[i]) * Math.min(pivot * speed[i], room[i]);
        }
        const below = closedAtPivot >= gap; // λ ≤ pivot: keep the breakpoints under it
        let kept = 0;
        for (let k = 0; k < count; k++) {
          const i = active[k];
          if (below ? breakAt[i] < pivot : breakAt[i] > pivot) active[kept++] = i;
          else if (below) slope += Math.abs(w[i]) * speed[i];
          else saturated += Math.abs(w[i]) * room[i];
        }
        count = kept;
      }
      if (slope > 0) lambda = (gap - saturated) / slope;
    }
    for (let i = 0; i < n; i++) {
      if (room[i] === 0) continue;
      const direction = side * w[i] > 0 ? -1 : 1;
      out[i] = direction * Math.min(lambda * speed[i], room[i]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The model, on the backend

/** The logits at the host inputs x, read back to the host. */
async function logitsAt(model: Classifier, x: Float32Array, shape: readonly number[]): Promise<TypedArray> {
  const logits = tidy(() => model.forward(tensor(x, shape)));
  try {
    return await logits.data();
  } finally {
    logits.dispose();
  }
}

/** Logits and ∇x Σ (selector ⊙ logits) at x, on the host. */
async function marginGradient(
  model: Classifier,
  x: Float32Array,
  shape: readonly number[],
  selector: Tensor,
): Promise<{ logits: TypedArray; grad: TypedArray }> {
  const [logits, grad] = tidy(() => {
    const input = tensor(x, shape);
    const tape = new Tape();
    let logits!: Tensor;
    const total = tape.record(() => sum(mul((logits = model.forward(input)), selector)));
    return [logits, tape.gradient(total, [input])[0]];
  });
  try {
    const [l, g] = await Promise.all([logits.data(), grad.data()]);
    return { logits: l, grad: g };
  } finally {
    logits.dispose();
    grad.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Host helpers

/** A restart's start: x⁰ plus a random direction scaled to norm ε/2, clipped to [0, 1] (as the reference). */
function startInBall(x0: Float32Array, m: number, o: FabOptions, rng: Random): Float32Array {
  const n = x0.length / m;
  const out = new Float32Array(x0.length);
  const dir = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) dir[j] = o.norm === 'linf' ? rng.uniform(-1, 1) : rng.normal();
    const scale = (0.5 * o.eps) / Math.max(norm(dir, o.norm), 1e-12);
    for (let j = 0; j < n; j++) out[i * n + j] = clip01(x0[i * n + j] + scale * dir[j]);
  }
  return out;
}

/** Class indices of row i, highest logit first. */
function classesByLogit(logits: TypedArray, i: number, classes: number): number[] {
  const row = logits.subarray(i * classes, (i + 1) * classes);
  return Array.from({ length: classes }, (_, c) => c).sort((a, b) => row[b] - row[a] || a - b);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function norm(v: ArrayLike<number>, p: FabNorm): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s = p === 'linf' ? Math.max(s, Math.abs(v[i])) : s + v[i] * v[i];
  return p === 'linf' ? s : Math.sqrt(s);
}

/** ‖a − b‖ in float64. */
function distance(a: ArrayLike<number>, b: ArrayLike<number>, p: FabNorm): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s = p === 'linf' ? Math.max(s, Math.abs(d)) : s + d * d;
  }
  return p === 'linf' ? s : Math.sqrt(s);
}

function clip01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

function checkOptions(
  model: Classifier,
  x: Tensor,
  labels: Int32Array,
  o: FabOptions,
): { steps: number; targets: number; restarts: number } {
  if (o.norm !== 'linf' && o.norm !== 'l2')
    throw new Error(`fab: norm must be 'linf' or 'l2', got '${String(o.norm)}'`);
  if (!(Number.isFinite(o.eps) && o.eps > 0)) throw new Error(`fab: eps must be a positive number, got ${o.eps}`);
  const count = (name: string, v: number | undefined, fallback: number) => {
    const value = v ?? fallback;
    if (!(Number.isInteger(value) && value >= 1))
      throw new Error(`fab: ${name} must be a positive integer, got ${value}`);
    return value;
  };
  const steps = count('steps', o.steps, 100);
  const targets = Math.min(count('targets', o.targets, 9), model.classes - 1);
  const restarts = count('restarts', o.restarts, 1);
  if (x.rank < 2 || x.shape[0] !== labels.length) {
    throw new Error(`fab: inputs of shape [${x.shape.join(', ')}] need one label per row, got ${labels.length} labels`);
  }
  const bad = labels.findIndex((l) => !(l >= 0 && l < model.classes));
  if (bad >= 0) throw new Error(`fab: label ${labels[bad]} at index ${bad} is outside [0, ${model.classes})`);
  return { steps, targets, restarts };
}
