// Binary elementwise ops with NumPy broadcasting. A gradient flowing to a broadcast input is summed
// over the broadcast axes (sumTo).

import type { BinaryOp } from '../backend.js';
import { broadcastAxes, broadcastShapes, sameShape, shapeString, type Shape } from '../shape.js';
import { recordOp } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { neg, square } from './elementwise.js';
import { sum } from './reduce.js';
import { reshape } from './shape_ops.js';
import { backendOf, wrap } from './util.js';

function binary(op: BinaryOp, a: Tensor, b: Tensor, comparison: boolean): Tensor {
  if (a.dtype !== b.dtype) throw new Error(`${op}: dtypes differ (${a.dtype} ${shapeString(a.shape)} vs ${b.dtype} ${shapeString(b.shape)})`);
  const backend = backendOf(op, a, b);
  const shape = broadcastShapes(a.shape, b.shape, op);
  // The backend gets the INPUT dtype (it decides how to read a and b); comparisons output float32.
  const dtype = comparison ? 'float32' : a.dtype;
  return wrap(backend, backend.binary(op, a.storage, a.shape, b.storage, b.shape, shape, a.dtype), shape, dtype);
}

/** Sums a broadcast gradient back to `shape`. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const axes = broadcastAxes(shape, g.shape);
  return reshape(sum(g, axes), shape);
}

/** a + b elementwise, with NumPy broadcasting. */
export function add(a: Tensor, b: Tensor): Tensor {
  const out = binary('add', a, b, false);
  recordOp(out, [a, b], (dy) => [sumTo(dy, a.shape), sumTo(dy, b.shape)]);
  return out;
}

/** a − b elementwise, with broadcasting. */
export function sub(a: Tensor, b: Tensor): Tensor {
  const out = binary('sub', a, b, false);
  recordOp(out, [a, b], (dy) => [sumTo(dy, a.shape), sumTo(neg(dy), b.shape)]);
  return out;
}

/** a · b elementwise, with broadcasting. */
export function mul(a: Tensor, b: Tensor): Tensor {
  const out = binary('mul', a, b, false);
  recordOp(out, [a, b], (dy) => [sumTo(mul(dy, b), a.shape), sumTo(mul(dy, a), b.shape)]);
  return out;
}

/** a / b elementwise, with broadcasting. */
export function div(a: Tensor, b: Tensor): Tensor {
  const out = binary('div', a, b, false);
  recordOp(out, [a, b], (dy) => [sumTo(div(dy, b), a.shape), sumTo(neg(div(mul(dy, a), square(b))), b.shape)]);
  return out;
}

/** Ties send the gradient to a. */
export function maximum(a: Tensor, b: Tensor): Tensor {
  const out = binary('maximum', a, b, false);
  recordOp(out, [a, b], (dy) => [sumTo(mul(dy, ge(a, b)), a.shape), sumTo(mul(dy, lt(a, b)), b.shape)]);
  return out;
}

/** Ties send the gradient to a. */
export function minimum(a: Tensor, b: Tensor): Tensor {
  const out = binary('minimum', a, b, false);
  recordOp(out, [a, b], (dy) => [sumTo(mul(dy, le(a, b)), a.shape), sumTo(mul(dy, gt(a, b)), b.shape)]);
  return out;
}

/** b where a > 0, else 0: ReLU's backward (a the ReLU's input, b the incoming gradient) in one pass.
 *  The gradient flows to b through the same mask; a gets none (the mask is flat almost everywhere). */
export function passIfPositive(a: Tensor, b: Tensor): Tensor {
  const out = binary('passIfPositive', a, b, false);
  recordOp(out, [a, b], (dy) => [null, sumTo(passIfPositive(a, dy), b.shape)]);
  return out;
}

// Comparisons return float32 0/1 and pass no gradient.
function compare(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const out = binary(op, a, b, true);
  recordOp(out, [a, b], () => [null, null]);
  return out;
}
/** a = b elementwise (broadcast): float32 1 or 0; no gradient. */
export const eq = (a: Tensor, b: Tensor): Tensor => compare('eq', a, b);
/** a ≠ b elementwise (broadcast): float32 1 or 0; no gradient. */
export const ne = (a: Tensor, b: Tensor): Tensor => compare('ne', a, b);
/** a < b elementwise (broadcast): float32 1 or 0; no gradient. */
export const lt = (a: Tensor, b: Tensor): Tensor => compare('lt', a, b);
/** a ≤ b elementwise (broadcast): float32 1 or 0; no gradient. */
export const le = (a: Tensor, b: Tensor): Tensor => compare('le', a, b);
/** a > b elementwise (broadcast): float32 1 or 0; no gradient. */
export const gt = (a: Tensor, b: Tensor): Tensor => compare('gt', a, b);
/** a ≥ b elementwise (broadcast): float32 1 or 0; no gradient. */
export const ge = (a: Tensor, b: Tensor): Tensor => compare('ge', a, b);

/** cond ? a : b elementwise; cond must be a float 0/1 mask (as comparisons return). All three broadcast. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const backend = backendOf('where', cond, a, b);
  if (a.dtype !== b.dtype) throw new Error(`where: branches have different dtypes (${a.dtype} vs ${b.dtype})`);
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, 'where'), b.shape, 'where');
  const expand = (t: Tensor): Tensor => (sameShape(t.shape, shape) ? t : broadcastTo(t, shape));
  const [c, x, y] = [expand(cond), expand(a), expand(b)];
  const out = wrap(backend, backend.where(c.storage, x.storage, y.storage, c.size), shape, a.dtype);
  recordOp(out, [cond, a, b], (dy) => {
    const toA = mul(dy, cond);
    return [null, sumTo(toA, a.shape), sumTo(sub(dy, toA), b.shape)];
  });
  return out;
}

/** Materialises t broadcast to `shape` (a copy). */
export function broadcastTo(t: Tensor, shape: Shape): Tensor {
  const backend = backendOf('broadcastTo', t);
  const target = broadcastShapes(t.shape, shape, 'broadcastTo');
  if (!sameShape(target, shape)) throw new Error(`broadcastTo: ${shapeString(t.shape)} cannot be broadcast to ${shapeString(shape)}`);
  const zero = wrap(backend, backend.fill(1, 0, t.dtype), [], t.dtype);
  const out = wrap(backend, backend.binary('add', t.storage, t.shape, zero.storage, [], shape, t.dtype), shape, t.dtype);
  zero.dispose();
  recordOp(out, [t], (dy) => [sumTo(dy, t.shape)]);
  return out;
}
