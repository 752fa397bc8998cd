// Median wall-clock time of an asynchronous, GPU-synced call.
// Plain performance.now(): each call already ends in a GPU sync, so a harness adds nothing but
// less control over how many samples a slow software adapter gets.

export interface PeerTiming {
  /** Median milliseconds per call. */
  ms: number;
  samples: number;
}

export interface TimingOptions {
  /** Untimed calls first, so shaders compile and buffers get pooled (at least 2). */
  warmup?: number;
  /** Aim for about this much timed work in total, in milliseconds. */
  targetMs?: number;
  minSamples?: number;
  maxSamples?: number;
}

export async function timeMedian(call: () => Promise<void>, options: TimingOptions = {}): Promise<PeerTiming> {
  const { warmup = 2, targetMs = 1000, minSamples = 3, maxSamples = 100 } = options;
  for (let i = 0; i < Math.max(2, warmup); i++) await call();
  const samples: number[] = [];
  let wanted = minSamples;
  while (samples.length < wanted) {
    const start = performance.now();
    await call();
    samples.push(performance.now() - start);
    // After the first sample, decide how many fit in the target time.
    if (samples.length === 1)
      wanted = Math.min(maxSamples, Math.max(minSamples, Math.ceil(targetMs / Math.max(samples[0]!, 1e-3))));
  }
  return { ms: median(samples), samples: samples.length };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
