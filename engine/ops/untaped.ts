// The elementwise ops and sums computed without the tape: each checks its inputs, runs the backend and
// records nothing. VJPs run with recording paused (Tape.gradient runs them inside noGrad), so the op
// table's VJPs (VJP_OPS) and the tape's gradient sums use these; the taped ops (binary.ts,
// elementwise.ts, reduce.ts) run the same computations and record a VJP. This file imports no op file
// but util.ts, so the op files import one another one way only.

import type { ReduceOp } from '../backend.js';
import { type BinaryOp, type ElementwiseVjpOps, type UnaryOp, binaryRow } from '../elementwise_ops.js';
import { type Shape, broadcastAxes, broadcastShapes, sameShape, shapeString } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, requireFloat, wrap } from './util.js';

/** The binary op `op` of the table on a and b (broadcast); comparisons return float32 0/1. */
export function binaryUntaped(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== b.dtype)
    throw new Error(`${op}: dtypes differ (${a.dtype} ${shapeString(a.shape)} vs ${b.dtype} ${shapeString(b.shape)})`);
  const backend = backendOf(op, a, b);
  const shape = broadcastShapes(a.shape, b.shape, op);
  // The backend gets the INPUT dtype (it decides how to read a and b).
  const dtype = binaryRow(op).comparison ? 'float32' : a.dtype;
  return wrap(backend, backend.binary(op, a.storage, a.shape, b.storage, b.shape, shape, a.dtype), shape, dtype);
}

/** The unary op `op` of the table on x (float32). */
export function unaryUntaped(op: UnaryOp, x: Tensor): Tensor {
  requireFloat(op, x);
  const backend = backendOf(op, x);
  return wrap(backend, backend.unary(op, x.storage, x.size), x.shape);
}

/** scale·x + shift, with plain numbers. */
export function affineUntaped(x: Tensor, scaleBy: number, shift: number): Tensor {
  requireFloat('affine', x);
  const backend = backendOf('affine', x);
  return wrap(backend, backend.affine(x.storage, x.size, scaleBy, shift), x.shape);
}

/** x's shape with the reduced axes kept as size 1, to broadcast a gradient back. */
export function keptShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** The reduction `op` of x over `axes` (normalised: non-negative, no repeats). */
export function reduceUntaped(op: ReduceOp, x: Tensor, axes: readonly number[], keepDims: boolean): Tensor {
  const backend = backendOf(op, x);
  const outShape = keepDims ? keptShape(x.shape, axes) : x.shape.filter((_, i) => !axes.includes(i));
  return wrap(backend, backend.reduce(op, x.storage, x.shape, axes, x.dtype), outShape, x.dtype);
}

/** Sums a broadcast gradient back to `shape`. Records nothing: it is for VJPs. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const backend = backendOf('sumTo', g);
  // The sum over the broadcast axes holds `shape`'s elements in `shape`'s order.
  return wrap(
    backend,
    backend.reduce('sum', g.storage, g.shape, broadcastAxes(shape, g.shape), g.dtype),
    shape,
    g.dtype,
  );
}

/** The ops the op table's VJPs are written with (their `t`). */
export const VJP_OPS: ElementwiseVjpOps = {
  neg: (x) => unaryUntaped('neg', x),
  sign: (x) => unaryUntaped('sign', x),
  square: (x) => unaryUntaped('square', x),
  scale: (x, factor) => affineUntaped(x, factor, 0),
  mul: (a, b) => binaryUntaped('mul', a, b),
  div: (a, b) => binaryUntaped('div', a, b),
  passIfPositive: (a, b) => binaryUntaped('passIfPositive', a, b),
  lt: (a, b) => binaryUntaped('lt', a, b),
  le: (a, b) => binaryUntaped('le', a, b),
  gt: (a, b) => binaryUntaped('gt', a, b),
  ge: (a, b) => binaryUntaped('ge', a, b),
};
