// Host-side bookkeeping shared by the attacks: picking the rows (examples) still to attack, writing
// results back, and forward passes whose logits come back to the host.

import { type Tensor, noGrad, tensor, tidy } from '../../engine/index.js';
import type { Classifier } from '../../nn/index.js';

/** The rows idx of a [B, ...] array with `per` values per row, packed. */
export function gatherRows(data: Float32Array, per: number, idx: readonly number[]): Float32Array {
  const out = new Float32Array(idx.length * per);
  idx.forEach((r, i) => out.set(data.subarray(r * per, (r + 1) * per), i * per));
  return out;
}

/** Writes packed row i of `rows` into row idx[i] of `data`, for the rows where `which[i]` is set. */
export function scatterRows(
  data: Float32Array,
  per: number,
  idx: readonly number[],
  rows: Float32Array,
  which: ArrayLike<number | boolean>,
): void {
  idx.forEach((r, i) => {
    if (which[i]) data.set(rows.subarray(i * per, (i + 1) * per), r * per);
  });
}

/** The labels at rows idx, packed. */
export function gatherLabels(labels: Int32Array, idx: readonly number[]): Int32Array {
  return Int32Array.from(idx, (r) => labels[r]);
}

/**
 * The rows idx (non-empty) padded by repeating the first up to the next size of the ladder 1, 2, 3,
 * 4, 6, 8, 12, 16, 24, … (powers of two and 1.5 times them), or to `cap` when that size is within a
 * quarter of it or more (never fewer than idx.length). On WebGPU every batch size compiles the model's
 * conv and matmul kernels anew (about a second each on lavapipe), and the set of still-robust rows an attack works on
 * shrinks as it breaks them, so unpadded sizes would compile without end; the half steps keep the
 * padding, which is computed for nothing, under half the rows (39 rows run as 48, not 64). The attacks
 * are per example: padding changes no real row's result. Use the first idx.length rows of what comes
 * back.
 */
export function paddedIndices(idx: readonly number[], cap = Infinity): number[] {
  let size = 1;
  // 2^k → 3·2^(k−1) → 2^(k+1): from a power of two half a step up, from 1.5 times one to the next.
  while (size < idx.length) size = size % 3 === 0 ? (size / 3) * 4 : size >= 2 ? (size / 2) * 3 : 2;
  // Near the cap (the batch size, compiled already by the clean pass) the cap itself: 154 rows of a
  // batch of 200 run as 200, not as a new size of 192.
  if (size >= 0.75 * cap) size = cap;
  size = Math.max(idx.length, size);
  return [...idx, ...new Array<number>(size - idx.length).fill(idx[0])];
}

/** Indices i with flags[i] set. */
export function indicesWhere(flags: ArrayLike<number | boolean>): number[] {
  const out: number[] = [];
  for (let i = 0; i < flags.length; i++) if (flags[i]) out.push(i);
  return out;
}

/** Logits of the model on host inputs, back on the host (a forward pass only). */
export async function logitsOf(model: Classifier, x: Float32Array, shape: readonly number[]): Promise<Float32Array> {
  const z = noGrad(() => tidy(() => model.forward(tensor(x, shape))));
  const out = (await z.data()) as Float32Array;
  z.dispose();
  return out;
}

/** Logits of the model on a device batch, on the host. */
export async function logitsOfTensor(model: Classifier, x: Tensor): Promise<Float32Array> {
  const z = noGrad(() => tidy(() => model.forward(x)));
  const out = (await z.data()) as Float32Array;
  z.dispose();
  return out;
}

/** The predicted class (argmax, first on ties) of each row of [B, classes] logits. */
export function argmaxRows(logits: ArrayLike<number>, classes: number): Int32Array {
  const out = new Int32Array(logits.length / classes);
  for (let i = 0; i < out.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    out[i] = best;
  }
  return out;
}

/** 1 where argmax of the row equals the label. */
export function correctOf(logits: Float32Array, labels: Int32Array, classes: number): Uint8Array {
  const predicted = argmaxRows(logits.subarray(0, labels.length * classes), classes);
  return Uint8Array.from(predicted, (p, i) => (p === labels[i] ? 1 : 0));
}

/** Per-example masks as a [B, 1, ..., 1] float tensor that broadcasts against inputs of the given rank. */
export function perExample(values: ArrayLike<number>, rank: number): Tensor {
  return tensor(Float32Array.from(values), [values.length, ...new Array(rank - 1).fill(1)]);
}
