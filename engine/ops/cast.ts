// Dtype conversion (float32 → int32 truncates toward zero). No gradient flows through a cast.

import type { DType } from '../backend.js';
import { recordOp } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, wrap } from './util.js';

/** x converted to `dtype` (float → int32 truncates toward zero); no gradient. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const backend = backendOf('cast', x);
  const out = wrap(backend, backend.cast(x.storage, x.size, x.dtype, dtype), x.shape, dtype);
  recordOp(out, [x], () => [null]);
  return out;
}
