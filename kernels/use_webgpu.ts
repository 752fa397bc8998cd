// Selecting the WebGPU backend, host-neutral: the GPU comes from navigator.gpu in a browser and from
// the provider the Node entry registered (kernels/webgpu/dawn.ts) in Node.

import { setBackend } from '../engine/context.js';
import { CompileAhead, compileAheadState, compiledIndexFor } from './webgpu/compile_ahead.js';
import { requestWebGPU, type RequestDeviceOptions } from './webgpu/device.js';
import { WebGPUBackend } from './backend.js';

/** Acquires a device (Node: Dawn; browser: navigator.gpu) and makes WebGPU the current backend. On
 *  lavapipe it also acquires a second device that compiles new pipelines ahead (webgpu/compile_ahead.ts). */
export async function useWebGPU(options: RequestDeviceOptions = {}): Promise<WebGPUBackend> {
  const { device, info } = await requestWebGPU(options);
  const backend = new WebGPUBackend(device, info);
  if (compileAheadState(info).on)
    backend.gpu.compileAhead = new CompileAhead(
      (await requestWebGPU(options)).device,
      compiledIndexFor(backend.adapterIdentity),
    );
  return setBackend(backend) as WebGPUBackend;
}
