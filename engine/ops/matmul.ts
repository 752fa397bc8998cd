// Matrix products: 2-D [m,k]·[k,n] or batched [b,m,k]·[b,k,n], with either operand read transposed.

import { shapeString } from '../shape.js';
import { recordOp } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, requireFloat, wrap } from './util.js';

/** Whether to transpose the last two axes of a and/or b before multiplying. */
export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/** [m, k]·[k, n] → [m, n], or batched [B, m, k]·[B, k, n] → [B, m, n]; transA/transB read a or b as its transpose. */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  requireFloat('matmul', a, b);
  const describe = () =>
    `matmul: cannot multiply ${shapeString(a.shape)}${transA ? 'ᵀ' : ''} by ${shapeString(b.shape)}${transB ? 'ᵀ' : ''}`;
  if (a.rank !== b.rank || (a.rank !== 2 && a.rank !== 3))
    throw new Error(`${describe()}: both operands must be 2-D or both 3-D (batched)`);
  const batched = a.rank === 3;
  const batch = batched ? a.shape[0] : 1;
  if (batched && b.shape[0] !== batch) throw new Error(`${describe()}: batch sizes differ`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, k] = transA ? [ac, ar] : [ar, ac];
  const [k2, n] = transB ? [bc, br] : [br, bc];
  if (k !== k2) throw new Error(`${describe()}: inner dimensions differ (${k} vs ${k2})`);
  const backend = backendOf('matmul', a, b);
  const storage = backend.matmul(a.storage, b.storage, { batch, m, n, k, transA, transB });
  const out = wrap(backend, storage, batched ? [batch, m, n] : [m, n]);
  // C = op(A)·op(B): dop(A) = dC·op(B)ᵀ and dop(B) = op(A)ᵀ·dC, transposed back where A or B was.
  recordOp(out, [a, b], (dc, needed) => [
    !needed[0] ? null : transA ? matmul(b, dc, { transA: transB, transB: true }) : matmul(dc, b, { transB: !transB }),
    !needed[1] ? null : transB ? matmul(dc, a, { transA: true, transB: transA }) : matmul(a, dc, { transA: !transA }),
  ]);
  return out;
}
