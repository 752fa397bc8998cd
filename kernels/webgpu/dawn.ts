// Node's WebGPU: Dawn's bindings from the `webgpu` package, registered with the device layer when this
// module is imported (the Node entries import it; the browser entry never does).

import { withDawnNoticesKept } from './dawn_notices.js';
import { provideGpu } from './device.js';

let dawn: GPU | null = null;

async function loadDawn(): Promise<GPU> {
  if (dawn) return dawn;
  let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    mod = (await import('webgpu')) as typeof mod;
  } catch (error) {
    throw new Error(
      `could not load the 'webgpu' package (Dawn's Node bindings): ${(error as Error).message}. Run 'npm install'.`,
    );
  }
  // Dawn's bindings define GPUBufferUsage and friends on their module; kernels use them as globals.
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create([]);
  // Dawn looks for adapters at the first request and prints its limit notices then (dawn_notices.ts).
  const request = gpu.requestAdapter.bind(gpu);
  let first = true;
  gpu.requestAdapter = (options?: GPURequestAdapterOptions) => {
    if (!first) return request(options);
    first = false;
    return withDawnNoticesKept(() => request(options));
  };
  dawn = gpu;
  return dawn;
}

// Dawn's bindings settle a pending mapAsync or onSubmittedWorkDone by polling the device on every turn
// of Node's event loop (setImmediate), so while we wait for the GPU this thread spins at a full core.
// On a software adapter that core is one the driver's own threads need to run the kernels, and steps
// took far longer spinning than with the sleep below (docs/results.md, "Measurements behind code
// comments"; test/kernels/device_wait.test.ts checks the main thread's CPU time). So while a wait is pending,
// every turn of the loop also sleeps WAIT_SLEEP_MS (Atomics.wait, which Node allows on its main
// thread): the end of the GPU's work is noticed at most that much later, and the core is free.
const WAIT_SLEEP_MS = 0.5;
const sleepCell = new Int32Array(new SharedArrayBuffer(4));
let waits = 0;
let sleeping = false;

function sleepTurn(): void {
  if (waits === 0) {
    sleeping = false;
    return;
  }
  Atomics.wait(sleepCell, 0, 0, WAIT_SLEEP_MS);
  setImmediate(sleepTurn);
}

async function waitWithoutSpinning<T>(pending: Promise<T>): Promise<T> {
  waits++;
  if (!sleeping) {
    sleeping = true;
    setImmediate(sleepTurn);
  }
  try {
    return await pending;
  } finally {
    waits--;
  }
}

provideGpu(loadDawn, waitWithoutSpinning);
