// What a benchmark run produces (the --json object), how results group into sections, and the
// human-readable table. The JSON is the source of truth: docs/benchmarks-latest.md is generated from it.

import type { GpuCounters } from '../kernels/webgpu/gpu.js';

export interface BenchResult {
  /** e.g. 'first_layer/smallcnn', 'step/smallcnn/yopo-5-3', 'conv/fwd/32x26x26-32-k3s1p0'. */
  name: string;
  /** Median milliseconds per GPU-synced call. */
  ms: number;
  /** How many timed calls the median is over. */
  samples: number;
  /** Achieved rate, where the FLOP count is known (conv/linear multiply-adds x2). */
  gflops?: number;
  /** TensorFlow.js's median on the same adapter and device. */
  peer_ms?: number;
  /** PyTorch's median on this machine's CPU (bench/peer/torch_small_cnn.py), for the same step. */
  torch_ms?: number;
  /** Meaning depends on the section (see SECTIONS): first layer / full, step / natural, or peer / ours. */
  ratio?: number;
  /** FLOPs of the first layer's step / FLOPs of a full propagation (first-layer section only). */
  flop_ratio?: number;
  note?: string;
}

/** Where one training step's time goes (bench/suites/step_report.ts): its work per step, host time and kernel shares. */
export interface StepReport {
  /** e.g. 'report/smallcnn/natural'. */
  name: string;
  /** Median wall time of the step, GPU-synced. */
  step_ms: number;
  /** Median host time to record the step and submit it, without waiting for the GPU. */
  record_ms: number;
  /** record_ms per dispatch, in microseconds: the host cost of one dispatch, autodiff included. */
  record_us_per_dispatch: number;
  /** What one step hands the GPU. */
  counts: GpuCounters;
  /** Sum of the kernels' GPU times in one profiled step (a pass per dispatch: a little above step_ms's GPU part). */
  kernel_ms?: number;
  /** Each program's GPU time in one profiled step, slowest first; share = ms / kernel_ms. Empty without 'timestamp-query'. */
  kernels: { name: string; dispatches: number; ms: number; share: number }[];
  /** The same step in PyTorch on this CPU (one process): its median, and each operator's self CPU time in one profiled call. */
  torch?: { step_ms: number; op_ms: number; ops: { name: string; calls: number; ms: number; share: number }[] };
}

export interface BenchReport {
  /** ISO time the run started. */
  date: string;
  adapter: string;
  /** True on software renderers (lavapipe): the numbers are CPU numbers. */
  software: boolean;
  /** The TF.js peer's description, when it ran. */
  peer?: string;
  /** The PyTorch CPU peer's description, when it ran. */
  torch?: string;
  /** The kernel tuner's state when the run started (kernels/tune.ts): which variants cached choices picked. */
  tuning?: string;
  /** `git rev-parse --short HEAD`, with '-dirty' when the tree had uncommitted changes. */
  commit: string;
  /** The exact command line that produced this report. */
  command: string;
  quick: boolean;
  results: BenchResult[];
  /** Where a step's time goes, when the report suite ran (not with a --filter that leaves it out). */
  step_reports?: StepReport[];
}

/** Four significant digits: more than a timing on a shared machine can back up, and readable JSON. */
export function roundResult(r: BenchResult): BenchResult {
  const out: BenchResult = { ...r };
  for (const key of ['ms', 'gflops', 'peer_ms', 'torch_ms', 'ratio', 'flop_ratio'] as const) {
    const v = out[key];
    if (v !== undefined) out[key] = Number(v.toPrecision(4));
  }
  return out;
}

export type SectionId = 'first-layer' | 'steps' | 'peer';

export interface Section {
  id: SectionId;
  title: string;
  /** What the ratio column means in this section. */
  ratio: string;
}

export const SECTIONS: readonly Section[] = [
  {
    id: 'first-layer',
    title: 'First layer vs full propagation (batch 128)',
    ratio: 'first-layer ms / full ms (flop ratio: the same for FLOPs)',
  },
  { id: 'steps', title: 'Training step per method (batch 128)', ratio: 'step ms / natural step ms' },
  {
    id: 'peer',
    title: 'Ours vs TensorFlow.js WebGPU on the same device (batch 128)',
    ratio: 'TF.js ms / our ms (> 1: we are faster)',
  },
];

/** The section a result belongs to, from its name. */
export function sectionOf(name: string): SectionId {
  if (
    /^(first_layer|first_layer_fused|inner_step|inner_step_fused|inner_step_linear|inner_step_from_base|full)\//.test(
      name,
    )
  )
    return 'first-layer';
  if (name.startsWith('step/') && !name.endsWith('-vs-tfjs')) return 'steps';
  return 'peer';
}

export function groupBySection(results: readonly BenchResult[]): { section: Section; results: BenchResult[] }[] {
  return SECTIONS.map((section) => ({
    section,
    results: results.filter((r) => sectionOf(r.name) === section.id),
  })).filter((g) => g.results.length > 0);
}

/** Milliseconds with about three significant digits. */
export function formatMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

export function formatRatio(r: number): string {
  return r >= 10 ? r.toFixed(1) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(2);
}

export const COLUMNS = [
  'name',
  'ms',
  'samples',
  'GFLOP/s',
  'TF.js ms',
  'PyTorch CPU ms',
  'ours / PyTorch',
  'ratio',
  'flop ratio',
  'note',
] as const;

/** One row of cells per result, '' where a value does not apply. */
export function cells(r: BenchResult): string[] {
  const opt = (v: number | undefined, f: (x: number) => string) => (v === undefined ? '' : f(v));
  return [
    r.name,
    formatMs(r.ms),
    String(r.samples),
    opt(r.gflops, (g) => g.toFixed(2)),
    opt(r.peer_ms, formatMs),
    opt(r.torch_ms, formatMs),
    opt(r.torch_ms, (t) => formatRatio(r.ms / t)),
    opt(r.ratio, formatRatio),
    opt(r.flop_ratio, formatRatio),
    r.note ?? '',
  ];
}

/** The human-readable output: a header and one aligned table per section (empty columns dropped). */
export function formatTable(report: BenchReport): string {
  const lines = [
    `yopo bench  ${report.date}  commit ${report.commit}${report.quick ? '  (quick)' : ''}`,
    `adapter: ${report.adapter}${report.software ? ' [software renderer]' : ''}`,
  ];
  if (report.peer) lines.push(`peer: ${report.peer}`);
  if (report.torch) lines.push(`CPU peer: ${report.torch}`);
  for (const { section, results } of groupBySection(report.results)) {
    const rows = results.map(cells);
    const keep = COLUMNS.map((_, i) => i === 0 || i === 1 || rows.some((row) => row[i] !== ''));
    const header = COLUMNS.filter((_, i) => keep[i]);
    const body = rows.map((row) => row.filter((_, i) => keep[i]));
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
    const fmt = (row: readonly string[]) =>
      row
        .map((c, i) => (i === 0 || header[i] === 'note' ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
        .join('  ')
        .trimEnd();
    lines.push('', `${section.title}`, `  ratio = ${section.ratio}`, fmt(header), ...body.map(fmt));
  }
  for (const r of report.step_reports ?? []) lines.push('', ...stepReportLines(r).map((l) => l.replace(/`/g, '')));
  return lines.join('\n');
}

/** How many kernels a step report lists by name; the rest go on one line. */
export const REPORT_KERNELS = 12;

/** One step report as plain lines (Markdown-friendly: the kernel table is a Markdown table). */
export function stepReportLines(r: StepReport): string[] {
  const c = r.counts;
  const lines = [
    `Where a step's time goes: ${r.name} (batch 128)`,
    '',
    `- ${formatMs(r.step_ms)} ms per step; ${formatMs(r.record_ms)} ms of host time to record and submit it ` +
      `(${r.record_us_per_dispatch.toFixed(1)} µs per dispatch, autodiff included)`,
    `- per step: ${c.dispatches} dispatches, ${c.encoders} command encoders, ${c.submits} submits, ` +
      `${c.bindGroups} bind groups and ${c.pipelines} pipelines created, ${c.uniformWrites} uniform blocks written, ` +
      `${c.uploads} uploads, ${c.readbacks} readbacks`,
  ];
  if (r.kernels.length === 0 || r.kernel_ms === undefined) return lines;
  lines.push(
    `- kernel GPU time in one profiled step: ${formatMs(r.kernel_ms)} ms`,
    '',
    '| kernel | dispatches | ms | share |',
    '| :-- | --: | --: | --: |',
  );
  lines.push(...shareRows(r.kernels.map((k) => ({ ...k, calls: k.dispatches }))));
  if (r.torch) {
    lines.push(
      '',
      `- PyTorch CPU, the same step: ${formatMs(r.torch.step_ms)} ms (one process); operators' self CPU time in one profiled step: ${formatMs(r.torch.op_ms)} ms`,
      '',
      '| PyTorch operator | calls | ms | share |',
      '| :-- | --: | --: | --: |',
      ...shareRows(r.torch.ops),
    );
  }
  return lines;
}

/** Table rows: the first REPORT_KERNELS by name, the rest on one line. */
function shareRows(items: readonly { name: string; calls: number; ms: number; share: number }[]): string[] {
  const row = (name: string, n: number, ms: number, share: number) =>
    `| ${name} | ${n} | ${formatMs(ms)} | ${(100 * share).toFixed(1)}% |`;
  const rows = items.slice(0, REPORT_KERNELS).map((k) => row(`\`${k.name}\``, k.calls, k.ms, k.share));
  const rest = items.slice(REPORT_KERNELS);
  if (rest.length > 0)
    rows.push(
      row(
        `${rest.length} others`,
        rest.reduce((s, k) => s + k.calls, 0),
        rest.reduce((s, k) => s + k.ms, 0),
        rest.reduce((s, k) => s + k.share, 0),
      ),
    );
  return rows;
}
