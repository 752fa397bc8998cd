// Reductions over chosen axes. The gradient of a sum is broadcast back; of a max/min it goes to the
// positions equal to the extreme (split evenly between ties).

import { normalizeAxes, sizeOf } from '../shape.js';
import { recordOp } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { div, eq, mul } from './binary.js';
import { scale } from './elementwise.js';
import { reshape } from './shape_ops.js';
import { keptShape, reduceUntaped as reduce } from './untaped.js';
import { backendOf, wrap } from './util.js';

/** Sum over `axes` (all when omitted); keepDims keeps them as size 1. */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = normalizeAxes(axes, x.rank, 'sum');
  const out = reduce('sum', x, ax, keepDims);
  recordOp(out, [x], (dy) => [mul(reshape(dy, keptShape(x.shape, ax)), onesOf(x))]);
  return out;
}

/** Mean over `axes` (all when omitted); keepDims keeps them as size 1. */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = normalizeAxes(axes, x.rank, 'mean');
  const count = sizeOf(ax.map((a) => x.shape[a]));
  return scale(sum(x, ax, keepDims), 1 / count);
}

function extreme(
  op: 'max' | 'min',
  x: Tensor,
  axes: number | readonly number[] | undefined,
  keepDims: boolean,
): Tensor {
  const ax = normalizeAxes(axes, x.rank, op);
  const out = reduce(op, x, ax, keepDims);
  recordOp(out, [x], (dy) => {
    const kept = keptShape(x.shape, ax);
    const mask = eq(x, reshape(out, kept));
    const ties = reduce('sum', mask, ax, true);
    return [mul(mask, div(reshape(dy, kept), ties))];
  });
  return out;
}

/** Largest element over `axes` (all when omitted); the gradient is shared equally among tied maxima. */
export const max = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor =>
  extreme('max', x, axes, keepDims);
/** Smallest element over `axes` (all when omitted); the gradient is shared equally among tied minima. */
export const min = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor =>
  extreme('min', x, axes, keepDims);

/** Index of the largest value along one axis (int32; first index on ties). */
export function argmax(x: Tensor, axis = -1): Tensor {
  const [a] = normalizeAxes(axis, x.rank, 'argmax');
  const backend = backendOf('argmax', x);
  const out = wrap(
    backend,
    backend.argmax(x.storage, x.shape, a),
    x.shape.filter((_, i) => i !== a),
    'int32',
  );
  recordOp(out, [x], () => [null]);
  return out;
}

/** A ones tensor of x's shape, for broadcasting a reduced gradient back. */
function onesOf(x: Tensor): Tensor {
  return wrap(x.backend, x.backend.fill(x.size, 1, x.dtype), x.shape, x.dtype);
}
