// Selecting the WebGPU backend, host-neutral: the GPU comes from navigator.gpu in a browser and from
// the provider the Node entry registered (kernels/webgpu/dawn.ts) in Node.

import { setBackend } from '../engine/context.js';
import { requestWebGPU, type RequestDeviceOptions } from './webgpu/device.js';
import { WebGPUBackend } from './backend.js';

/** Acquires a device (Node: Dawn; browser: navigator.gpu) and makes WebGPU the current backend. */
export async function useWebGPU(options: RequestDeviceOptions = {}): Promise<WebGPUBackend> {
  const { device, info } = await requestWebGPU(options);
  return setBackend(new WebGPUBackend(device, info)) as WebGPUBackend;
}
