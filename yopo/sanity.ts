// Warning signs that a robust accuracy is an artefact of the evaluation (gradient masking, randomness)
// rather than robustness, after AutoAttack's checks (Croce & Hein 2020, "flags"). Each flag carries
// its evidence. The checks are cheap next to the attacks: one FGSM, a PGD-5 at a large ε on up to
// 100 examples, one gradient and two forward passes on up to 200.

import { Tape, type Tensor, sum, tensor, tidy } from '../engine/index.js';
import type { Classifier } from '../nn/index.js';
import { dlrLoss, oneHotRows } from './attacks/dlr.js';
import { logitsOf } from './attacks/rows.js';
import { type AttackSpec, type EvalData, type EvalResult, evaluate, parseAttack } from './evaluate.js';

/** A warning sign that a robust accuracy may be an artefact of the evaluation: which check fired and its evidence. */
export interface SanityFlag {
  check: string;
  evidence: string;
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

/** Stages that need no gradient breaking examples the gradient-based stages before them missed. */
export function blackBoxBeatsWhiteBox(attack: AttackSpec, result: EvalResult): SanityFlag | null {
  let before = result.clean_accuracy;
  let whiteBoxSeen = false;
  for (let i = 0; i < attack.stages.length; i++) {
    const after = result.stages[i].robust_accuracy;
    const stage = attack.stages[i];
    if (!stage.whiteBox && whiteBoxSeen && after < before) {
      const broken = Math.round((before - after) * result.n);
      return {
        check: 'black-box beats white-box',
        evidence: `${stage.name} broke ${broken} of ${result.n} examples that the gradient-based attacks before it did not (${pct(before)} -> ${pct(after)}): gradients may be masked`,
      };
    }
    if (stage.whiteBox) whiteBoxSeen = true;
    before = after;
  }
  return null;
}

/** A sweep whose robust accuracy rises with ε. */
export function notFallingWithEps(sweep: EvalResult[]): SanityFlag | null {
  const sorted = [...sweep].sort((a, b) => a.eps - b.eps);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].robust_accuracy > sorted[i - 1].robust_accuracy) {
      return {
        check: 'accuracy rises with ε',
        evidence: `robust accuracy ${pct(sorted[i - 1].robust_accuracy)} at ε=${sorted[i - 1].eps} but ${pct(sorted[i].robust_accuracy)} at ε=${sorted[i].eps}`,
      };
    }
  }
  return null;
}

/** Options of modelSanityFlags: seed and batch size. */
export interface SanityOptions {
  seed?: number;
  batchSize?: number;
}

/** The checks that need the model: large-ε attack, FGSM vs the attack, zero gradients, determinism. */
export async function modelSanityFlags(
  model: Classifier,
  data: EvalData,
  attack: AttackSpec,
  result: EvalResult,
  o: SanityOptions = {},
): Promise<SanityFlag[]> {
  const flags: SanityFlag[] = [];
  const wasTraining = model.training;
  model.eval();
  try {
    const n = Math.min(result.n, data.count);
    const norm = attack.norm;
    // 1. At a radius that allows any image (L∞ 1; L2 the diagonal of the cube), accuracy must reach ≈ 0.
    const big = norm === 'linf' ? 1 : Math.sqrt(data.shape[0] * data.shape[1] * data.shape[2]);
    const large = await evaluate(model, data, parseAttack('pgd-5', big, big / 4, 1, norm), {
      limit: Math.min(n, 100),
      seed: o.seed,
      batchSize: o.batchSize,
    });
    if (large.robust_accuracy > 0.1)
      flags.push({
        check: 'not ≈ 0 at a large ε',
        evidence: `PGD-5 at ${norm} ε=${Number(big.toPrecision(4))} (any image is reachable) leaves ${pct(large.robust_accuracy)} of ${large.n} examples correct`,
      });
    // 2. A many-step attack must not be weaker than a single gradient step.
    if (attack.stages.some((s) => s.whiteBox && !/^fg/.test(s.name))) {
      const fgsm = await evaluate(model, data, parseAttack('fgsm', attack.eps, attack.eps, 1, norm), {
        limit: n,
        seed: o.seed,
        batchSize: o.batchSize,
      });
      if (fgsm.robust_accuracy < result.robust_accuracy)
        flags.push({
          check: 'PGD weaker than FGSM',
          evidence: `${fgsm.attack} leaves ${pct(fgsm.robust_accuracy)}, below ${attack.name}'s ${pct(result.robust_accuracy)} (n=${n}, ε=${attack.eps})`,
        });
    }
    // 3 and 4 on one batch of clean inputs.
    const b = Math.min(n, 200);
    const per = data.shape[0] * data.shape[1] * data.shape[2];
    const x = data.images.slice(0, b * per);
    const labels = data.labels.slice(0, b);
    if (model.classes >= 3) {
      const zero = await zeroGradientExamples(model, x, labels, [b, ...data.shape]);
      if (zero > 0)
        flags.push({
          check: 'zero gradients',
          evidence: `the DLR loss has an all-zero input gradient at ${zero} of ${b} clean examples`,
        });
    }
    const first = await logitsOf(model, x, [b, ...data.shape]);
    const second = await logitsOf(model, x, [b, ...data.shape]);
    let worst = 0;
    for (let i = 0; i < first.length; i++)
      worst = Math.max(worst, Math.abs(first[i] - second[i]) / Math.max(1, Math.abs(first[i])));
    if (worst > 1e-5)
      flags.push({
        check: 'non-deterministic forward',
        evidence: `two identical eval-mode forward passes on ${b} examples differ by up to ${worst.toExponential(2)} (relative): randomness hides gradients; evaluate with EOT`,
      });
  } finally {
    model.train(wasTraining);
  }
  return flags;
}

async function zeroGradientExamples(
  model: Classifier,
  x: Float32Array,
  labels: Int32Array,
  shape: number[],
): Promise<number> {
  const g = tidy(() => {
    const input = tensor(x, shape);
    const onehot = oneHotRows(labels, model.classes);
    const tape = new Tape();
    const loss = tape.record(() => sum(dlrLoss(model.forward(input), onehot)));
    return tape.gradient(loss, [input])[0] as Tensor;
  });
  const values = await g.data();
  g.dispose();
  const per = values.length / shape[0];
  let zero = 0;
  for (let e = 0; e < shape[0]; e++) {
    let any = false;
    for (let i = e * per; i < (e + 1) * per && !any; i++) any = values[i] !== 0;
    if (!any) zero++;
  }
  return zero;
}
