// Reference reductions over any set of axes, accumulated in float64, and transpose.

import type { ReduceOp } from '../backend.js';
import { type Shape, sizeOf, stridesOf } from '../shape.js';
import type { FloatArray } from './storage.js';

/** Splits the input offsets into (kept part, reduced part) so each output element walks its group. */
function groups(shape: Shape, axes: readonly number[]): { outOffsets: number[]; inner: number[] } {
  const strides = stridesOf(shape);
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const offsetsOver = (dims: number[]): number[] => {
    let offsets = [0];
    for (const d of dims) {
      const next: number[] = [];
      for (const o of offsets) for (let j = 0; j < shape[d]; j++) next.push(o + j * strides[d]);
      offsets = next;
    }
    return offsets;
  };
  return { outOffsets: offsetsOver(kept), inner: offsetsOver([...axes]) };
}

/** Sum, max or min of x (of `shape`) over `axes` into out (the kept axes, row-major). */
export function reduce(
  op: ReduceOp,
  x: ArrayLike<number>,
  shape: Shape,
  axes: readonly number[],
  out: FloatArray | Int32Array,
): void {
  const { outOffsets, inner } = groups(shape, axes);
  for (let o = 0; o < outOffsets.length; o++) {
    const base = outOffsets[o];
    let acc = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
    for (const off of inner) {
      const v = x[base + off];
      if (op === 'sum') acc += v;
      else if (op === 'max') acc = v > acc || Number.isNaN(v) ? v : acc;
      else acc = v < acc || Number.isNaN(v) ? v : acc;
    }
    out[o] = acc;
  }
}

/** Index of the largest element along `axis` (the first on ties) into out. */
export function argmax(x: ArrayLike<number>, shape: Shape, axis: number, out: Int32Array): void {
  const { outOffsets, inner } = groups(shape, [axis]);
  for (let o = 0; o < outOffsets.length; o++) {
    let best = 0;
    for (let j = 1; j < inner.length; j++) if (x[outOffsets[o] + inner[j]] > x[outOffsets[o] + inner[best]]) best = j;
    out[o] = best;
  }
}

/** out = x with its axes permuted: out axis k is x axis perm[k]. */
export function transpose(
  x: ArrayLike<number>,
  shape: Shape,
  perm: readonly number[],
  out: FloatArray | Int32Array,
): void {
  const inStrides = stridesOf(shape);
  const outShape = perm.map((a) => shape[a]);
  const n = sizeOf(shape);
  const coord = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let offset = 0;
    for (let d = 0; d < perm.length; d++) offset += coord[d] * inStrides[perm[d]];
    out[i] = x[offset];
    for (let d = perm.length - 1; d >= 0; d--) {
      if (++coord[d] < outShape[d]) break;
      coord[d] = 0;
    }
  }
}
