// One benchmark run: a WebGPU device, the TF.js peer on that same device (started only if a selected
// result needs it), the three suites in order, and the report. Progress goes to stderr so that
// stdout carries only the result (a table, or JSON).

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { adapterName } from '../kernels/webgpu/device.js';
import { tunerOf, useWebGPU } from '../kernels/index.js';
import type { SuiteContext } from './context.js';
import { BUDGETS, measure, peerTimingOptions } from './measure.js';
import { type TfjsPeer, createTfjsPeer } from './peer/tfjs.js';
import { TORCH_PROCESSES, type TorchRun, fasterOf, findTorchPython, runTorchPeer } from './peer/torch.js';
import { type BenchReport, type BenchResult, type StepReport, formatMs, formatRatio, roundResult } from './report.js';
import { BATCH } from './workload.js';
import { firstLayerSuite } from './suites/first_layer.js';
import { kernelsSuite } from './suites/kernels.js';
import { stepReportSuite } from './suites/step_report.js';
import { stepsSuite } from './suites/steps.js';

export interface BenchOptions {
  quick: boolean;
  /** Only results whose name contains this substring (or one of several, comma-separated). */
  filter?: string;
  /** The command line, recorded in the report. */
  command: string;
  /** Time the PyTorch CPU peer where python3-torch is installed (default true). */
  torch?: boolean;
  /** Progress sink (default: stderr). */
  log?: (line: string) => void;
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const date = new Date().toISOString();
  const start = performance.now();
  const clock = () => `${((performance.now() - start) / 1000).toFixed(0).padStart(4)}s`;
  const backend = await useWebGPU();
  // Which kernel variants cached tuning choices give the run (`yopo tune` before a bench changes them).
  const tuning = tunerOf(backend.gpu)?.describe();
  if (tuning) log(`kernel tuning: ${tuning}`);
  const budget = o.quick ? BUDGETS.quick : BUDGETS.full;
  const results: BenchResult[] = [];
  // 'a,b' selects names containing a or b (e.g. everything but the PreAct-ResNet18 steps, which take hours on lavapipe).
  const filters = (o.filter ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  // Widened on purpose: only the closure below assigns it, which TS control flow cannot see.
  let peer = null as Promise<TfjsPeer | null> | null;
  let torchPython = null as { python: string } | { unavailable: string } | null;
  let torchDescription: string | undefined;
  /** The python that imports torch, or null (said once) when there is none or --no-torch was given. */
  const torchFor = (items: readonly string[]): string | null => {
    if (o.torch === false || items.length === 0) return null;
    torchPython ??= findTorchPython();
    if ('unavailable' in torchPython) {
      if (torchDescription === undefined)
        log(`[${clock()}] PyTorch CPU peer not available: ${torchPython.unavailable}; its columns stay empty`);
      torchDescription = '';
      return null;
    }
    return torchPython.python;
  };
  const torch = (items: readonly string[]): TorchRun | null => {
    const python = torchFor(items);
    if (!python) return null;
    log(
      `[${clock()}] PyTorch CPU peer: ${items.join(', ')} (${TORCH_PROCESSES} processes, each item's faster median kept)`,
    );
    const runs = Array.from({ length: TORCH_PROCESSES }, () =>
      runTorchPeer(python, items as never, BATCH, budget.timeMs),
    );
    if (runs.length > 1)
      log(
        `[${clock()}]   PyTorch medians per process: ${items.map((item) => `${item} ${runs.map((r) => formatMs(r.results[item]!.ms)).join(' / ')} ms`).join(', ')}`,
      );
    const run = fasterOf(runs);
    torchDescription = run.description;
    return run;
  };
  const ctx: SuiteContext = {
    backend,
    budget,
    quick: o.quick,
    wants: (name) => filters.length === 0 || filters.some((f) => name.includes(f)),
    peer: () =>
      (peer ??= createTfjsPeer(backend.device, peerTimingOptions(budget)).then(
        (p) => {
          if (!p.sharesDevice) log(`warning: the TF.js peer runs on a device of its own`);
          return p;
        },
        (error: Error) => {
          log(`warning: ${error.message}; the TF.js columns stay empty`);
          return null;
        },
      )),
    torch,
    torchProfile: (items) => {
      const python = torchFor(items);
      if (!python) return null;
      log(`[${clock()}] PyTorch CPU peer, one profiled call each: ${items.join(', ')}`);
      const run = runTorchPeer(python, items as never, BATCH, budget.timeMs, true);
      torchDescription ||= run.description;
      return run;
    },
    measure: (name, call) => measure(name, call, budget, async () => backend.gpu.compileAhead?.idle()),
    log: (line) => log(`[${clock()}] ${line}`),
    record: (raw) => {
      const r = roundResult(raw);
      results.push(r);
      const peerText = r.peer_ms !== undefined ? `, TF.js ${formatMs(r.peer_ms)} ms` : '';
      const torchText = r.torch_ms !== undefined ? `, PyTorch CPU ${formatMs(r.torch_ms)} ms` : '';
      const ratioText = r.ratio !== undefined ? `, ratio ${formatRatio(r.ratio)}` : '';
      log(`[${clock()}]   ${r.name}: ${formatMs(r.ms)} ms (median of ${r.samples})${peerText}${torchText}${ratioText}`);
      return r;
    },
  };
  log(
    `[${clock()}] yopo bench${o.quick ? ' --quick' : ''} on ${backend.adapter ? adapterName(backend.adapter) : 'an unknown adapter'}`,
  );
  let peerDescription: string | undefined;
  let stepReports: StepReport[] = [];
  try {
    await firstLayerSuite(ctx);
    await stepsSuite(ctx);
    stepReports = await stepReportSuite(ctx);
    await kernelsSuite(ctx);
  } finally {
    const p = peer ? await peer : null;
    peerDescription = p?.description;
    p?.dispose();
    backend.dispose();
  }
  if (results.length === 0 && stepReports.length === 0)
    throw new Error(
      `no benchmark name contains '${o.filter}' (names look like first_layer/smallcnn, step/smallcnn/yopo-5-3, report/smallcnn/natural, matmul/1024, conv/fwd/...)`,
    );
  log(
    `[${clock()}] done: ${results.length} results${stepReports.length ? `, ${stepReports.length} step reports` : ''}`,
  );
  return {
    date,
    adapter: backend.adapter ? adapterName(backend.adapter) : 'unknown adapter',
    software: backend.adapter?.isSoftware ?? false,
    ...(peerDescription ? { peer: peerDescription } : {}),
    ...(torchDescription ? { torch: torchDescription } : {}),
    ...(tuning ? { tuning } : {}),
    commit: gitCommit(),
    command: o.command,
    quick: o.quick,
    results,
    ...(stepReports.length > 0 ? { step_reports: stepReports } : {}),
  };
}

/** Short hash of the checkout the numbers came from; '-dirty' when tracked files had changes. */
export function gitCommit(): string {
  const cwd = fileURLToPath(new URL('../..', import.meta.url));
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const hash = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') ? `${hash}-dirty` : hash;
  } catch {
    return 'unknown';
  }
}
