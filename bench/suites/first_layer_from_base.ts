// YOPO's inner steps on SmallCNN's ReLU first layer as its loop runs them (yopo/first_layer_adversary.ts):
// once a full pass, the base (the ReLU bits at the pass's η and Wᵀ(p ⊙ m₀)), then n steps that each
// correct it where their own bits differ. A step's cost depends on how many bits move, which a random
// first layer on random pixels overstates, so this row runs the demo's trained first layer
// (bench/fixtures/smallcnn-mnist-first-layer.json) on the first 128 MNIST test images. p is random, as in
// the other rows: a random p moves about as many bits as the trained model's own p
// (docs/notes/first-layer.md). One timed call is one pass, the base and YOPO-5-10's ten steps from
// a random start; the row's time is that pass shared out over its steps, beside the full pass.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ConvFirstLayer,
  Random,
  type Tensor,
  convAscentBase,
  keep,
  randn,
  tensor,
  tidy,
} from '../../engine/index.js';
import type { Classifier, HostTensor } from '../../nn/index.js';
import { threatModel } from '../../yopo/defaults.js';
import { loadMnist } from '../../yopo/data/mnist.js';
import { convInnerStepFrom } from '../../yopo/first_layer_adversary.js';
import { randomStart } from '../../yopo/perturbation.js';
import type { SuiteContext } from '../context.js';
import { type BenchResult, formatMs } from '../report.js';
import { BATCH, type BenchModel } from '../workload.js';

/** Inner steps a pass: YOPO-5-10's n, the paper's MNIST setting and the demo's. */
const PASS_STEPS = 10;

const FIXTURE = 'smallcnn-mnist-first-layer.json';

/** The fixture's tensors, by their state-dict names. */
function trainedTensors(): Map<string, HostTensor> {
  const here = dirname(fileURLToPath(import.meta.url));
  const path = [join(here, '../fixtures', FIXTURE), join(here, '../../../bench/fixtures', FIXTURE)].find((p) =>
    existsSync(p),
  );
  if (!path) throw new Error(`bench/fixtures/${FIXTURE} not found from ${here}`);
  const file = JSON.parse(readFileSync(path, 'utf8')) as {
    tensors: Record<string, { shape: number[]; data: number[] }>;
  };
  return new Map(
    Object.entries(file.tensors).map(([name, t]) => [name, { shape: t.shape, data: Float32Array.from(t.data) }]),
  );
}

/** The model's first layer as a conv, with the trained weight and bias in place of its own. */
export function trainedFirstLayer(model: Classifier): ConvFirstLayer {
  const conv = model.firstLayerConv();
  if (!conv?.relu || !conv.bias)
    throw new Error(`bench/fixtures/${FIXTURE}: the model's first layer is not a conv with bias and ReLU`);
  const trained = trainedTensors();
  const take = (name: string, like: Tensor) => {
    const t = trained.get(name);
    if (!t || t.shape.join() !== like.shape.join())
      throw new Error(
        `bench/fixtures/${FIXTURE}: ${name} [${t?.shape.join(', ') ?? 'missing'}] does not fit the model's [${like.shape.join(', ')}]`,
      );
    return tensor(t.data, t.shape);
  };
  return { ...conv, weight: take('conv1.weight', conv.weight), bias: take('conv1.bias', conv.bias) };
}

/** The share of ReLU bits (int32 words) that differ between two bit tensors. */
async function flippedShare(a: Tensor, b: Tensor, channels: number): Promise<number> {
  const [u, v] = await Promise.all([a.data(), b.data()]);
  let flipped = 0;
  for (let i = 0; i < u.length; i++) {
    let d = (u[i] ^ v[i]) >>> 0;
    for (; d; d &= d - 1) flipped++;
  }
  return flipped / ((u.length / Math.ceil(channels / 32)) * channels);
}

/** The inner_step_from_base row for a model whose first layer is a conv with ReLU (SmallCNN, MNIST). */
export async function fromBaseRow(
  ctx: SuiteContext,
  bm: BenchModel,
  model: Classifier,
  fullMs: number | null,
  flopRatio: number,
): Promise<BenchResult | null> {
  const name = `inner_step_from_base/${bm.name}`;
  if (!ctx.wants(name) || bm.name !== 'smallcnn') return null;
  const conv = trainedFirstLayer(model);
  const { eps, step } = threatModel(bm.dataset);
  const data = loadMnist({ split: 'test' });
  const x = tensor(data.images.subarray(0, BATCH * 784), [BATCH, ...model.inputShape]);
  const eta0 = keep(randomStart(x.shape, eps, 'linf', new Random(5)));
  const p = keep(tidy(() => randn(model.firstLayer(x).shape, new Random(4))));
  /** One pass: the base at η₀, then the steps; returns the last η and keeps the base's bits when asked. */
  const pass = (keepBits: boolean): { eta: Tensor; bits: Tensor | null } => {
    const made = tidy(() => convAscentBase(x, eta0, p, conv));
    const base = { bits: keep(made.bits), gradient: keep(made.gradient) };
    let eta = eta0;
    for (let s = 0; s < PASS_STEPS; s++) {
      const next = keep(tidy(() => convInnerStepFrom(conv, base, x, eta, p, { eps, sigma: step })));
      if (eta !== eta0) eta.dispose();
      eta = next;
    }
    base.gradient.dispose();
    if (!keepBits) base.bits.dispose();
    return { eta, bits: keepBits ? base.bits : null };
  };
  try {
    ctx.log(
      `${name}: a pass of YOPO's first layer, its base and ${PASS_STEPS} steps from it (trained first layer, MNIST test images)`,
    );
    const base = await ctx.measure(`${name} base`, async () => {
      const made = tidy(() => convAscentBase(x, eta0, p, conv));
      made.bits.dispose();
      made.gradient.dispose();
      await ctx.backend.sync();
    });
    const t = await ctx.measure(name, async () => {
      pass(false).eta.dispose();
      await ctx.backend.sync();
    });
    // How many bits the pass moved: the bits at its last η against its base's.
    const { eta, bits } = pass(true);
    const end = tidy(() => convAscentBase(x, eta, p, conv));
    const share = await flippedShare(bits!, end.bits, conv.weight.shape[0]);
    for (const u of [eta, bits!, end.bits, end.gradient]) u.dispose();
    const perStep = t.ms / PASS_STEPS;
    return ctx.record({
      name,
      ms: perStep,
      samples: t.samples,
      ...(fullMs ? { ratio: perStep / fullMs } : {}),
      flop_ratio: flopRatio,
      note: `a pass ${formatMs(t.ms)} ms: base ${formatMs(base.ms)} ms + ${PASS_STEPS} steps; ${(100 * share).toFixed(2)}% of ReLU bits moved by its last step`,
    });
  } finally {
    for (const u of [x, eta0, p, conv.weight, conv.bias!]) u.dispose();
  }
}
