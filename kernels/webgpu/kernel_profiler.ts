// Where the GPU's time goes, kernel by kernel: while a profile is on, every dispatch gets a compute
// pass of its own with a timestamp at its start and end ('timestamp-query'), and each submit resolves
// its timestamps into a buffer that is read back when the profile stops. The passes add a little
// work per dispatch, so a profiled step is a little slower than a plain one: use the shares, and
// time the step itself without a profile.

import { waitForDevice } from './device.js';

/** GPU time of one program over a profile: how many dispatches, and their total milliseconds. */
export interface KernelTime {
  name: string;
  dispatches: number;
  ms: number;
}

/** Timestamp pairs per query set; a submit goes in before it fills (WebGPU allows up to 4096 queries). */
const PAIRS = 1024;

interface Resolved {
  staging: GPUBuffer;
  names: string[];
}

/** Collects the begin/end timestamps of every dispatch recorded while it is attached to a Gpu. */
export class KernelProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  /** Program names of the pairs written since the last resolve, in query order. */
  private names: string[] = [];
  private readonly resolved: Resolved[] = [];

  constructor(private readonly device: GPUDevice) {
    if (!device.features.has('timestamp-query'))
      throw new Error("kernel profiling needs the WebGPU feature 'timestamp-query', which this device lacks");
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * PAIRS });
    this.resolveBuffer = device.createBuffer({
      size: 2 * PAIRS * 8,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  /** Whether the query set is full: the Gpu submits (and so resolves) before the next dispatch. */
  get full(): boolean {
    return this.names.length >= PAIRS;
  }

  /** The descriptor of the pass one dispatch of `name` runs in. */
  passFor(name: string): GPUComputePassDescriptor {
    const i = this.names.length;
    this.names.push(name);
    return {
      timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
    };
  }

  /** Records, at the end of an encoder about to be submitted, the copy of its timestamps to the host. */
  resolveInto(encoder: GPUCommandEncoder): void {
    const count = this.names.length;
    if (count === 0) return;
    const staging = this.device.createBuffer({
      size: 2 * count * 8,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.resolveQuerySet(this.querySet, 0, 2 * count, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, staging, 0, 2 * count * 8);
    this.resolved.push({ staging, names: this.names });
    this.names = [];
  }

  /** Reads back every resolved timestamp (after the work was submitted) and sums them per program, slowest first. */
  async collect(): Promise<KernelTime[]> {
    const byName = new Map<string, KernelTime>();
    for (const { staging, names } of this.resolved.splice(0)) {
      await waitForDevice(staging.mapAsync(GPUMapMode.READ));
      const stamps = new BigUint64Array(staging.getMappedRange());
      names.forEach((name, i) => {
        const ns = Number(stamps[2 * i + 1]! - stamps[2 * i]!);
        const t = byName.get(name) ?? { name, dispatches: 0, ms: 0 };
        t.dispatches++;
        // A pass whose end reads before its start (a clock that is not monotonic across cores) counts 0.
        t.ms += Math.max(0, ns) / 1e6;
        byName.set(name, t);
      });
      staging.unmap();
      staging.destroy();
    }
    return [...byName.values()].sort((a, b) => b.ms - a.ms);
  }

  destroy(): void {
    for (const { staging } of this.resolved.splice(0)) staging.destroy();
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}
