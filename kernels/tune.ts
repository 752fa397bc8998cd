// The kernel tuner: for an (adapter, op, shape), which of the op's kernel variants runs fastest, found by
// timing each on the device (a few GPU-synced runs) and remembered per adapter.
//
// - An op plugs in as a TunableOp: its variants on a device, its built-in default, and a workload that
//   records one run of a variant on scratch operands (matmul: kernels/matmul.ts; the conv passes:
//   kernels/conv2d.ts).
// - Kernels ask `choose` synchronously while recording dispatches. A shape never measured runs the
//   default and, when tuning at first use, is queued; the backend measures the queue at its next
//   readback (an await point), so every later step runs the winner.
// - YOPO_TUNE: 'off' always uses the built-in defaults; 'on' tunes at first use; 'auto' (unset) tunes at
//   first use on hardware adapters and on software rasterisers (lavapipe) only uses choices already
//   cached (from `yopo tune`): there each new pipeline costs about a second to compile, and the
//   defaults were tuned on lavapipe.
// - Choices persist through a TuneStore the Node entry registers (kernels/tune_file_store.ts: one JSON
//   file per adapter); in a browser they stay in memory. No Node module is imported here.

import type { Gpu, GpuBuffer } from './webgpu/gpu.js';

/** An op with kernel variants the tuner can choose between. Shape S is the op's own shape record. */
export interface TunableOp<S> {
  /** Name in the cache file and in reports, e.g. 'matmul'. */
  readonly op: string;
  /** The shape as a stable string (the cache key with the op). */
  key(shape: S): string;
  /** The variants this device can run. */
  variants(gpu: Gpu): string[];
  /** The built-in choice (YOPO_TUNE=off, and shapes not measured yet). */
  defaultVariant(gpu: Gpu, shape: S): string;
  /** Scratch operands of one shape: `run` records one dispatch of a variant on them. */
  workload(gpu: Gpu, shape: S): { run(variant: string): void; dispose(): void };
}

export type TuneMode = 'off' | 'on' | 'cached';

/** A measured choice: the winner and every variant's milliseconds per run. */
export interface TuneChoice {
  variant: string;
  ms: Record<string, number>;
}

/** Where choices persist, as text per adapter id (the Node entry's files; none in a browser). */
export interface TuneStore {
  read(adapterId: string): string | null;
  /** Replaces the adapter's text atomically. */
  write(adapterId: string, text: string): void;
  /** Where an adapter's choices are kept, for messages. */
  where(adapterId: string): string;
}

/** A scratch operand for a workload: `size` small values, never denormal, since a CPU rasteriser's
 *  speed must not depend on the data. The caller releases it. */
export function scratchOperand(gpu: Gpu, size: number): GpuBuffer {
  const buf = gpu.acquire(Math.max(1, size) * 4);
  gpu.write(
    buf,
    Float32Array.from({ length: size }, (_, i) => ((i % 7) - 3) / 8),
  );
  return buf;
}

/** Milliseconds per run of `run` (which records one dispatch). */
export type Measure = (run: () => void) => Promise<number>;

/** The environment variable that turns tuning off, on, or to the adapter-dependent default. */
export const TUNE_ENV = 'YOPO_TUNE';
const FILE_VERSION = 1;

let storeProvider: (() => TuneStore) | null = null;

/** Registers where choices persist (the Node entry: files); the first provider registered wins. */
export function provideTuneStore(provider: () => TuneStore): void {
  storeProvider ??= provider;
}

/** The mode YOPO_TUNE asks for on an adapter; a clear error for any other value. */
export function tuneModeFromEnv(value: string | undefined, isSoftware: boolean): TuneMode {
  const v = (value ?? '').trim().toLowerCase();
  if (v === 'off' || v === '0' || v === 'false') return 'off';
  if (v === 'on' || v === '1' || v === 'true') return 'on';
  if (v === '' || v === 'auto') return isSoftware ? 'cached' : 'on';
  throw new Error(`${TUNE_ENV} must be on, off or auto (got '${value}')`);
}

/** A short stable id of an adapter (FNV-1a of its identifying text), for the cache file's name. */
export function adapterId(identity: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < identity.length; i++) h = Math.imul(h ^ identity.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

const now = () => globalThis.performance.now();

/** GPU-synced timing: one warm-up run (compiles), then the fastest of five samples of enough runs to last about 10 ms
 *  (the fastest, because other work on a shared machine only ever adds time). */
export function gpuMeasure(gpu: Gpu): Measure {
  return async (run) => {
    run();
    await gpu.sync();
    // A second device compiling ahead (webgpu/compile_ahead.ts) would take a core from the samples.
    await gpu.compileAhead?.idle();
    let start = now();
    run();
    await gpu.sync();
    const once = Math.max(now() - start, 0.01);
    const reps = Math.max(1, Math.min(64, Math.ceil(10 / once)));
    let best = Infinity;
    for (let sample = 0; sample < 5; sample++) {
      start = now();
      for (let r = 0; r < reps; r++) run();
      await gpu.sync();
      best = Math.min(best, (now() - start) / reps);
    }
    return best;
  };
}

interface Pending {
  op: TunableOp<unknown>;
  shape: unknown;
}

/** Chooses, measures and remembers kernel variants for one device. */
export class Tuner {
  private readonly choices = new Map<string, TuneChoice>();
  private readonly pending = new Map<string, Pending>();
  private collecting: Map<string, Pending> | null = null;

  constructor(
    readonly gpu: Gpu,
    readonly adapterId: string,
    readonly mode: TuneMode,
    private readonly store: TuneStore | null = null,
    private readonly measure: Measure = gpuMeasure(gpu),
    /** Where a corrupt cache or a failing variant is reported (tests capture it). */
    private readonly warn: (message: string) => void = (m) => console.warn(m),
  ) {
    if (mode !== 'off') for (const [key, choice] of this.load(warn)) this.choices.set(key, choice);
  }

  /** The variant a shape runs: the remembered choice, else the default (queued for measuring when tuning at first use). */
  choose<S>(op: TunableOp<S>, shape: S): string {
    const key = `${op.op} ${op.key(shape)}`;
    this.collecting?.set(key, { op: op as TunableOp<unknown>, shape });
    if (this.mode === 'off') return op.defaultVariant(this.gpu, shape);
    const known = this.choices.get(key);
    if (known && op.variants(this.gpu).includes(known.variant)) return known.variant;
    if (this.mode === 'on') this.pending.set(key, { op: op as TunableOp<unknown>, shape });
    return op.defaultVariant(this.gpu, shape);
  }

  /** True when shapes wait to be measured. */
  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** Measures every queued shape (the backend calls this before a readback). */
  async tunePending(): Promise<void> {
    const queued = [...this.pending.values()];
    this.pending.clear();
    for (const p of queued) await this.tune(p.op, p.shape);
  }

  /** Records every (op, shape) that `choose` sees while `fn` runs, whatever the mode (for `yopo tune`). */
  collect(fn: () => void): { op: TunableOp<unknown>; shape: unknown; key: string }[] {
    const seen = new Map<string, Pending>();
    this.collecting = seen;
    try {
      fn();
    } finally {
      this.collecting = null;
    }
    return [...seen].map(([key, p]) => ({ ...p, key }));
  }

  /** Times every variant of one shape now, remembers the fastest and persists it. A variant that fails
   *  on this device (compile or validation error) is reported and left out; all failing is an error. */
  async tune<S>(op: TunableOp<S>, shape: S): Promise<TuneChoice> {
    // (work queued before is absorbed by the measurement's untimed warm-up run)
    const work = op.workload(this.gpu, shape);
    const ms: Record<string, number> = {};
    try {
      for (const variant of op.variants(this.gpu)) {
        try {
          ms[variant] = await this.measure(() => work.run(variant));
        } catch (error) {
          this.warn(
            `yopo: kernel variant ${op.op} ${variant} failed on this device for ${op.key(shape)}, left out: ${(error as Error).message.split('\n')[0]}`,
          );
        }
      }
    } finally {
      work.dispose();
    }
    if (Object.keys(ms).length === 0)
      throw new Error(`every ${op.op} variant failed on this device for ${op.key(shape)}`);
    for (const v of Object.keys(ms)) ms[v] = Number(ms[v].toPrecision(4));
    const variant = Object.keys(ms).reduce((best, v) => (ms[v] < ms[best] ? v : best));
    const choice = { variant, ms };
    const key = `${op.op} ${op.key(shape)}`;
    this.choices.set(key, choice);
    this.pending.delete(key);
    this.save(key, choice);
    return choice;
  }

  /** The remembered choice of one shape, if any. */
  choiceFor<S>(op: TunableOp<S>, shape: S): TuneChoice | undefined {
    return this.choices.get(`${op.op} ${op.key(shape)}`);
  }

  /** A line for reports: the mode, and how many choices (by variant) it holds and from where. */
  describe(): string {
    const counts = new Map<string, number>();
    for (const [key, c] of this.choices) {
      const name = `${key.split(' ')[0]} ${c.variant}`;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    const held = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([name, n]) => `${n} ${name}`);
    return `YOPO_TUNE mode ${this.mode}; ${this.choices.size} choice${this.choices.size === 1 ? '' : 's'} from ${this.where()}${held.length ? ` (${held.join(', ')})` : ''}`;
  }

  /** Where choices persist ('memory' without a store). */
  where(): string {
    return this.store ? this.store.where(this.adapterId) : 'memory only';
  }

  /** The store's choices; a file that is not ours is reported once and ignored. */
  private load(warn: (message: string) => void): Map<string, TuneChoice> {
    const out = new Map<string, TuneChoice>();
    if (!this.store) return out;
    const problem = (why: string) => {
      warn(`yopo: ignoring the kernel tuning cache ${this.store!.where(this.adapterId)}: ${why}`);
      return new Map<string, TuneChoice>();
    };
    let text: string | null;
    try {
      text = this.store.read(this.adapterId);
    } catch (error) {
      return problem((error as Error).message);
    }
    if (!text) return out;
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      return problem(`not JSON (${(error as Error).message})`);
    }
    const file = data as { version?: unknown; choices?: unknown };
    if (
      typeof file !== 'object' ||
      file === null ||
      file.version !== FILE_VERSION ||
      typeof file.choices !== 'object' ||
      file.choices === null
    ) {
      return problem(`expected { "version": ${FILE_VERSION}, "choices": {...} }`);
    }
    for (const [key, c] of Object.entries(file.choices as Record<string, unknown>)) {
      const choice = c as TuneChoice;
      if (typeof choice?.variant !== 'string' || typeof choice.ms !== 'object' || choice.ms === null)
        return problem(`entry '${key}' has no variant and times`);
      out.set(key, { variant: choice.variant, ms: { ...choice.ms } });
    }
    return out;
  }

  /** Adds one choice to the store's file (re-read first, so a concurrent process's choices survive). */
  private save(key: string, choice: TuneChoice): void {
    if (!this.store) return;
    const merged = this.load(() => {});
    for (const [k, c] of this.choices) merged.set(k, c);
    merged.set(key, choice);
    const data = {
      version: FILE_VERSION,
      choices: Object.fromEntries([...merged].sort(([a], [b]) => a.localeCompare(b))),
    };
    this.store.write(this.adapterId, `${JSON.stringify(data, null, 1)}\n`);
  }
}

const tuners = new WeakMap<Gpu, Tuner>();

/** The tuner kernels consult for a device (none: the built-in defaults). */
export function tunerOf(gpu: Gpu): Tuner | undefined {
  return tuners.get(gpu);
}

/** Replaces a device's tuner (tests and tools that want a mode or store of their own); returns the one it had. */
export function setTuner(gpu: Gpu, tuner: Tuner | undefined): Tuner | undefined {
  const before = tuners.get(gpu);
  if (tuner) tuners.set(gpu, tuner);
  else tuners.delete(gpu);
  return before;
}

/** Gives a device its tuner: mode from YOPO_TUNE, choices from the registered store (memory only without one). */
export function attachTuner(gpu: Gpu, identity: string, isSoftware: boolean): Tuner {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[TUNE_ENV];
  const tuner = new Tuner(gpu, adapterId(identity), tuneModeFromEnv(env, isSoftware), storeProvider?.() ?? null);
  tuners.set(gpu, tuner);
  return tuner;
}
