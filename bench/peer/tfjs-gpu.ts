// The WebGPU environment TensorFlow.js expects, recreated in Node on Dawn's bindings (npm `webgpu`).
// tfjs-backend-webgpu refuses to start unless `navigator.gpu` exists, and its kernels use the
// GPUBufferUsage / GPUMapMode globals that a browser defines; Node 20 has neither.

let dawnGpu: GPU | null = null;

/** Makes `navigator.gpu` and the GPU* constant globals exist, using Dawn in Node. Returns navigator.gpu. */
export async function ensureNavigatorGpu(): Promise<GPU> {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator?.gpu) return g.navigator.gpu;
  if (!dawnGpu) {
    let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
    try {
      mod = (await import('webgpu')) as typeof mod;
    } catch (error) {
      throw new Error(`could not load the 'webgpu' package (Dawn's Node bindings): ${(error as Error).message}`);
    }
    if (typeof (globalThis as { GPUBufferUsage?: unknown }).GPUBufferUsage === 'undefined')
      Object.assign(globalThis, mod.globals);
    dawnGpu = mod.create([]);
  }
  // Node 20 has no `navigator`; Node 21+ has one without `gpu`. Define rather than assign, so both work.
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: dawnGpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu: dawnGpu }, configurable: true, writable: true });
  return dawnGpu;
}

/**
 * A device requested the way tfjs-backend-webgpu's own factory does (the adapter's largest limits),
 * plus maxStorageBuffersPerShaderStage as our engine asks: ops with many inputs (addN of 8+
 * tensors) need more than the default 8 storage buffers.
 */
export async function requestTfjsDevice(gpu: GPU): Promise<GPUDevice> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter found (is a Vulkan driver such as Mesa lavapipe installed?)');
  const l = adapter.limits;
  return adapter.requestDevice({
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  });
}

/** 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)'-style name of the adapter behind a device. */
export function adapterLabel(device: GPUDevice): string {
  const info = device.adapterInfo;
  if (!info) return 'an unknown adapter';
  return (
    info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(' ') || 'an unnamed adapter'
  );
}
