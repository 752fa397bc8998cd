// Layout ops: reshape (a view, no copy) and transpose (a copy in the new order).

import { type Shape, shapeString, sizeOf } from '../shape.js';
import { recordOp } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, wrap } from './util.js';

/** New shape over the same storage; one dimension may be -1 (inferred). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const target = [...shape];
  const unknown = target.indexOf(-1);
  if (unknown >= 0) {
    const known = sizeOf(target.filter((_, i) => i !== unknown));
    if (known === 0 || x.size % known !== 0)
      throw new Error(`reshape: cannot infer -1 in ${shapeString(shape)} for ${x.size} elements`);
    target[unknown] = x.size / known;
  }
  const out = x.view(target);
  recordOp(out, [x], (dy) => [reshape(dy, x.shape)]);
  return out;
}

/** [N, ...] → [N, rest]. */
export function flatten(x: Tensor): Tensor {
  return reshape(x, [x.shape[0], x.size / Math.max(1, x.shape[0])]);
}

/** Permutes axes: out.shape[i] = x.shape[perm[i]]. Default reverses the axes. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const p = perm ?? x.shape.map((_, i) => x.rank - 1 - i);
  const valid = p.length === x.rank && [...p].sort((a, b) => a - b).every((v, i) => v === i);
  if (!valid)
    throw new Error(
      `transpose: perm [${p.join(', ')}] is not a permutation of the ${x.rank} axes of ${shapeString(x.shape)}`,
    );
  const backend = backendOf('transpose', x);
  const out = wrap(
    backend,
    backend.transpose(x.storage, x.shape, p, x.dtype),
    p.map((a) => x.shape[a]),
    x.dtype,
  );
  const inverse = new Array<number>(p.length);
  p.forEach((a, i) => (inverse[a] = i));
  recordOp(out, [x], (dy) => [transpose(dy, inverse)]);
  return out;
}
