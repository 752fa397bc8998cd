// Where a training step's time goes: for a natural, a PGD-10 and a YOPO-5-10 SmallCNN step, the work
// it hands the GPU (dispatches, command encoders, submits, bind groups and pipelines created, uniform
// blocks written, uploads, readbacks), the host time spent recording and submitting it (the step
// called and its work submitted, without waiting for the GPU), and each kernel's share of the GPU
// time (timestamp queries, Gpu.startProfile). The per-step counts are exact; the times are medians.
// Beside it, where python3 imports torch, PyTorch's operators in the same step on this CPU
// (torch.profiler's self CPU time, one profiled call after the timed ones, in one process).

import { Random, type Tensor } from '../../engine/index.js';
import type { GpuCounters } from '../../kernels/webgpu/gpu.js';
import type { Classifier } from '../../nn/index.js';
import { parseMethod, threatModel, trainingDefaults } from '../../yopo/defaults.js';
import type { Method } from '../../yopo/method.js';
import type { SuiteContext } from '../context.js';
import type { TorchItem } from '../peer/torch.js';
import type { StepReport } from '../report.js';
import { BATCH, type BenchModel, buildModel, randomBatch } from '../workload.js';

export const REPORT_METHODS = ['natural', 'pgd-10', 'yopo-5-10'] as const;
/** Steps recorded per method for the host-time median (each after the GPU went idle). */
const RECORD_SAMPLES = 5;

const SMALLCNN: BenchModel = { name: 'smallcnn', dataset: 'mnist' };

export async function stepReportSuite(ctx: SuiteContext): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  const specs = REPORT_METHODS.filter((spec) => ctx.wants(`report/${SMALLCNN.name}/${spec}`));
  if (specs.length === 0) return reports;
  const model = buildModel(SMALLCNN);
  const { x, y } = randomBatch(model, BATCH);
  try {
    for (const spec of specs) reports.push(await reportStep(ctx, model, spec, x, y));
  } finally {
    x.dispose();
    y.dispose();
    model.dispose();
  }
  addTorchProfiles(ctx, specs, reports);
  return reports;
}

/** PyTorch's operators in the same steps on this CPU, beside ours (where python3 imports torch). */
function addTorchProfiles(ctx: SuiteContext, specs: readonly string[], reports: StepReport[]): void {
  const run = ctx.torchProfile(specs as TorchItem[]);
  if (!run?.profile) return;
  reports.forEach((report, i) => {
    const ops = run.profile![specs[i]!];
    const timing = run.results[specs[i]!];
    if (!ops || !timing) return;
    const total = ops.reduce((sum, op) => sum + op.ms, 0);
    report.torch = {
      step_ms: round(timing.ms),
      op_ms: round(total),
      ops: ops.map((op) => ({ name: op.name, calls: op.calls, ms: round(op.ms), share: round(op.ms / total) })),
    };
  });
}

async function reportStep(
  ctx: SuiteContext,
  model: Classifier,
  spec: string,
  x: Tensor,
  y: Tensor,
): Promise<StepReport> {
  const name = `report/${SMALLCNN.name}/${spec}`;
  const gpu = ctx.backend.gpu;
  const method: Method = parseMethod(spec, threatModel(SMALLCNN.dataset));
  const d = trainingDefaults(SMALLCNN.dataset, spec, SMALLCNN.name);
  method.init(model, { lr: d.lr, momentum: 0.9, weightDecay: d.weightDecay });
  let seed = 1;
  /** Records one step and submits it; returns without waiting for the GPU. */
  const record = () => {
    const out = method.step(model, x, y, new Random(seed++));
    out.loss.dispose();
    out.logits.dispose();
    out.adversary?.dispose();
    gpu.flush();
  };
  try {
    ctx.log(`${name}: counts, host recording time and kernel shares of one step`);
    // Warm-up: compiles the pipelines and fills the buffer pool and the bind-group cache.
    for (let i = 0; i < 2; i++) {
      record();
      await ctx.backend.sync();
    }
    await gpu.compileAhead?.idle();

    const before = { ...gpu.counters };
    const recordMs: number[] = [];
    const stepMs: number[] = [];
    for (let i = 0; i < RECORD_SAMPLES; i++) {
      const start = performance.now();
      record();
      recordMs.push(performance.now() - start);
      await ctx.backend.sync();
      stepMs.push(performance.now() - start);
    }
    const perStep = countersPerStep(before, gpu.counters, RECORD_SAMPLES);

    let kernels: StepReport['kernels'] = [];
    let profiledMs: number | undefined;
    if (gpu.canProfile) {
      gpu.startProfile();
      record();
      const times = await gpu.stopProfile();
      profiledMs = times.reduce((sum, k) => sum + k.ms, 0);
      kernels = times.map((k) => ({
        name: k.name,
        dispatches: k.dispatches,
        ms: round(k.ms),
        share: round(k.ms / profiledMs!),
      }));
    } else {
      ctx.log(`  ${name}: this device has no 'timestamp-query': no kernel shares`);
    }
    gpu.checkErrors();
    const host = median(recordMs);
    const report: StepReport = {
      name,
      step_ms: round(median(stepMs)),
      record_ms: round(host),
      record_us_per_dispatch: round((1000 * host) / perStep.dispatches),
      counts: perStep,
      ...(profiledMs !== undefined ? { kernel_ms: round(profiledMs) } : {}),
      kernels,
    };
    ctx.log(
      `  ${name}: ${report.step_ms} ms per step, ${perStep.dispatches} dispatches in ${perStep.submits} submits, ` +
        `${report.record_ms} ms to record and submit (${report.record_us_per_dispatch} µs per dispatch)`,
    );
    return report;
  } finally {
    method.dispose();
  }
}

function countersPerStep(before: GpuCounters, after: GpuCounters, steps: number): GpuCounters {
  const out = { ...after };
  for (const key of Object.keys(out) as (keyof GpuCounters)[]) out[key] = (after[key] - before[key]) / steps;
  return out;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const round = (v: number) => Number(v.toPrecision(4));
