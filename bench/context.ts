// What every suite gets from the runner: the backend, the timing budget, the --filter test, the
// TF.js peer (started on first use), and a place to put results (which also prints progress).

import type { WebGPUBackend } from '../kernels/index.js';
import type { Budget, Timing } from './measure.js';
import type { TfjsPeer } from './peer/tfjs.js';
import type { TorchItem, TorchRun } from './peer/torch.js';
import type { BenchResult } from './report.js';

export interface SuiteContext {
  readonly backend: WebGPUBackend;
  readonly budget: Budget;
  /** --quick: SmallCNN only, fewer methods and shapes. */
  readonly quick: boolean;
  /** Whether a result of this name is selected (--filter). Suites skip the work of unselected ones. */
  wants(name: string): boolean;
  /** The TF.js peer on our device, or null when it cannot start (the reason is printed once). */
  peer(): Promise<TfjsPeer | null>;
  /**
   * Times SmallCNN items in PyTorch on this CPU (bench/peer/torch_small_cnn.py), or null when no
   * python imports torch (the reason is printed once) or --no-torch was given.
   */
  torch(items: readonly TorchItem[]): TorchRun | null;
  /** The same items in one PyTorch process with one profiled call each (operators' self CPU time), or null as torch(). */
  torchProfile(items: readonly TorchItem[]): TorchRun | null;
  /** Times a GPU-synced call with this run's budget (measure.ts), the second device compiling ahead settled after the warm-up. */
  measure(name: string, call: () => Promise<void>): Promise<Timing>;
  /** A progress line on stderr. */
  log(line: string): void;
  /** Adds a result (and prints it as progress). Returns it, so suites can fill in ratios later. */
  record(result: BenchResult): BenchResult;
}
