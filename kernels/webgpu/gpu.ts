// The WebGPU execution layer every kernel runs on:
// - pipelines compiled once per program (a name and a key that says what its WGSL depends on) and cached;
// - dispatches recorded into one open compute pass and submitted in batches (no submit per op);
// - a size-bucketed pool of storage buffers, so training steps allocate nothing after warm-up;
// - readback only when asked (read), and errors from the device surfaced as exceptions at the next
//   sync or read instead of silent garbage or hangs.

import type { CompileAhead, ProgramSource } from './compile_ahead.js';
import { waitForDevice } from './device.js';
import { KernelProfiler, type KernelTime } from './kernel_profiler.js';

/** A pooled storage buffer; `lastUse` is the batch (encoder generation) that last touched it. */
export class GpuBuffer {
  private static nextId = 0;
  readonly id = GpuBuffer.nextId++;
  lastUse = -1;
  /** Goes up whenever the contents may change (a kernel that writes it, an upload, a copy into it), so
   *  that what was derived from it (Gpu.derived) knows when to be made again. */
  version = 0;
  /** A buffer binds whole: from offset 0, all its bytes. */
  readonly offset = 0;
  constructor(
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {}

  get owner(): GpuBuffer {
    return this;
  }
}

/**
 * A byte range of a buffer that binds as if it were a buffer of its own (`bytes` long): how an op
 * on a tensor over the binding limit sees one chunk of it (kernels/chunks.ts). The offset is a
 * multiple of the device's minStorageBufferOffsetAlignment.
 */
export class GpuWindow {
  readonly buffer: GPUBuffer;
  constructor(
    readonly owner: GpuBuffer,
    readonly offset: number,
    readonly bytes: number,
  ) {
    this.buffer = owner.buffer;
  }
}

/** What a kernel binds: a whole buffer or a window onto one. */
export type Binding = GpuBuffer | GpuWindow;

/** Buffers are reused by size class: exact below 4 KiB (256-byte steps), then within 1/8 of a power of two. */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, bytes);
  if (b <= 4096) return Math.ceil(b / 256) * 256;
  const step = 2 ** (Math.floor(Math.log2(b)) - 3);
  return Math.ceil(b / step) * step;
}

/**
 * A buffer larger than the device allows: over maxBufferSize when it is created, or, bound whole by
 * an op that cannot split its work into chunks, over maxStorageBufferBindingSize (128 MiB on
 * lavapipe and many GPUs). Refused before anything reaches Dawn, which would otherwise report a
 * validation error for every dispatch that binds it.
 */
export class DeviceLimitError extends Error {
  constructor(
    readonly bytes: number,
    readonly limit: number,
    readonly limitName: 'maxStorageBufferBindingSize' | 'maxBufferSize' = 'maxStorageBufferBindingSize',
  ) {
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    super(
      `a tensor of ${mib(bytes)} (${bytes} bytes) is over this WebGPU device's ${limitName} of ${mib(limit)} (${limit} bytes)`,
    );
    this.name = 'DeviceLimitError';
  }
}

/** The environment variable that lowers the binding limit (bytes), so chunking can be tried on small tensors. */
export const BINDING_LIMIT_ENV = 'YOPO_MAX_BINDING_BYTES';

/** The environment variable that makes every Gpu check its program keys (see Gpu.program). */
export const CHECK_PROGRAM_KEYS_ENV = 'YOPO_CHECK_PROGRAM_KEYS';

const MAX_PENDING_DISPATCHES = 256;
/** While new pipelines are held back for compiling ahead, a submit still goes in at this many dispatches. */
const MAX_HELD_DISPATCHES = 4096;
const BIND_GROUP_CACHE_LIMIT = 8192;
/** The most bytes Gpu.derived keeps; past it a derived buffer is made for one use and released. */
const DERIVED_BYTES_LIMIT = 64 * 2 ** 20;

/**
 * Running totals of the work a Gpu has done: compute dispatches, command encoders, queue submits,
 * bind groups created (a cached one reused counts nothing), pipelines compiled, uniform blocks
 * written, buffer uploads and readbacks.
 */
export interface GpuCounters {
  dispatches: number;
  encoders: number;
  submits: number;
  bindGroups: number;
  pipelines: number;
  uniformWrites: number;
  uploads: number;
  readbacks: number;
}

/** A buffer Gpu.derived made from `source` when `source` was at `version`. */
interface DerivedEntry {
  source: GpuBuffer;
  buffer: GpuBuffer;
  version: number;
}

/** The binding numbers a WGSL program declares `var<storage, read_write>` (the ones its dispatches may write). */
export function writableBindings(code: string): number[] {
  const out: number[] = [];
  for (const m of code.matchAll(/@binding\((\d+)\)\s*var\s*<\s*storage\s*,\s*read_write\s*>/g)) out.push(Number(m[1]));
  return out;
}

/**
 * The WebGPU execution layer every kernel runs on, over one GPUDevice: cached pipelines, dispatches batched into
 * one compute pass, a size-bucketed storage-buffer pool (acquire/release), explicit read/sync, and device
 * errors raised as exceptions at the next sync or read.
 */
export class Gpu {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly pipelineIds = new WeakMap<GPUComputePipeline, number>();
  /** The bindings each pipeline declares read_write: a dispatch bumps their buffers' versions. */
  private readonly writtenBindings = new WeakMap<GPUComputePipeline, readonly number[]>();
  /** Gpu.derived's buffers, by what they were derived from and how. */
  private readonly derivedBuffers = new Map<string, DerivedEntry>();
  /** The keys of derivedBuffers by source, so that releasing a buffer (a hot path) finds its entries at once. */
  private readonly derivedKeys = new Map<GpuBuffer, string[]>();
  private derivedBytes = 0;
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly free = new Map<number, GpuBuffer[]>();
  /** Uniform blocks by slot: the i-th dispatch with uniforms in a submit uses slot i (see uniformBuffer). */
  private readonly uniformSlots: GPUBuffer[] = [];
  private uniformNext = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  private generation = 0;
  private error: Error | null = null;
  private lostReason: string | null = null;
  private liveCount = 0;
  private liveBytes = 0;
  private pooledCount = 0;
  private pooledBytes = 0;
  readonly counters: GpuCounters = {
    dispatches: 0,
    encoders: 0,
    submits: 0,
    bindGroups: 0,
    pipelines: 0,
    uniformWrites: 0,
    uploads: 0,
    readbacks: 0,
  };
  /** While a profile is on (startProfile), the timestamps of every dispatch. */
  private profiler: KernelProfiler | null = null;
  /** Whether `program` checks that each key names one source (tests turn it on; YOPO_CHECK_PROGRAM_KEYS=1). */
  checkProgramKeys: boolean;
  private readonly sources = new Map<string, string>();
  /** On lavapipe, a second device that compiles new pipelines before this device's queue reaches them
   *  (compile_ahead.ts; useWebGPU attaches it); null elsewhere. */
  compileAhead: CompileAhead | null = null;
  /** Programs first used since the last submit, when compiling ahead: handed to it at the next submit. */
  private newPrograms: ProgramSource[] = [];

  /** The adapter's vendor, architecture, device and description, lower case (for the few kernels whose
   *  best tile depends on the compiler behind the adapter, e.g. SwiftShader's). */
  readonly adapterText: string;

  /** The subgroup size when the device has subgroup operations and its subgroups have one fixed size
   *  (lavapipe: 8, the SIMD width); 0 otherwise. Kernels that share values across a subgroup need it. */
  readonly subgroupSize: number;

  /** The most bytes one binding may see: the device's maxStorageBufferBindingSize, or less for tests
   *  (setBindingLimitForTesting, or YOPO_MAX_BINDING_BYTES). Ops on bigger tensors run in chunks. */
  bindingLimit: number;
  /** Where a window may start: a multiple of this many bytes (minStorageBufferOffsetAlignment, usually 256). */
  readonly bindingAlignment: number;

  constructor(readonly device: GPUDevice) {
    this.bindingAlignment = device.limits.minStorageBufferOffsetAlignment;
    this.bindingLimit = device.limits.maxStorageBufferBindingSize;
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
    const fromEnv = env?.[BINDING_LIMIT_ENV];
    if (fromEnv) this.setBindingLimitForTesting(Number(fromEnv));
    this.checkProgramKeys = env?.[CHECK_PROGRAM_KEYS_ENV] === '1';
    const info = device.adapterInfo;
    this.adapterText = info
      ? `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase()
      : '';
    const { subgroupMinSize: min, subgroupMaxSize: max } = info ?? {};
    this.subgroupSize = device.features.has('subgroups') && min !== undefined && min === max ? min : 0;
    device.lost.then((info) => {
      if (info.reason !== 'destroyed') this.lostReason = `WebGPU device lost (${info.reason}): ${info.message}`;
    });
    device.addEventListener('uncapturederror', (event) => {
      const e = (event as GPUUncapturedErrorEvent).error;
      this.error ??= new Error(`WebGPU error: ${e.message}`);
    });
  }

  /** Throws the first device error seen so far (validation, out-of-memory, device loss). */
  checkErrors(): void {
    if (this.lostReason) throw new Error(this.lostReason);
    if (this.error) {
      const e = this.error;
      this.error = null;
      throw e;
    }
  }

  /**
   * Lowers the binding limit (bytes, a multiple of the alignment, at most the device's), so that tests
   * run the chunked path of every op on small tensors; null restores the device's limit. Frees the
   * pool, whose buffers were sized for the old limit.
   */
  setBindingLimitForTesting(bytes: number | null): void {
    const device = this.device.limits.maxStorageBufferBindingSize;
    if (
      bytes !== null &&
      !(Number.isInteger(bytes) && bytes > 0 && bytes % this.bindingAlignment === 0 && bytes <= device)
    ) {
      throw new Error(
        `binding limit ${bytes} (${BINDING_LIMIT_ENV}) must be a multiple of ${this.bindingAlignment} bytes, at most the device's ${device}`,
      );
    }
    this.flush();
    this.trimPool();
    this.bindingLimit = bytes ?? device;
  }

  // ---- Pipelines -------------------------------------------------------------------------------

  /**
   * The compute pipeline of a program (entry point `main`), compiled on first use. A program is
   * named by `name` and `key`: the key must say everything its WGSL depends on (a shape, a dtype, a
   * tile plan), so that `source` runs only on a cache miss. A kernel that keeps sizes and scalars out
   * of its WGSL (reading them from a uniform or from arrayLength) has a key of a few words and one
   * pipeline for every size. With `checkProgramKeys` on (tests), every call builds the source and a
   * key that names two different sources throws.
   */
  program(name: string, key: string, source: () => string): GPUComputePipeline {
    const id = `${name}|${key}`;
    const cached = this.pipelines.get(id);
    if (cached && this.checkProgramKeys) {
      const code = source();
      if (code !== this.sources.get(id))
        throw new Error(
          `program '${name}' key '${key}' names two different WGSL sources: its key misses something the source depends on`,
        );
    }
    if (cached) return cached;
    const code = source();
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label: name, code });
    const pipeline = this.device.createComputePipeline({
      label: name,
      layout: 'auto',
      compute: { module, entryPoint: 'main' },
    });
    this.device.popErrorScope().then((e) => {
      if (e) this.error ??= new Error(`WebGPU kernel '${name}' failed to compile: ${e.message}\n${code}`);
    });
    this.pipelineIds.set(pipeline, this.pipelines.size);
    this.writtenBindings.set(pipeline, writableBindings(code));
    this.pipelines.set(id, pipeline);
    if (this.checkProgramKeys) this.sources.set(id, code);
    this.counters.pipelines++;
    if (this.compileAhead) this.newPrograms.push({ name, code });
    return pipeline;
  }

  // ---- Memory ----------------------------------------------------------------------------------

  /**
   * A storage buffer of at least `bytes` bytes (up to maxBufferSize), from the pool when one of its
   * size class is free. One over the binding limit is only ever bound through windows.
   */
  acquire(bytes: number): GpuBuffer {
    if (this.lostReason) throw new Error(this.lostReason);
    const max = this.device.limits.maxBufferSize;
    if (bytes > max) throw new DeviceLimitError(bytes, max, 'maxBufferSize');
    // (lavapipe's maxBufferSize is 2^32 − 1: a rounded size stops at a multiple of 256 below it)
    // The size class may round past the binding limit; a buffer whose tensor fits it must stay bindable whole.
    const size = Math.max(
      bytes,
      Math.min(sizeClass(bytes), bytes <= this.bindingLimit ? this.bindingLimit : Math.floor(max / 256) * 256),
    );
    const list = this.free.get(size);
    let buf = list?.shift();
    if (buf) {
      this.pooledCount--;
      this.pooledBytes -= size;
    } else {
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
      buf = new GpuBuffer(this.device.createBuffer({ size, usage }), size);
    }
    this.liveCount++;
    this.liveBytes += size;
    return buf;
  }

  /** Returns a buffer to the pool. Safe while queued work still uses it: later GPU work runs after. */
  release(buf: GpuBuffer): void {
    this.forgetDerivedFrom(buf);
    buf.version++;
    this.liveCount--;
    this.liveBytes -= buf.bytes;
    this.pooledCount++;
    this.pooledBytes += buf.bytes;
    let list = this.free.get(buf.bytes);
    if (!list) this.free.set(buf.bytes, (list = []));
    // Kept in id order, and acquire takes the lowest: which buffer an op gets then depends only on which are
    // free, not on the order they came back, so a step that repeats its work repeats its buffers (and bind groups).
    let at = list.length;
    while (at > 0 && list[at - 1]!.id > buf.id) at--;
    list.splice(at, 0, buf);
  }

  /** Frees every pooled buffer (e.g. after a large evaluation) without touching live ones. */
  trimPool(): void {
    for (const list of this.free.values()) for (const b of list) b.buffer.destroy();
    this.free.clear();
    this.pooledCount = 0;
    this.pooledBytes = 0;
    this.bindGroups.clear();
  }

  memory() {
    return {
      liveBuffers: this.liveCount,
      pooledBuffers: this.pooledCount,
      liveBytes: this.liveBytes,
      pooledBytes: this.pooledBytes,
    };
  }

  /** Writes host data into a buffer. queue.writeBuffer runs before any unsubmitted work, so a buffer
   *  that queued work still reads is flushed first. */
  write(buf: GpuBuffer, data: ArrayBufferView, offsetBytes = 0): void {
    if (buf.lastUse === this.generation && this.pending > 0) this.flush();
    this.device.queue.writeBuffer(buf.buffer, offsetBytes, data.buffer, data.byteOffset, data.byteLength);
    buf.version++;
    this.counters.uploads++;
  }

  /** Copies `bytes` bytes of a buffer back to the host. Submits queued work and waits for it. */
  async read(buf: GpuBuffer, bytes: number): Promise<ArrayBuffer> {
    this.checkErrors();
    const staging = this.device.createBuffer({
      size: Math.max(4, Math.ceil(bytes / 4) * 4),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const encoder = this.openEncoder();
    this.closePass();
    encoder.copyBufferToBuffer(buf.buffer, 0, staging, 0, staging.size);
    buf.lastUse = this.generation;
    this.flush();
    this.counters.readbacks++;
    try {
      await waitForDevice(staging.mapAsync(GPUMapMode.READ));
    } catch (error) {
      this.checkErrors();
      throw new Error(`WebGPU readback failed: ${(error as Error).message}`);
    }
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    this.checkErrors();
    return out;
  }

  /** Copies `bytes` bytes of src into dst on the GPU timeline (in order with dispatches); offsets in bytes, multiples of 4. */
  copy(src: Binding, dst: Binding, bytes: number, srcOffset = 0, dstOffset = 0): void {
    const encoder = this.openEncoder();
    this.closePass();
    encoder.copyBufferToBuffer(
      src.buffer,
      src.offset + srcOffset,
      dst.buffer,
      dst.offset + dstOffset,
      Math.ceil(bytes / 4) * 4,
    );
    src.owner.lastUse = dst.owner.lastUse = this.generation;
    dst.owner.version++;
    this.countPending();
  }

  /**
   * A buffer of `bytes` bytes that `make` fills from `source` (e.g. weights rearranged for a kernel),
   * made again only when `source` has changed since: an attack's many passes over the same weights
   * rearrange them once. `name` must say everything `make` does besides reading `source`. The buffer
   * belongs to the cache (it goes when `source` is released) unless `release` is true: then the cache
   * was full and the caller releases it after use, as an uncached buffer.
   */
  derived(
    name: string,
    source: Binding,
    bytes: number,
    make: (out: GpuBuffer) => void,
  ): { buffer: GpuBuffer; release: boolean } {
    const key = `${name}|${source.owner.id}@${source.offset}+${source.bytes}`;
    const entry = this.derivedBuffers.get(key);
    if (entry && entry.version === source.owner.version) return { buffer: entry.buffer, release: false };
    if (!entry && this.derivedBytes + bytes > DERIVED_BYTES_LIMIT) {
      const buffer = this.acquire(bytes);
      make(buffer);
      return { buffer, release: true };
    }
    const buffer = entry?.buffer ?? this.acquire(bytes);
    make(buffer);
    if (!entry) {
      this.derivedBytes += buffer.bytes;
      const keys = this.derivedKeys.get(source.owner);
      if (keys) keys.push(key);
      else this.derivedKeys.set(source.owner, [key]);
    }
    this.derivedBuffers.set(key, { source: source.owner, buffer, version: source.owner.version });
    return { buffer, release: false };
  }

  /** Releases what was derived from `source` (its contents are about to belong to another tensor). */
  private forgetDerivedFrom(source: GpuBuffer): void {
    const keys = this.derivedKeys.get(source);
    if (!keys) return;
    this.derivedKeys.delete(source);
    for (const key of keys) {
      const entry = this.derivedBuffers.get(key)!;
      this.derivedBuffers.delete(key);
      this.derivedBytes -= entry.buffer.bytes;
      this.release(entry.buffer);
    }
  }

  // ---- Dispatch --------------------------------------------------------------------------------

  /**
   * Records one dispatch. `buffers` (whole buffers or windows) bind to @group(0) @binding(0..n-1) in
   * order; `uniforms`, if given, binds as a uniform buffer at the next binding. A binding over the
   * binding limit (an op that cannot run in chunks) is refused with a DeviceLimitError.
   */
  dispatch(
    pipeline: GPUComputePipeline,
    buffers: readonly Binding[],
    workgroups: readonly [number, number?, number?],
    uniforms?: ArrayBufferView,
  ): void {
    if (this.lostReason) throw new Error(this.lostReason);
    for (const b of buffers) if (b.bytes > this.bindingLimit) throw new DeviceLimitError(b.bytes, this.bindingLimit);
    if (this.profiler) {
      // One pass per dispatch, so that its timestamps time this kernel alone.
      if (this.profiler.full) this.flush();
      this.closePass();
      this.pass = this.openEncoder().beginComputePass(this.profiler.passFor(pipeline.label));
    }
    const pass = this.openPass();
    const entries: GPUBindGroupEntry[] = buffers.map((b, i) => ({
      binding: i,
      resource: b instanceof GpuWindow ? { buffer: b.buffer, offset: b.offset, size: b.bytes } : { buffer: b.buffer },
    }));
    const u = uniforms ? this.uniformBuffer(uniforms) : null;
    if (u) entries.push({ binding: buffers.length, resource: { buffer: u } });
    const bindGroup = this.cachedBindGroup(pipeline, buffers, entries, u ? this.uniformNext - 1 : null);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1);
    for (const b of buffers) b.owner.lastUse = this.generation;
    for (const i of this.writtenBindings.get(pipeline) ?? buffers.keys()) if (buffers[i]) buffers[i].owner.version++;
    this.counters.dispatches++;
    this.countPending();
  }

  /** Submits all recorded work. */
  flush(): void {
    if (!this.encoder) return;
    this.closePass();
    this.profiler?.resolveInto(this.encoder);
    this.device.queue.submit([this.encoder.finish()]);
    this.counters.submits++;
    if (this.newPrograms.length > 0) {
      this.compileAhead?.compile(this.newPrograms, this.device.queue.onSubmittedWorkDone());
      this.newPrograms = [];
    }
    this.encoder = null;
    this.pending = 0;
    this.generation++;
    // Uniform slots used by the submitted work may be rewritten now: queue order protects them.
    this.uniformNext = 0;
  }

  /** Submits recorded work and waits until the GPU has finished it. */
  async sync(): Promise<void> {
    this.flush();
    await waitForDevice(this.device.queue.onSubmittedWorkDone());
    this.checkErrors();
  }

  // ---- Profiling -------------------------------------------------------------------------------

  /** Whether this device can time kernels (the 'timestamp-query' feature). */
  get canProfile(): boolean {
    return this.device.features.has('timestamp-query');
  }

  /** Starts timing every dispatch on the GPU, kernel by kernel, until stopProfile. */
  startProfile(): void {
    if (this.profiler) throw new Error('a kernel profile is already running on this device');
    this.flush();
    this.profiler = new KernelProfiler(this.device);
  }

  /** Ends the profile: waits for the work recorded under it and returns each program's GPU time, slowest first. */
  async stopProfile(): Promise<KernelTime[]> {
    const profiler = this.profiler;
    if (!profiler) throw new Error('no kernel profile is running (call startProfile first)');
    this.flush();
    this.profiler = null;
    try {
      await this.sync();
      return await profiler.collect();
    } finally {
      profiler.destroy();
    }
  }

  destroy(): void {
    this.flush();
    this.trimPool();
    this.profiler?.destroy();
    this.profiler = null;
    this.compileAhead?.dispose();
    this.compileAhead = null;
    this.device.destroy();
  }

  private countPending(): void {
    ++this.pending;
    if (
      this.pending >= MAX_HELD_DISPATCHES ||
      (this.pending >= MAX_PENDING_DISPATCHES && !this.holdingForCompileAhead())
    )
      this.flush();
  }

  /**
   * Whether to hold recorded work back from the queue: on lavapipe, creating a pipeline waits while
   * the queue runs (they share a lock), and new pipelines compile at their first dispatch. So while
   * a step is making new pipelines, it records them all, and the queue and the second device then
   * compile them side by side (compile_ahead.ts); a submit in the middle would hand them to the queue
   * one by one as the recording creates them.
   */
  private holdingForCompileAhead(): boolean {
    return this.newPrograms.length > 0;
  }

  private openEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      this.encoder = this.device.createCommandEncoder();
      this.counters.encoders++;
    }
    return this.encoder;
  }

  private openPass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.openEncoder().beginComputePass();
    return this.pass;
  }

  private closePass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /**
   * The uniform block of the next dispatch: slot i for the i-th dispatch with uniforms since the last
   * submit, written now (queue.writeBuffer lands before the submit that reads it). A step that records
   * the same dispatches every time so binds the same slots every time, and its bind groups repeat.
   */
  private uniformBuffer(data: ArrayBufferView): GPUBuffer {
    const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    if (size > 256)
      throw new Error(`uniform block of ${data.byteLength} bytes is larger than the 256 bytes kernels may use`);
    const slot = this.uniformNext++;
    let buf = this.uniformSlots[slot];
    if (!buf) {
      buf = this.device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.uniformSlots.push(buf);
    }
    this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    this.counters.uniformWrites++;
    return buf;
  }

  /** Pooled buffers and uniform slots come back with the same identities step after step, so bind groups repeat. */
  private cachedBindGroup(
    pipeline: GPUComputePipeline,
    buffers: readonly Binding[],
    entries: GPUBindGroupEntry[],
    uniformSlot: number | null,
  ): GPUBindGroup {
    let key = String(this.pipelineIds.get(pipeline));
    for (const b of buffers) key += b instanceof GpuWindow ? `,${b.owner.id}@${b.offset}+${b.bytes}` : `,${b.id}`;
    if (uniformSlot !== null) key += `,u${uniformSlot}`;
    let group = this.bindGroups.get(key);
    if (!group) {
      if (this.bindGroups.size >= BIND_GROUP_CACHE_LIMIT) this.bindGroups.clear();
      group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
      this.counters.bindGroups++;
      this.bindGroups.set(key, group);
    }
    return group;
  }
}
