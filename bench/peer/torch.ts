// PyTorch on the CPU as a benchmark peer (bench/peer/torch_small_cnn.py), run in child processes
// (TORCH_PROCESSES, each item's faster median kept) right after our own steps are timed, so both land
// in one report. Optional: when no python3 on this
// machine imports torch (Debian: `apt-get install python3-torch`), the bench says "peer not
// available" once and goes on without the column. Never a dependency of the library.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PeerTiming } from './timing.js';

export interface TorchRun {
  /** e.g. 'PyTorch 1.13.1 CPU (OpenBLAS, 2 threads)'. */
  description: string;
  /** Median per item: 'natural', 'first_layer', 'pgd-R', 'yopo-M-N'. */
  results: Record<string, PeerTiming>;
  /** With profiling: per item, each operator's self CPU time in one profiled call, slowest first. */
  profile?: Record<string, TorchOp[]>;
}

/** One PyTorch operator in a profiled call: its name (e.g. aten::convolution_backward), calls and self CPU ms. */
export interface TorchOp {
  name: string;
  calls: number;
  ms: number;
}

export type TorchItem = 'natural' | 'first_layer' | `pgd-${number}` | `yopo-${number}-${number}`;

/** The script sits in the source tree; the compiled bench runs from dist/bench/peer. */
function scriptPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, 'torch_small_cnn.py'), join(here, '../../../bench/peer/torch_small_cnn.py')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`bench/peer/torch_small_cnn.py not found next to ${here}`);
}

/**
 * The first python that imports torch: $YOPO_TORCH_PYTHON, else python3 on the PATH, else Debian's
 * /usr/bin/python3 (a pyenv python3 on the PATH does not see Debian's python3-torch).
 */
export function findTorchPython(): { python: string } | { unavailable: string } {
  const candidates = process.env.YOPO_TORCH_PYTHON ? [process.env.YOPO_TORCH_PYTHON] : ['python3', '/usr/bin/python3'];
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
    if (probe.status === 0) return { python };
  }
  return {
    unavailable: `no python among ${candidates.join(', ')} imports torch (Debian: apt-get install python3-torch)`,
  };
}

/**
 * PyTorch processes that time each item. On the shared 2-core reference machine PyTorch's medians
 * swung up to 3× between runs minutes apart while ours moved a few percent (docs/results.md,
 * "Benchmarks"), so the bench times the items twice and keeps each item's faster median:
 * the ratio then errs on PyTorch's side.
 */
export const TORCH_PROCESSES = 2;

/** Several processes' runs of the same items as one: each item's faster median (samples added up), described as such. */
export function fasterOf(runs: readonly TorchRun[]): TorchRun {
  if (runs.length === 0) throw new Error('fasterOf: no PyTorch runs');
  if (runs.length === 1) return runs[0]!;
  const results: Record<string, PeerTiming> = {};
  for (const item of Object.keys(runs[0]!.results)) {
    const timings = runs.map((r) => r.results[item]);
    if (timings.some((t) => t === undefined)) throw new Error(`fasterOf: item '${item}' is missing from a run`);
    const ms = Math.min(...timings.map((t) => t!.ms));
    results[item] = { ms, samples: timings.reduce((n, t) => n + t!.samples, 0) };
  }
  return { description: `${runs[0]!.description}, the faster median of ${runs.length} processes per item`, results };
}

/** Times the items in one PyTorch process (about targetMs of timed work each, after two warm-ups); with
 *  `profile`, also one profiled call of each. */
export function runTorchPeer(
  python: string,
  items: readonly TorchItem[],
  batch: number,
  targetMs: number,
  profile = false,
): TorchRun {
  const args = [scriptPath(), '--batch', String(batch), '--items', items.join(','), '--target-ms', String(targetMs)];
  if (profile) args.push('--profile');
  const run = spawnSync(python, args, { encoding: 'utf8', maxBuffer: 1 << 20, timeout: 30 * 60_000 });
  if (run.status !== 0) {
    const why = run.error ? run.error.message : (run.stderr.trim().split('\n').pop() ?? `exit code ${run.status}`);
    throw new Error(`PyTorch peer failed: ${why}`);
  }
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as TorchRun;
}
