// Reference elementwise ops: one plain loop each, over the scalar functions of the op table (../elementwise_ops.ts).

import { type Shape, broadcastStrides, sizeOf } from '../shape.js';
import type { FloatArray } from './storage.js';

/** out[i] = f(x[i]) for every element. */
export function map(x: ArrayLike<number>, out: FloatArray | Int32Array, f: (v: number) => number): void {
  for (let i = 0; i < out.length; i++) out[i] = f(x[i]);
}

/** out[i] = f(a[ia], b[ib]) where ia, ib follow the broadcast coordinates of output index i. */
export function broadcastBinary(
  a: ArrayLike<number>,
  aShape: Shape,
  b: ArrayLike<number>,
  bShape: Shape,
  outShape: Shape,
  out: FloatArray | Int32Array,
  f: (a: number, b: number) => number,
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
