// No silent NaN in a checkpoint: the check shared by the Node checkpoint files (checkpoint.ts) and the
// in-memory model bytes the browser page loads (model_bytes.ts). Free of Node modules.

import type { HostTensor } from './module.js';

/** A non-finite value where a checkpoint is read or written. */
export class NonFiniteError extends Error {
  constructor(
    message: string,
    readonly tensor: string,
  ) {
    super(message);
    this.name = 'NonFiniteError';
  }
}

/** Throws NonFiniteError naming the first tensor (and index) holding NaN or ±Infinity. */
export function assertFinite(tensors: Map<string, HostTensor>, what: string): void {
  for (const [name, t] of tensors) {
    if (!(t.data instanceof Float32Array)) continue;
    const data = t.data;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]))
        throw new NonFiniteError(
          `${what}: tensor ${name} holds ${data[i]} (at flat index ${i} of ${data.length}); non-finite values are never checkpointed`,
          name,
        );
    }
  }
}
