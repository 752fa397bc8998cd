// The engine: tensors, ops, autodiff, scoped memory, and the CPU reference backend. It holds no WebGPU
// code: the WebGPU backend, its kernels and the device layer they run on (kernels/webgpu/) live in kernels/.

export * from './backend.js';
export { getBackend, hasBackend, setBackend } from './context.js';
export { CpuBackend, type CpuBackendOptions } from './cpu/backend.js';
export * from './ops/index.js';
export { Random } from './random.js';
export { keep, tidy } from './scope.js';
export * from './shape.js';
export { Tape, isRecording, noGrad, type Vjp } from './tape.js';
export { Tensor } from './tensor.js';

import { CpuBackend, type CpuBackendOptions } from './cpu/backend.js';
import { setBackend } from './context.js';

/** Selects a new CPU reference backend for creation ops. */
export function useCpu(options: CpuBackendOptions = {}): CpuBackend {
  const backend = new CpuBackend(options);
  setBackend(backend);
  return backend;
}
