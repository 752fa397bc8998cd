// L∞ attacks (YOPO-SPEC "Evaluation" and PGD-r): FGSM, PGD-k with a random start on the cross-entropy
// or the Carlini-Wagner margin. The caller puts the model in eval mode; each attack returns the
// adversarial input clip(x + η, 0, 1).

import { type Random, Tape, type Tensor, add, clamp, keep, scale, sign, softmaxCrossEntropy, sub, tidy, zerosLike } from '../engine/index.js';
import type { Classifier } from '../nn/index.js';
import { cwMarginSum, oneHot } from './losses.js';
import { perturbed, uniformNoise } from './perturbation.js';

export type AttackLoss = 'ce' | 'cw';

export interface PgdOptions {
  eps: number;
  /** Step size α. */
  alpha: number;
  steps: number;
  randomStart?: boolean;
  loss?: AttackLoss;
}

/** ∇η of the attack loss at net(x + η). */
function lossGradient(model: Classifier, x: Tensor, eta: Tensor, y: Tensor, loss: AttackLoss, onehot: Tensor | null): Tensor {
  const tape = new Tape();
  const l = tape.record(() => {
    const logits = model.forward(add(x, eta));
    return loss === 'cw' ? cwMarginSum(logits, onehot!) : softmaxCrossEntropy(logits, y);
  });
  return tape.gradient(l, [eta])[0];
}

/**
 * PGD: η ← U(−ε, ε) (or 0); k times a = clip(x + η + α·sign(∇η L), 0, 1), η = clip(a − x, −ε, ε).
 * Returns clip(x + η, 0, 1).
 */
export function pgdAttack(model: Classifier, x: Tensor, y: Tensor, labels: Int32Array | null, o: PgdOptions, rng: Random): Tensor {
  const loss = o.loss ?? 'ce';
  const onehot = loss === 'cw' ? oneHot(requireLabels(labels), model.classes) : null;
  let eta = keep(o.randomStart === false ? tidy(() => zerosLike(x)) : uniformNoise(x.shape, o.eps, rng));
  for (let k = 0; k < o.steps; k++) {
    const next = tidy(() => {
      const g = lossGradient(model, x, eta, y, loss, onehot);
      const a = clamp(add(add(x, eta), scale(sign(g), o.alpha)), 0, 1);
      return clamp(sub(a, x), -o.eps, o.eps);
    });
    eta.dispose();
    eta = keep(next);
  }
  onehot?.dispose();
  const adv = tidy(() => perturbed(x, eta));
  eta.dispose();
  return adv;
}

/** FGSM: clip(x + ε·sign(∇x L(net(x))), 0, 1). */
export function fgsmAttack(model: Classifier, x: Tensor, y: Tensor, eps: number): Tensor {
  return tidy(() => {
    const zero = zerosLike(x);
    const g = lossGradient(model, x, zero, y, 'ce', null);
    return clamp(add(x, scale(sign(g), eps)), 0, 1);
  });
}

function requireLabels(labels: Int32Array | null): Int32Array {
  if (!labels) throw new Error('the CW attack needs the labels on the host');
  return labels;
}
