// The YOPO-ready model contract, checked at run time. YOPO re-runs the first layer alone in its inner
// loop and gives it its own optimiser, so a Classifier must satisfy, for every input x:
//   1. forward(x) = rest(firstLayer(x))         (the split is the network: nothing is skipped or added)
//   2. firstLayerParameters() ⊆ parameters()    (the optimiser updates the model's own tensors)
//   3. every parameter firstLayer(x) depends on is in firstLayerParameters()
//   4. firstLayerConv(), when not null, computes firstLayer(x) (YOPO's fused inner step runs it instead)
// checkClassifier tests these on one random batch in eval mode (dropout off, BatchNorm on its running
// statistics, so both sides of 1 see the same deterministic network) and throws one clear error.
// Rule 1 needs a run only when a model overrides forward (Classifier's own forward is the split);
// rule 3 runs firstLayer and its VJP once, so the check costs less than one training step.

import { type ConvFirstLayer, Random, Tape, abs, conv2d, noGrad, relu, sum, tensor, tidy } from '../../engine/index.js';
import { compareValues, describeComparison } from '../../engine/reference/compare.js';
import { Classifier } from './classifier.js';

/** Thrown when a model breaks the contract; the message names the rule and the numbers. */
export class ModelContractError extends Error {}

/** Batch, seed and tolerances of checkClassifier. */
export interface ClassifierCheckOptions {
  /** Images in the random batch. Default 2; pass the training batch size to reuse compiled GPU kernels. */
  batchSize?: number;
  /** Seed of the random batch (pixels uniform in [0, 1)). Default 0. */
  seed?: number;
  /** Tolerance of rule 1, relative and absolute in logit units. Defaults 1e-4 and 1e-5. */
  rtol?: number;
  atol?: number;
}

/** Checks the YOPO contract (see the top of this file) on the current backend; throws ModelContractError. */
export async function checkClassifier(model: Classifier, options: ClassifierCheckOptions = {}): Promise<void> {
  const name = model.constructor.name;
  const fail = (rule: string): never => {
    throw new ModelContractError(`${name} is not YOPO-ready: ${rule} (see Classifier in nn/models/classifier.ts)`);
  };
  const all = model.parameters();
  const own = new Set(all);
  const first = model.firstLayerParameters();
  const stray = first.findIndex((p) => !own.has(p));
  if (stray >= 0)
    fail(`firstLayerParameters()[${stray}] (shape [${first[stray].shape}]) is not one of the model's parameters()`);

  const batch = options.batchSize ?? 2;
  const rng = new Random(options.seed ?? 0);
  const shape = [batch, ...model.inputShape];
  const pixels = new Float32Array(shape.reduce((a, b) => a * b, 1));
  rng.fillUniform(pixels);
  const modes = model.modules().map((m) => m.training);
  model.eval();
  try {
    // Classifier's own forward is rest(firstLayer(x)) by construction: only an override needs running.
    if (model.forward !== Classifier.prototype.forward) await checkForward(model, pixels, shape, options, fail);

    // Rule 3: a random projection of firstLayer(x) must not reach any parameter outside firstLayerParameters.
    const firstSet = new Set(first);
    const others = all.filter((p) => !firstSet.has(p));
    const reach = tidy(() => {
      const x = tensor(pixels, shape);
      const tape = new Tape();
      const z = tape.record(() => model.firstLayer(x));
      const cotangent = tensor(rng.fillUniform(new Float32Array(z.size), -1, 1), z.shape);
      return tape.gradient(z, others, cotangent).map((g) => sum(abs(g)));
    });
    const names = new Map(model.namedParameters().map(([n, t]) => [t, n]));
    for (let i = 0; i < others.length; i++) {
      const v = await reach[i].item();
      reach[i].dispose();
      if (v !== 0) {
        for (const t of reach.slice(i + 1)) t.dispose();
        fail(
          `firstLayer(x) depends on parameter '${names.get(others[i])}', which firstLayerParameters() does not list`,
        );
      }
    }
    const conv = model.firstLayerConv();
    if (conv) await checkFirstLayerConv(model, conv, pixels, shape, first, fail);
  } finally {
    model.modules().forEach((m, i) => (m.training = modes[i]));
  }
}

/** Rule 1 on one batch: forward(x) against rest(firstLayer(x)), and the logits' shape. */
async function checkForward(
  model: Classifier,
  pixels: Float32Array,
  shape: number[],
  options: ClassifierCheckOptions,
  fail: (rule: string) => never,
): Promise<void> {
  const batch = shape[0];
  const [whole, split] = noGrad(() =>
    tidy(() => {
      const x = tensor(pixels, shape);
      return [model.forward(x), model.rest(model.firstLayer(x))];
    }),
  );
  const wholeShape = [...whole.shape];
  const [a, b] = [await whole.data(), await split.data()];
  whole.dispose();
  split.dispose();
  if (wholeShape.join() !== [batch, model.classes].join())
    fail(`forward(x) has shape [${wholeShape}], expected [${batch}, ${model.classes}] (batch, classes)`);
  const c = compareValues(b, a, { rtol: options.rtol ?? 1e-4, atol: options.atol ?? 1e-5 });
  if (!c.ok)
    fail(
      `forward(x) differs from rest(firstLayer(x)) on a random batch in eval mode: ${describeComparison(c, wholeShape)}`,
    );
}

/** Rule 4 on one batch: the conv that firstLayerConv() describes, on the model's own first-layer parameters, against firstLayer(x). */
async function checkFirstLayerConv(
  model: Classifier,
  conv: ConvFirstLayer,
  pixels: Float32Array,
  shape: number[],
  first: readonly object[],
  fail: (rule: string) => never,
): Promise<void> {
  for (const [what, t] of [
    ['weight', conv.weight],
    ['bias', conv.bias],
  ] as const) {
    if (t && !first.includes(t))
      fail(`firstLayerConv()'s ${what} (shape [${t.shape}]) is not one of firstLayerParameters()`);
  }
  const [direct, described] = noGrad(() =>
    tidy(() => {
      const x = tensor(pixels, shape);
      const z = conv2d(x, conv.weight, conv.bias, { stride: conv.stride, padding: conv.padding });
      return [model.firstLayer(x), conv.relu ? relu(z) : z];
    }),
  );
  const [a, b] = [await direct.data(), await described.data()];
  const [aShape, bShape] = [[...direct.shape], [...described.shape]];
  direct.dispose();
  described.dispose();
  if (aShape.join() !== bShape.join())
    fail(`firstLayerConv() gives shape [${bShape}] where firstLayer(x) gives [${aShape}]`);
  const c = compareValues(b, a, { rtol: 1e-4, atol: 1e-5 });
  if (!c.ok)
    fail(`firstLayerConv() does not compute firstLayer(x) on a random batch: ${describeComparison(c, aShape)}`);
}
