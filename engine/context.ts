// The backend that creation ops (zeros, tensor, rand, ...) use. Ops on existing tensors always run on
// the backend their inputs live on.

import type { Backend } from './backend.js';

let current: Backend | null = null;

export function setBackend(backend: Backend): Backend {
  current = backend;
  return backend;
}

export function getBackend(): Backend {
  if (!current) throw new Error('no backend selected: call useCpu() or await useWebGPU() first');
  return current;
}

export function hasBackend(): boolean {
  return current !== null;
}
