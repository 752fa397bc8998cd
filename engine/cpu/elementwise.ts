// Reference elementwise ops: one plain loop each.

import type { BinaryOp, UnaryOp } from '../backend.js';
import { type Shape, broadcastStrides, sizeOf } from '../shape.js';
import type { FloatArray } from './storage.js';

/** Each UnaryOp as a scalar function. */
export const unaryFns: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  // NaN passes through (IEEE 754: max(NaN, 0) is NaN), so a diverged value is never hidden as 0.
  relu: (x) => (x > 0 || Number.isNaN(x) ? x : 0),
  step: (x) => (x > 0 ? 1 : Number.isNaN(x) ? x : 0),
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
};

/** Each BinaryOp as a scalar function (comparisons give 0/1). */
export const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  maximum: (a, b) => (a >= b ? a : b),
  minimum: (a, b) => (a <= b ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
  passIfPositive: (a, b) => (a > 0 ? b : 0),
};

/** out[i] = f(x[i]) for every element. */
export function map(x: ArrayLike<number>, out: FloatArray | Int32Array, f: (v: number) => number): void {
  for (let i = 0; i < out.length; i++) out[i] = f(x[i]);
}

/** out[i] = f(a[ia], b[ib]) where ia, ib follow the broadcast coordinates of output index i. */
export function broadcastBinary(
  a: ArrayLike<number>, aShape: Shape, b: ArrayLike<number>, bShape: Shape, outShape: Shape,
  out: FloatArray | Int32Array, f: (a: number, b: number) => number,
): void {
  const n = sizeOf(outShape);
  const sa = broadcastStrides(aShape, outShape);
  const sb = broadcastStrides(bShape, outShape);
  const rank = outShape.length;
  const coord = new Array<number>(rank).fill(0);
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < n; i++) {
    out[i] = f(a[ia], b[ib]);
    // Odometer increment of the output coordinate, moving the input offsets along.
    for (let d = rank - 1; d >= 0; d--) {
      coord[d]++;
      ia += sa[d];
      ib += sb[d];
      if (coord[d] < outShape[d]) break;
      ia -= sa[d] * outShape[d];
      ib -= sb[d] * outShape[d];
      coord[d] = 0;
    }
  }
}
