// The WebGPU backend and how to select it.

import { setBackend } from '../engine/context.js';
import { requestWebGPU, type RequestDeviceOptions } from '../engine/webgpu/device.js';
import { WebGPUBackend } from './backend.js';

export { WebGPUBackend } from './backend.js';

/** Acquires a device (Node: Dawn; browser: navigator.gpu) and makes WebGPU the current backend. */
export async function useWebGPU(options: RequestDeviceOptions = {}): Promise<WebGPUBackend> {
  const { device, info } = await requestWebGPU(options);
  return setBackend(new WebGPUBackend(device, info)) as WebGPUBackend;
}
