// The backend that creation ops (zeros, tensor, rand, ...) use. Ops on existing tensors always run on
// the backend their inputs live on.

import type { Backend } from './backend.js';

let current: Backend | null = null;

/** Makes `backend` the one creation ops (tensor, zeros, rand, …) allocate on; returns it. */
export function setBackend(backend: Backend): Backend {
  current = backend;
  return backend;
}

/** The backend creation ops use; throws if none was selected. */
export function getBackend(): Backend {
  if (!current) throw new Error('no backend selected: call useCpu() or await useWebGPU() first');
  return current;
}

/** Whether a backend has been selected. */
export function hasBackend(): boolean {
  return current !== null;
}
