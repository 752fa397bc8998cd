// Binary elementwise ops with NumPy broadcasting. Each op's derivative is its row of the op table
// (../elementwise_ops.ts), run untaped (./untaped.ts); a gradient flowing to a broadcast input is
// summed over the broadcast axes (sumTo).

import { type BinaryOp, binaryRow } from '../elementwise_ops.js';
import { type Shape, broadcastShapes, sameShape, shapeString } from '../shape.js';
import { recordOp } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { VJP_OPS, binaryUntaped, sumTo } from './untaped.js';
import { backendOf, wrap } from './util.js';

/** The binary op `op` of the table on a and b (broadcast), with the row's VJP recorded. */
export function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const out = binaryUntaped(op, a, b);
  const { vjp } = binaryRow(op);
  recordOp(
    out,
    [a, b],
    vjp
      ? (dy) => {
          const [da, db] = vjp(VJP_OPS, { a, b, out, dy });
          return [da && sumTo(da, a.shape), db && sumTo(db, b.shape)];
        }
      : () => [null, null],
  );
  return out;
}

/** a + b elementwise, with NumPy broadcasting. */
export function add(a: Tensor, b: Tensor): Tensor {
  return binary('add', a, b);
}

/** a − b elementwise, with broadcasting. */
export function sub(a: Tensor, b: Tensor): Tensor {
  return binary('sub', a, b);
}

/** a · b elementwise, with broadcasting. */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binary('mul', a, b);
}

/** a / b elementwise, with broadcasting (int32: truncates toward zero). */
export function div(a: Tensor, b: Tensor): Tensor {
  return binary('div', a, b);
}

/** max(a, b) elementwise, with broadcasting; ties send the gradient to a. */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return binary('maximum', a, b);
}

/** min(a, b) elementwise, with broadcasting; ties send the gradient to a. */
export function minimum(a: Tensor, b: Tensor): Tensor {
  return binary('minimum', a, b);
}

/** b where a > 0, else 0: ReLU's backward (a the ReLU's input, b the incoming gradient) in one pass.
 *  The gradient flows to b through the same mask; a gets none (the mask is flat almost everywhere). */
export function passIfPositive(a: Tensor, b: Tensor): Tensor {
  return binary('passIfPositive', a, b);
}

/** a = b elementwise (broadcast): float32 1 or 0; no gradient. */
export function eq(a: Tensor, b: Tensor): Tensor {
  return binary('eq', a, b);
}

/** a ≠ b elementwise (broadcast): float32 1 or 0; no gradient. */
export function ne(a: Tensor, b: Tensor): Tensor {
  return binary('ne', a, b);
}

/** a < b elementwise (broadcast): float32 1 or 0; no gradient. */
export function lt(a: Tensor, b: Tensor): Tensor {
  return binary('lt', a, b);
}

/** a ≤ b elementwise (broadcast): float32 1 or 0; no gradient. */
export function le(a: Tensor, b: Tensor): Tensor {
  return binary('le', a, b);
}

/** a > b elementwise (broadcast): float32 1 or 0; no gradient. */
export function gt(a: Tensor, b: Tensor): Tensor {
  return binary('gt', a, b);
}

/** a ≥ b elementwise (broadcast): float32 1 or 0; no gradient. */
export function ge(a: Tensor, b: Tensor): Tensor {
  return binary('ge', a, b);
}

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
  if (!sameShape(target, shape))
    throw new Error(`broadcastTo: ${shapeString(t.shape)} cannot be broadcast to ${shapeString(shape)}`);
  const zero = wrap(backend, backend.fill(1, 0, t.dtype), [], t.dtype);
  const out = wrap(
    backend,
    backend.binary('add', t.storage, t.shape, zero.storage, [], shape, t.dtype),
    shape,
    t.dtype,
  );
  zero.dispose();
  recordOp(out, [t], (dy) => [sumTo(dy, t.shape)]);
  return out;
}
