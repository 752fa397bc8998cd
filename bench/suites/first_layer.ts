// YOPO's premise, measured: one inner step (first-layer forward + VJP w.r.t. the input, against a
// cached p) against one full propagation (forward + backward for every weight and the input). Their
// time ratio is set beside their FLOP ratio: a time ratio far above the FLOP ratio means fixed
// per-call costs (dispatch, small kernels) eat the saving YOPO counts on.
// The fused rows run the same work as one or two kernels (engine/ops/conv_ascent.ts):
// first_layer_fused is the gradient alone (as first_layer); inner_step and inner_step_fused are the
// whole L∞ inner step, η ← Π(η + σ·sign(g)), op by op and fused. inner_step_linear (a first layer
// without ReLU: the ResNets') is the step YOPO's loop runs there: the identity layer's, against Wᵀp
// computed once per full pass (yopo/first_layer.ts); its note gives Wᵀp's own time. inner_step_from_base
// (a first layer with ReLU: SmallCNN's) is the step YOPO's loop runs there, from a pass's base, on a
// trained first layer and real images (first_layer_from_base.ts).

import {
  Random,
  Tape,
  type Tensor,
  convHamiltonianGradient,
  keep,
  randn,
  softmaxCrossEntropy,
  tidy,
} from '../../engine/index.js';
import { threatModel } from '../../yopo/defaults.js';
import { hamiltonianGradientWrtEta, identityFirstLayer, linearFirstLayerCotangent } from '../../yopo/first_layer.js';
import { convInnerStep, innerStep, linearFirstLayer } from '../../yopo/first_layer_adversary.js';
import { uniformNoise } from '../../yopo/perturbation.js';
import type { SuiteContext } from '../context.js';
import { firstLayerStepFlops, fullPassFlops, gflopsPerSecond } from '../flops.js';
import { traceLayers } from '../layers.js';
import { fromBaseRow } from './first_layer_from_base.js';
import { type BenchResult, formatMs, formatRatio } from '../report.js';
import { BATCH, benchModels, buildModel, randomBatch } from '../workload.js';

export async function firstLayerSuite(ctx: SuiteContext): Promise<void> {
  for (const bm of benchModels(ctx.quick)) {
    const firstName = `first_layer/${bm.name}`;
    const fullName = `full/${bm.name}`;
    const fusedNames = ['first_layer_fused', 'inner_step', 'inner_step_fused', 'inner_step_linear'].map(
      (row) => `${row}/${bm.name}`,
    );
    if (![firstName, fullName, ...fusedNames, `inner_step_from_base/${bm.name}`].some((name) => ctx.wants(name)))
      continue;
    const { backend } = ctx;
    const model = buildModel(bm);
    model.train();
    const { x, y } = randomBatch(model, BATCH);
    const firstFlops = firstLayerStepFlops(traceLayers(model, BATCH, 'firstLayer'));
    const fullFlops = fullPassFlops(traceLayers(model, BATCH, 'forward'));
    const flopRatio = firstFlops / fullFlops;
    // η in the ε-ball and a cotangent p of f0's output shape; random p costs the same as a real one.
    const eta = keep(uniformNoise(x.shape, threatModel(bm.dataset).eps, new Random(3)));
    const p = keep(tidy(() => randn(model.firstLayer(x).shape, new Random(4))));
    // PyTorch's inner step on this CPU (autograd through the same 1->32 conv + ReLU), timed once and set
    // beside each of our SmallCNN rows that do its work: the op-by-op step, the fused one, and the steps
    // from a base as YOPO runs them.
    let torchMs: number | null | undefined;
    const besidePyTorch = (r: BenchResult) => {
      if (bm.name !== 'smallcnn') return;
      if (torchMs === undefined) {
        const run = ctx.torch(['first_layer']);
        torchMs = run ? Number(run.results.first_layer!.ms.toPrecision(4)) : null;
      }
      if (torchMs === null) return;
      r.torch_ms = torchMs;
      ctx.log(`  ${r.name}: PyTorch CPU ${formatMs(torchMs)} ms, ours / PyTorch ${formatRatio(r.ms / torchMs)}`);
    };
    try {
      let full: { ms: number } | null = null;
      if (ctx.wants(fullName)) {
        ctx.log(`${fullName}: forward + backward w.r.t. all ${model.parameters().length} parameters and the input`);
        const t = await ctx.measure(fullName, async () => {
          tidy(() => {
            const tape = new Tape();
            const loss = tape.record(() => softmaxCrossEntropy(model.forward(x), y));
            tape.gradient(loss, [...model.parameters(), x]);
          });
          await backend.sync();
        });
        full = ctx.record({
          name: fullName,
          ms: t.ms,
          samples: t.samples,
          gflops: gflopsPerSecond(fullFlops, t.ms),
          note: `${(fullFlops / 1e9).toFixed(2)} GFLOP`,
        });
      }
      if (ctx.wants(firstName)) {
        ctx.log(`${firstName}: f0 forward + VJP w.r.t. η against a cached p`);
        const t = await ctx.measure(firstName, async () => {
          const g: Tensor = tidy(() => hamiltonianGradientWrtEta(model, x, eta, p));
          g.dispose();
          await backend.sync();
        });
        const r = ctx.record({
          name: firstName,
          ms: t.ms,
          samples: t.samples,
          gflops: gflopsPerSecond(firstFlops, t.ms),
          ...(full ? { ratio: t.ms / full.ms } : {}),
          flop_ratio: flopRatio,
          note: `${(firstFlops / 1e9).toFixed(3)} GFLOP`,
        });
        besidePyTorch(r);
      }
      const conv = model.firstLayerConv();
      const { eps, step } = threatModel(bm.dataset);
      const rows: [string, () => Tensor][] = [
        [fusedNames[0], () => convHamiltonianGradient(x, eta, p, conv!)],
        [fusedNames[1], () => innerStep(model, x, eta, p, { eps, sigma: step, innerStep: 'generic' })],
        [fusedNames[2], () => innerStep(model, x, eta, p, { eps, sigma: step })],
      ];
      for (const [name, run] of rows) {
        if (!ctx.wants(name) || !conv) continue;
        ctx.log(
          `${name}: ${name.startsWith('first_layer') ? 'the fused gradient alone' : `one L∞ inner step, ${name.includes('fused') ? 'fused' : 'op by op'}`}`,
        );
        const t = await ctx.measure(name, async () => {
          tidy(run).dispose();
          await backend.sync();
        });
        const r = ctx.record({
          name,
          ms: t.ms,
          samples: t.samples,
          gflops: gflopsPerSecond(firstFlops, t.ms),
          ...(full ? { ratio: t.ms / full.ms } : {}),
          flop_ratio: flopRatio,
          note: `${(firstFlops / 1e9).toFixed(3)} GFLOP`,
        });
        if (name === fusedNames[2]) besidePyTorch(r);
      }
      const linear = linearFirstLayer(model, {});
      if (linear && ctx.wants(fusedNames[3])) {
        ctx.log(`${fusedNames[3]}: one L∞ inner step of the identity layer against Wᵀp, and Wᵀp (once per full pass)`);
        const cotangent = await ctx.measure(`${fusedNames[3]} Wᵀp`, async () => {
          tidy(() => linearFirstLayerCotangent(linear, x, p)).dispose();
          await backend.sync();
        });
        const wtp = keep(tidy(() => linearFirstLayerCotangent(linear, x, p)));
        const identity = identityFirstLayer(x.shape[1]);
        keep(identity.weight);
        try {
          const t = await ctx.measure(fusedNames[3], async () => {
            tidy(() => convInnerStep(identity, x, eta, wtp, { eps, sigma: step })).dispose();
            await backend.sync();
          });
          ctx.record({
            name: fusedNames[3],
            ms: t.ms,
            samples: t.samples,
            ...(full ? { ratio: t.ms / full.ms } : {}),
            flop_ratio: flopRatio,
            note: `Wᵀp once per full pass: ${formatMs(cotangent.ms)} ms`,
          });
        } finally {
          wtp.dispose();
          identity.weight.dispose();
        }
      }
      const fromBase = await fromBaseRow(ctx, bm, model, full?.ms ?? null, flopRatio);
      if (fromBase) besidePyTorch(fromBase);
    } finally {
      for (const t of [x, y, eta, p]) t.dispose();
      model.dispose();
    }
    backend.gpu.checkErrors();
  }
}
