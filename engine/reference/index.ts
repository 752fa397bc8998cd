// yopo/reference: test your own kernels against yopo's CPU reference. The reference backend implements
// the same Backend interface as the WebGPU one (one method per primitive op, same signatures); the
// harness runs an op on any backend and on the reference with the same random inputs and reports how
// far apart they are; checkGradient checks a VJP against finite differences.

export { CpuBackend, type CpuBackendOptions } from '../cpu/backend.js';
export * from './compare.js';
export * from './gradient.js';
export * from './harness.js';

import { CpuBackend } from '../cpu/backend.js';

/** A fresh CPU reference backend: float64 storage by default (the precision the checks compare against). */
export function referenceBackend(options: { float64?: boolean } = { float64: true }): CpuBackend {
  return new CpuBackend(options);
}
