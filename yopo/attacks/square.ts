// Square Attack (Andriushchenko et al., ECCV 2020), as in AutoAttack's square.py: a score-based random
// search that queries only the model's logits (forward passes, never a gradient). It minimises the
// margin z_y − max_{i≠y} z_i; at query i it changes one random s×s window, s² ≈ p(i)·h·w, where p halves
// on a fixed schedule from p_init = 0.8:
//   L∞: the window (same place for the whole batch) is set to x ± ε per channel, from a start of
//       vertical ±ε stripes;
//   L2: mass is moved from a second window into the first and reshaped into ±centred squares, from a
//       start of tiled such squares, always on the ε-sphere (then clipped to [0, 1]).
// A candidate replaces the current point when it lowers the margin; an example is done once its margin
// is ≤ 0 (misclassified).

import type { Random, Tensor } from '../../engine/index.js';
import { tensor } from '../../engine/index.js';
import type { Classifier } from '../../nn/index.js';
import type { Norm } from '../perturbation.js';
import { marginOf } from './dlr.js';
import { correctOf, gatherLabels, gatherRows, indicesWhere, logitsOf, paddedIndices, scatterRows } from './rows.js';

/** Options of squareAttack: radius eps (in input units, inputs in [0, 1]) in the given norm; defaults queries 5000, pInit 0.8, restarts 1, rescaleSchedule false. */
export interface SquareOptions {
  eps: number;
  norm: Norm;
  /** Queries per example (5,000 in AutoAttack). */
  queries?: number;
  pInit?: number;
  restarts?: number;
  /** Rescale the p schedule to the number of queries (AutoAttack runs it with false). */
  rescaleSchedule?: boolean;
}

/** Fraction of pixels changed at query `it` (AutoAttack's p_selection). */
export function squareFraction(it: number, pInit: number, queries: number, rescale: boolean): number {
  const i = rescale ? Math.floor((it / queries) * 10000) : it;
  const bounds = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let halvings = 0;
  for (let j = 0; j < bounds.length; j++) if (i > bounds[j]) halvings = j + 1;
  return pInit / 2 ** halvings;
}

const choice = (rng: Random) => (rng.next() < 0.5 ? -1 : 1);
const randomInt = (rng: Random, lo: number, hi: number) => lo + Math.floor((hi - lo) * rng.next());

/** The centred rectangle pattern of the L2 attack (eta_rectangles): 1/(k+1)² on nested rings, unit L2 norm. */
function rectangles(rows: number, cols: number): Float64Array {
  const d = new Float64Array(rows * cols);
  let r0 = Math.floor(rows / 2);
  let c0 = Math.floor(cols / 2);
  for (let k = 0; k < Math.max(r0 + 1, c0 + 1); k++) {
    for (let r = Math.max(r0, 0); r < Math.min(r0 + 2 * k + 1, rows); r++) {
      for (let c = Math.max(c0, 0); c < Math.min(c0 + 2 * k + 1, cols); c++) d[r * cols + c] += 1 / (k + 1) ** 2;
    }
    r0--;
    c0--;
  }
  return unit(d);
}

function unit(d: Float64Array): Float64Array {
  const n = Math.sqrt(d.reduce((s, v) => s + v * v, 0));
  return d.map((v) => v / n);
}

/** The L2 update pattern (eta): +rectangles on the top half, − on the bottom, maybe transposed. */
function squarePattern(s: number, rng: Random): Float64Array {
  const half = Math.floor(s / 2);
  const top = rectangles(half, s);
  const bottom = rectangles(s - half, s);
  let d: Float64Array<ArrayBufferLike> = new Float64Array(s * s);
  d.set(top, 0);
  bottom.forEach((v, i) => (d[half * s + i] = -v));
  d = unit(d);
  if (rng.next() > 0.5) {
    const t = new Float64Array(s * s);
    for (let r = 0; r < s; r++) for (let c = 0; c < s; c++) t[c * s + r] = d[r * s + c];
    d = t;
  }
  return d;
}

function l2Norm(a: Float32Array | Float64Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** One Square run on examples that are all to be attacked; returns the best inputs found. */
async function squareRun(
  model: Classifier,
  x: Float32Array,
  shape: readonly number[],
  labels: Int32Array,
  o: Required<SquareOptions>,
  rng: Random,
): Promise<Float32Array> {
  const [n, c, h, w] = shape;
  const per = c * h * w;
  const { eps } = o;
  const clip = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const best = new Float32Array(x.length);
  if (o.norm === 'linf') {
    for (let e = 0; e < n; e++) {
      for (let ch = 0; ch < c; ch++) {
        for (let col = 0; col < w; col++) {
          const v = eps * choice(rng);
          for (let row = 0; row < h; row++) {
            const i = e * per + ch * h * w + row * w + col;
            best[i] = clip(x[i] + v, 0, 1);
          }
        }
      }
    }
  } else {
    const s = Math.floor(h / 5);
    const start = Math.floor((h - s * 5) / 2);
    const tile = rectangles(s, s);
    const delta = new Float64Array(x.length);
    for (let vh = start; vh + s <= start + s * Math.floor(h / s) && vh + s <= h; vh += s) {
      for (let vw = start; vw + s <= start + s * Math.floor(w / s) && vw + s <= w; vw += s) {
        for (let e = 0; e < n; e++) {
          for (let ch = 0; ch < c; ch++) {
            const sg = choice(rng);
            for (let r = 0; r < s; r++)
              for (let q = 0; q < s; q++) delta[e * per + ch * h * w + (vh + r) * w + vw + q] += tile[r * s + q] * sg;
          }
        }
      }
    }
    for (let e = 0; e < n; e++) {
      const norm = l2Norm(delta, e * per, (e + 1) * per) + 1e-12;
      for (let i = e * per; i < (e + 1) * per; i++) best[i] = clip(x[i] + (delta[i] / norm) * eps, 0, 1);
    }
  }
  const margins = marginOf(await logitsOf(model, best, shape), labels, model.classes);
  const lossMin = Float32Array.from(margins);
  const marginMin = Float32Array.from(margins);
  for (let it = 0; it < o.queries; it++) {
    const idx = indicesWhere(Array.from(marginMin, (m) => (m > 0 ? 1 : 0)));
    if (idx.length === 0) break;
    const p = squareFraction(it, o.pInit, o.queries, o.rescaleSchedule);
    const xCur = gatherRows(x, per, idx);
    const bestCur = gatherRows(best, per, idx);
    const candidate =
      o.norm === 'linf'
        ? linfCandidate(xCur, bestCur, idx.length, [c, h, w], p, eps, rng)
        : l2Candidate(xCur, bestCur, idx.length, [c, h, w], p, eps, rng);
    const y = gatherLabels(labels, idx);
    // The forward pass on rows padded to a size of paddedIndices's ladder (copies of the first candidate): each image
    // broken leaves one row fewer, and each new batch size compiles; only the first idx.length count.
    const rows = paddedIndices(Array.from(idx, (_, i) => i));
    const batch = rows.length === idx.length ? candidate : gatherRows(candidate, per, rows);
    const logits = await logitsOf(model, batch, [rows.length, c, h, w]);
    const margin = marginOf(logits.subarray(0, idx.length * model.classes), y, model.classes);
    const improved = idx.map((e, i) => {
      const better = margin[i] < lossMin[e];
      if (better) lossMin[e] = margin[i];
      const take = better || margin[i] <= 0;
      if (take) marginMin[e] = margin[i];
      return take ? 1 : 0;
    });
    scatterRows(best, per, idx, candidate, improved);
  }
  return best;
}

/** L∞: one s×s window, placed at random for the whole batch, set to ±ε per channel around x. */
function linfCandidate(
  x: Float32Array,
  best: Float32Array,
  n: number,
  [c, h, w]: number[],
  p: number,
  eps: number,
  rng: Random,
): Float32Array {
  const s = Math.max(Math.round(Math.sqrt((p * c * h * w) / c)), 1);
  const vh = randomInt(rng, 0, h - s);
  const vw = randomInt(rng, 0, w - s);
  const signs = Array.from({ length: c }, () => 2 * eps * choice(rng));
  const out = Float32Array.from(best);
  const per = c * h * w;
  for (let e = 0; e < n; e++) {
    for (let ch = 0; ch < c; ch++) {
      for (let r = vh; r < vh + s; r++) {
        for (let q = vw; q < vw + s; q++) {
          const i = e * per + ch * h * w + r * w + q;
          out[i] = Math.min(Math.max(best[i] + signs[ch], x[i] - eps, 0), x[i] + eps, 1);
        }
      }
    }
  }
  return out;
}

/** L2: move the perturbation's mass from a second window into the first, as a new ±square pattern, on the ε-sphere. */
function l2Candidate(
  x: Float32Array,
  best: Float32Array,
  n: number,
  [c, h, w]: number[],
  p: number,
  eps: number,
  rng: Random,
): Float32Array {
  let s = Math.max(Math.round(Math.sqrt((p * c * h * w) / c)), 3);
  if (s % 2 === 0) s += 1;
  const vh = randomInt(rng, 0, h - s);
  const vw = randomInt(rng, 0, w - s);
  const vh2 = randomInt(rng, 0, h - s);
  const vw2 = randomInt(rng, 0, w - s);
  const per = c * h * w;
  const inWindow = (r: number, q: number, a: number, b: number) => r >= a && r < a + s && q >= b && q < b + s;
  const out = new Float32Array(best.length);
  const pattern = squarePattern(s, rng);
  for (let e = 0; e < n; e++) {
    const base = e * per;
    const delta = new Float64Array(per);
    for (let i = 0; i < per; i++) delta[i] = best[base + i] - x[base + i];
    const normImage = l2Norm(delta, 0, per);
    let windows = 0;
    for (let ch = 0; ch < c; ch++) {
      for (let r = 0; r < h; r++)
        for (let q = 0; q < w; q++)
          if (inWindow(r, q, vh, vw) || inWindow(r, q, vh2, vw2)) windows += delta[ch * h * w + r * w + q] ** 2;
    }
    const normWindows = Math.sqrt(windows);
    const fresh = new Float64Array(c * s * s);
    for (let ch = 0; ch < c; ch++) {
      const sg = choice(rng);
      let old = 0;
      for (let r = 0; r < s; r++) for (let q = 0; q < s; q++) old += delta[ch * h * w + (vh + r) * w + vw + q] ** 2;
      const oldNorm = Math.sqrt(old) + 1e-12;
      let total = 0;
      for (let r = 0; r < s; r++) {
        for (let q = 0; q < s; q++) {
          const v = pattern[r * s + q] * sg + delta[ch * h * w + (vh + r) * w + vw + q] / oldNorm;
          fresh[ch * s * s + r * s + q] = v;
          total += v * v;
        }
      }
      const target = Math.sqrt(Math.max(eps * eps - normImage * normImage, 0) / c + normWindows * normWindows);
      const factor = target / (Math.sqrt(total) + 1e-12);
      for (let i = 0; i < s * s; i++) fresh[ch * s * s + i] *= factor;
    }
    for (let ch = 0; ch < c; ch++) {
      for (let r = 0; r < s; r++) for (let q = 0; q < s; q++) delta[ch * h * w + (vh2 + r) * w + vw2 + q] = 0;
      for (let r = 0; r < s; r++)
        for (let q = 0; q < s; q++) delta[ch * h * w + (vh + r) * w + vw + q] = fresh[ch * s * s + r * s + q];
    }
    const norm = l2Norm(delta, 0, per) + 1e-12;
    for (let i = 0; i < per; i++) out[base + i] = Math.min(Math.max(x[base + i] + (delta[i] / norm) * eps, 0), 1);
  }
  return out;
}

/**
 * Square Attack: adversarial inputs within the ε-ball and [0, 1] for the examples it fools, x itself
 * for the others. Runs forward passes only.
 */
export async function squareAttack(
  model: Classifier,
  x: Tensor,
  labels: Int32Array,
  options: SquareOptions,
  rng: Random,
): Promise<Tensor> {
  if (x.rank !== 4) throw new Error(`square: expected images [B, C, H, W], got shape [${x.shape.join(', ')}]`);
  const o: Required<SquareOptions> = { queries: 5000, pInit: 0.8, restarts: 1, rescaleSchedule: false, ...options };
  const per = x.size / x.shape[0];
  const xHost = Float32Array.from((await x.data()) as Float32Array);
  const adv = Float32Array.from(xHost);
  const robust = correctOf(await logitsOf(model, xHost, x.shape), labels, model.classes);
  for (let r = 0; r < o.restarts; r++) {
    const idx = indicesWhere(robust);
    if (idx.length === 0) break;
    const shape = [idx.length, ...x.shape.slice(1)];
    const y = gatherLabels(labels, idx);
    const found = await squareRun(model, gatherRows(xHost, per, idx), shape, y, o, rng);
    const fooled = correctOf(await logitsOf(model, found, shape), y, model.classes).map((v) => 1 - v);
    scatterRows(adv, per, idx, found, fooled);
    idx.forEach((e, i) => {
      if (fooled[i]) robust[e] = 0;
    });
  }
  return tensor(adv, x.shape);
}
