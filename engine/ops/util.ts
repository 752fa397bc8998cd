// Helpers shared by op definitions: backend agreement, dtype checks, wrapping results.

import type { Backend, DType, Storage } from '../backend.js';
import { type Shape, shapeString } from '../shape.js';
import { Tensor } from '../tensor.js';

/** All inputs of an op must live on one backend. */
export function backendOf(op: string, ...tensors: Tensor[]): Backend {
  const b = tensors[0].backend;
  for (const t of tensors) {
    if (t.backend !== b)
      throw new Error(
        `${op}: inputs live on different backends (${b.name} and ${t.backend.name}); move them to one backend first`,
      );
  }
  return b;
}

/** Throws a clear error naming `op` if any tensor is not float32. */
export function requireFloat(op: string, ...tensors: Tensor[]): void {
  for (const t of tensors) {
    if (t.dtype !== 'float32')
      throw new Error(`${op}: expected a float32 tensor, got ${t.dtype} of shape ${shapeString(t.shape)}`);
  }
}

/** A new tensor owning `storage` made by `backend`. */
export function wrap(backend: Backend, storage: Storage, shape: Shape, dtype: DType = 'float32'): Tensor {
  return Tensor.fromStorage(backend, storage, shape, dtype);
}
