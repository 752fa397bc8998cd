// Node's WebGPU: Dawn's bindings from the `webgpu` package, registered with the device layer when this
// module is imported (the Node entries import it; the browser entry never does).

import { provideGpu } from './device.js';

let dawn: GPU | null = null;

async function loadDawn(): Promise<GPU> {
  if (dawn) return dawn;
  let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    mod = (await import('webgpu')) as typeof mod;
  } catch (error) {
    throw new Error(`could not load the 'webgpu' package (Dawn's Node bindings): ${(error as Error).message}. Run 'npm install'.`);
  }
  // Dawn's bindings define GPUBufferUsage and friends on their module; kernels use them as globals.
  Object.assign(globalThis, mod.globals);
  dawn = mod.create([]);
  return dawn;
}

provideGpu(loadDawn);
