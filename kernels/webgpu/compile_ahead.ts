// Compiling ahead of the queue on lavapipe: a second device compiles the pipelines the first one's
// queue has not reached yet, and Mesa's shader disk cache hands the compiled code over.
//
// Why: lavapipe (Mesa's software Vulkan driver) compiles a compute pipeline with LLVM at its first
// dispatch, not when it is created, and on the queue's one thread. A cold first training step makes
// about 50 new pipelines (SmallCNN), so it compiles them one after another while the machine's other
// cores idle. A second GPUDevice has a queue thread of its own. When the main device submits work with
// new pipelines, this one gets them too and compiles them with one-workgroup dispatches on scratch
// buffers, and Mesa's disk cache (on by default) keeps the result. When the main queue reaches that pipeline,
// lavapipe loads it from the cache instead of compiling it. The main queue works oldest first and
// this one newest first, so they meet in the middle having split the work (docs/notes/compile.md
// has the measurements). Nothing the main device computes changes: the cache holds the same code the
// main device would have compiled.
//
// Only for lavapipe in Node: other drivers compile when a pipeline is created, on the creating
// thread. YOPO_COMPILE_AHEAD=off turns it off, =on forces it (tests); Mesa's cache must be on
// (MESA_SHADER_CACHE_DISABLE unset), or the work done here would be lost.

import { type AdapterDescription, waitForDevice } from './device.js';

/** The environment variable that turns compiling ahead off ('off') or forces it ('on'). */
export const COMPILE_AHEAD_ENV = 'YOPO_COMPILE_AHEAD';

/** Scratch storage per binding: big enough for any kernel's fixed-size arrays and one workgroup's reads (robust access clamps the rest). */
const SCRATCH_BYTES = 1 << 16;

/** Uniform words for the scratch dispatch: small nonzero sizes, so that a loop bound read from a uniform (a matmul's k − k mod 4) neither wraps round nor runs long. */
const SCRATCH_UNIFORM_WORD = 8;

/** Whether a device on this adapter gets a second device that compiles ahead (see the header), and why. */
export function compileAheadState(adapter: AdapterDescription | null): { on: boolean; why: string } {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined>; versions?: { node?: string } } })
    .process;
  const env = proc?.env ?? {};
  const setting = env[COMPILE_AHEAD_ENV];
  if (setting === 'off') return { on: false, why: `${COMPILE_AHEAD_ENV}=off` };
  if (setting === 'on') return { on: true, why: `${COMPILE_AHEAD_ENV}=on` };
  if (setting !== undefined && setting !== '')
    throw new Error(`${COMPILE_AHEAD_ENV}='${setting}': expected 'on' or 'off'`);
  if (!proc?.versions?.node) return { on: false, why: 'not in Node' };
  const text = adapter
    ? `${adapter.vendor} ${adapter.architecture} ${adapter.device} ${adapter.description}`.toLowerCase()
    : '';
  if (!/llvmpipe|lavapipe/.test(text)) return { on: false, why: 'this driver compiles a pipeline when it is created' };
  if (/^(1|true|yes)$/i.test(env.MESA_SHADER_CACHE_DISABLE ?? ''))
    return { on: false, why: "Mesa's shader cache is off (MESA_SHADER_CACHE_DISABLE)" };
  return { on: true, why: 'lavapipe compiles at first dispatch on one thread' };
}

/** The bindings a kernel declares, and whether each is a uniform: from its WGSL (`@binding(n) var<storage|uniform…>`). */
export function bindingsOf(code: string): { binding: number; uniform: boolean }[] {
  return [...code.matchAll(/@binding\((\d+)\)\s*var<(storage|uniform)/g)].map((m) => ({
    binding: Number(m[1]),
    uniform: m[2] === 'uniform',
  }));
}

/**
 * The programs an earlier process already compiled into Mesa's cache (the Node entry keeps them in a
 * file: kernels/compiled_index_file.ts). With a warm cache, compiling them here would only repeat
 * the main thread's work of creating each pipeline (docs/notes/compile.md), so they are left to the
 * main queue, which loads them from the cache.
 */
export interface CompiledIndex {
  has(code: string): boolean;
  /** Programs now in Mesa's cache. */
  add(codes: readonly string[]): void;
}

let indexProvider: ((adapterIdentity: string) => CompiledIndex) | null = null;

/** Registers where the index of compiled programs lives (the Node entry; a browser has none). */
export function provideCompiledIndex(provider: (adapterIdentity: string) => CompiledIndex): void {
  indexProvider ??= provider;
}

/** The index of programs compiled on this adapter, or null where none is kept. */
export function compiledIndexFor(adapterIdentity: string): CompiledIndex | null {
  return indexProvider?.(adapterIdentity) ?? null;
}

/** A program as the main device made it: its name (for errors) and its WGSL. */
export interface ProgramSource {
  name: string;
  code: string;
}

/** A second device that compiles the main device's new pipelines while the main queue compiles others. */
export class CompileAhead {
  private readonly storage: GPUBuffer[] = [];
  private uniform: GPUBuffer | null = null;
  private inFlight: Promise<void> = Promise.resolve();
  private disposed = false;
  /** Pipelines compiled here (the main device then loads them from Mesa's cache). */
  compiled = 0;
  /** The first failure here (a kernel whose bindings the scratch buffers do not fit): compiling ahead
   *  stops; the main device is unaffected. */
  error: Error | null = null;

  constructor(
    readonly device: GPUDevice,
    private readonly index: CompiledIndex | null = null,
  ) {}

  /**
   * The main device has just submitted work that uses `programs` for the first time, in the order
   * of their first dispatch (`mainDone` settles when that work is done). Of those not in Mesa's
   * cache yet, its queue compiles the oldest first; this device takes the rest, newest first, in one
   * submission of one-workgroup dispatches (lavapipe compiles at the first dispatch). Handed over in
   * one go because lavapipe makes a device's pipeline creation and submits wait while its queue
   * runs: the main thread may soon be waiting on the main queue.
   */
  compile(programs: readonly ProgramSource[], mainDone: Promise<unknown>): void {
    const index = this.index;
    const fresh = index ? programs.filter((p) => !index.has(p.code)) : programs;
    // (a device lost on the way: the main device reports that itself)
    if (index && fresh.length > 0)
      mainDone.then(
        () => index.add(fresh.map((p) => p.code)),
        () => {},
      );
    if (this.disposed || this.error || fresh.length < 2) return;
    const device = this.device;
    const ahead = fresh.slice(1).reverse();
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const p of ahead) {
      const module = device.createShaderModule({ label: p.name, code: p.code });
      const pipeline = device.createComputePipeline({
        label: p.name,
        layout: 'auto',
        compute: { module, entryPoint: 'main' },
      });
      const entries = bindingsOf(p.code).map(({ binding, uniform }) => ({
        binding,
        resource: { buffer: uniform ? this.scratchUniform() : this.scratchStorage(binding) },
      }));
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
      pass.dispatchWorkgroups(1);
    }
    pass.end();
    device.queue.submit([encoder.finish()]);
    const names = ahead.map((p) => p.name).join(', ');
    const fail = (message: string) => {
      if (!this.disposed)
        this.error ??= new Error(`compiling ahead on the second device failed (one of: ${names}): ${message}`);
    };
    const done = waitForDevice(device.popErrorScope())
      .then(async (error) => {
        if (error) return fail(error.message);
        await waitForDevice(device.queue.onSubmittedWorkDone());
        if (!this.disposed) this.compiled += ahead.length;
      })
      .catch((error: Error) => fail(error.message));
    const previous = this.inFlight;
    this.inFlight = previous.then(() => done);
  }

  /** Resolves when this device has compiled everything handed to it (tests; a tuner that times kernels). */
  async idle(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.inFlight;
      await seen;
    } while (seen !== this.inFlight);
  }

  dispose(): void {
    this.disposed = true;
    this.device.destroy();
  }

  /** One scratch buffer per binding: a buffer bound both read-only and writable in one dispatch is invalid. */
  private scratchStorage(binding: number): GPUBuffer {
    this.storage[binding] ??= this.device.createBuffer({ size: SCRATCH_BYTES, usage: GPUBufferUsage.STORAGE });
    return this.storage[binding];
  }

  private scratchUniform(): GPUBuffer {
    if (!this.uniform) {
      this.uniform = this.device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.device.queue.writeBuffer(this.uniform, 0, new Uint32Array(64).fill(SCRATCH_UNIFORM_WORD));
    }
    return this.uniform;
  }
}
