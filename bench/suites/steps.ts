// Wall time of one training step per method, the number an epoch's cost follows from, with its ratio
// to a natural step. The propagations each step really ran are counted at the model (full passes and
// first-layer-only passes), so the table shows what the time bought. Plus one natural SmallCNN step
// beside the same step written in TF.js.

import { Random, type Tensor } from '../../engine/index.js';
import { type Classifier, SmallCNN } from '../../nn/index.js';
import { firstLayerOnly, propagationCounts } from '../../yopo/counters.js';
import { parseMethod, threatModel, trainingDefaults } from '../../yopo/defaults.js';
import type { Hyper, Method } from '../../yopo/method.js';
import type { SuiteContext } from '../context.js';
import type { TorchItem } from '../peer/torch.js';
import { type BenchResult, formatMs, formatRatio } from '../report.js';
import { BATCH, type BenchModel, benchModels, buildModel, randomBatch } from '../workload.js';

export const STEP_METHODS = [
  'natural',
  'pgd-10',
  'pgd-40',
  'free-8',
  'yopo-3-5',
  'yopo-5-3',
  'yopo-5-10',
  'trades-10',
  'trades-yopo-3-4',
] as const;
/** --quick: the baseline and YOPO's headline setting (a PGD-10 step alone takes about a minute on lavapipe). */
export const QUICK_STEP_METHODS = ['natural', 'yopo-5-3'] as const;

export async function stepsSuite(ctx: SuiteContext): Promise<void> {
  for (const bm of benchModels(ctx.quick)) await methodSteps(ctx, bm);
  // Not in --quick: the TF.js SmallCNN step is slow on lavapipe and the peer always warms up twice.
  if (!ctx.quick) await stepVsTfjs(ctx);
}

async function methodSteps(ctx: SuiteContext, bm: BenchModel): Promise<void> {
  const specs = (ctx.quick ? QUICK_STEP_METHODS : STEP_METHODS).filter((spec) => ctx.wants(`step/${bm.name}/${spec}`));
  if (specs.length === 0) return;
  const model = buildModel(bm);
  const { x, y } = randomBatch(model, BATCH);
  const counts = propagationCounts(model);
  let naturalMs: number | null = null;
  const recorded = new Map<string, BenchResult>();
  try {
    for (const spec of specs) {
      const name = `step/${bm.name}/${spec}`;
      const method = parseMethod(spec, threatModel(bm.dataset));
      const d = trainingDefaults(bm.dataset, spec, bm.name);
      const before = { ...counts };
      ctx.log(`${name}: method.step, ${method.passesPerBatch} full passes per batch by its own count`);
      let calls = 0;
      let t: Awaited<ReturnType<typeof timeSteps>>;
      try {
        t = await timeSteps(
          ctx,
          name,
          model,
          method,
          { lr: d.lr, momentum: 0.9, weightDecay: d.weightDecay },
          x,
          y,
          () => calls++,
        );
      } finally {
        method.dispose();
      }
      const full = (counts.full - before.full) / calls;
      const firstOnly = (firstLayerOnly(counts) - firstLayerOnly(before)) / calls;
      if (spec === 'natural') naturalMs = t.ms;
      recorded.set(
        spec,
        ctx.record({
          name,
          ms: t.ms,
          samples: t.samples,
          ...(naturalMs !== null ? { ratio: t.ms / naturalMs } : {}),
          note: `${round(full)} full + ${round(firstOnly)} first-layer passes${method.epochDivisor > 1 ? `; run epochs/${method.epochDivisor}` : ''}`,
        }),
      );
    }
    if (bm.name === 'smallcnn') addTorchTimes(ctx, recorded);
  } finally {
    x.dispose();
    y.dispose();
    model.dispose();
  }
}

/** The same SmallCNN steps in PyTorch on this CPU, timed now and set beside ours (where it has them). */
function addTorchTimes(ctx: SuiteContext, recorded: Map<string, BenchResult>): void {
  const items = [...recorded.keys()].filter((spec) => TORCH_STEP.test(spec)) as TorchItem[];
  const run = ctx.torch(items);
  if (!run) return;
  for (const item of items) {
    const r = recorded.get(item)!;
    r.torch_ms = Number(run.results[item]!.ms.toPrecision(4));
    ctx.log(`  ${r.name}: PyTorch CPU ${formatMs(r.torch_ms)} ms, ours / PyTorch ${formatRatio(r.ms / r.torch_ms)}`);
  }
}

/** The steps bench/peer/torch_small_cnn.py knows. */
const TORCH_STEP = /^(natural|pgd-\d+|yopo-\d+-\d+)$/;

/** Median GPU-synced time of method.step on one fixed batch; a fresh step seed per call. */
async function timeSteps(
  ctx: SuiteContext,
  name: string,
  model: Classifier,
  method: Method,
  hyper: Hyper,
  x: Tensor,
  y: Tensor,
  onCall: () => void,
) {
  method.init(model, hyper);
  let seed = 1;
  const t = await ctx.measure(name, async () => {
    const out = method.step(model, x, y, new Random(seed++));
    out.loss.dispose();
    out.logits.dispose();
    out.adversary?.dispose();
    onCall();
    await ctx.backend.sync();
  });
  ctx.backend.gpu.checkErrors();
  return t;
}

/** The peer's SmallCNN step has no dropout and no weight decay: ours runs the same work here. */
async function stepVsTfjs(ctx: SuiteContext): Promise<void> {
  const name = 'step/smallcnn/natural-vs-tfjs';
  if (!ctx.wants(name)) return;
  const model = new SmallCNN(new Random(1), { dropout: 0 });
  const { x, y } = randomBatch(model, BATCH);
  try {
    ctx.log(`${name}: natural SmallCNN step (no dropout, no weight decay), ours then TF.js`);
    const method = parseMethod('natural', threatModel('mnist'));
    let t: Awaited<ReturnType<typeof timeSteps>>;
    try {
      t = await timeSteps(ctx, name, model, method, { lr: 0.01, momentum: 0.9, weightDecay: 0 }, x, y, () => {});
    } finally {
      method.dispose();
    }
    const peer = await ctx.peer();
    const peerMs = peer ? await peer.smallCnnStep(BATCH).then((p) => p.ms) : undefined;
    ctx.record({
      name,
      ms: t.ms,
      samples: t.samples,
      ...(peerMs !== undefined ? { peer_ms: peerMs, ratio: peerMs / t.ms } : {}),
      note: 'forward, backward, momentum SGD',
    });
  } finally {
    x.dispose();
    y.dispose();
    model.dispose();
  }
}

const round = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
