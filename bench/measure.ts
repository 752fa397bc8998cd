// How long one GPU-synced call takes: the median of tinybench samples. Sample counts adapt to the
// call: more while the time budget lasts, so millisecond kernels get many samples; fewer for slow
// calls, so a training step that takes minutes on a software adapter is timed once after its warm-up.

import { Bench } from 'tinybench';
import type { TimingOptions } from './peer/tfjs.js';

export interface Budget {
  /** Keep sampling until this much timed work (ms) is done... */
  timeMs: number;
  /** ...and at least this many samples, */
  minSamples: number;
  /** ...unless that would take longer than this (ms, judged by the warm-up call): then fewer, at least one. */
  slowMs: number;
  /** Untimed calls first (shader compilation, buffer pool warm-up). */
  warmup: number;
}

export const BUDGETS = {
  // --quick: one sample of a slow call after one warm-up; fast kernels still get ~half a second.
  quick: { timeMs: 500, minSamples: 1, slowMs: 0, warmup: 1 },
  // Full: three samples, two for calls over 20 s, one for calls over 30 s (PreAct-ResNet18 steps on lavapipe).
  full: { timeMs: 3000, minSamples: 3, slowMs: 60_000, warmup: 1 },
} as const satisfies Record<string, Budget>;

export interface Timing {
  /** Median milliseconds per call. */
  ms: number;
  samples: number;
}

/**
 * Times `call`, which must end by awaiting the GPU (backend.sync()), so each sample is the whole GPU
 * work. `settle`, if given, runs after the warm-up: on lavapipe it waits for the second device that
 * compiles ahead (kernels/webgpu/compile_ahead.ts), which may still be busy with the warm-up's new
 * pipelines and would take a core from the samples.
 */
export async function measure(
  name: string,
  call: () => Promise<void>,
  budget: Budget,
  settle?: () => Promise<unknown>,
): Promise<Timing> {
  // The warm-up runs here rather than in tinybench: its duration decides the minimum sample count.
  let warmupMs = 0;
  for (let i = 0; i < budget.warmup; i++) {
    const start = performance.now();
    await call();
    warmupMs = performance.now() - start;
  }
  await settle?.();
  const affordable = budget.warmup > 0 && warmupMs > 0 ? Math.floor(budget.slowMs / warmupMs) : budget.minSamples;
  const bench = new Bench({
    name,
    time: budget.timeMs,
    iterations: Math.max(1, Math.min(budget.minSamples, affordable)),
    warmup: false,
    throws: true,
  });
  bench.add(name, call, { async: true });
  const [task] = await bench.run();
  const result = task?.result;
  if (!result || !('latency' in result))
    throw new Error(`${name}: tinybench gave no timing (state ${result?.state ?? 'unknown'})`);
  return { ms: result.latency.p50, samples: result.latency.samplesCount };
}

/** The same budget for the TF.js peer's own timer (it always warms up at least twice). */
export function peerTimingOptions(budget: Budget): TimingOptions {
  return {
    warmup: Math.max(2, budget.warmup),
    targetMs: budget.timeMs,
    minSamples: budget.minSamples,
    maxSamples: 200,
  };
}
