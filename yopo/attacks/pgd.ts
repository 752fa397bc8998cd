// PGD-k and FGSM/FGM (docs/algorithm.md, "Attacks") in the L∞ or L2 threat model: steps of the
// threat model's ascent direction (sign of the gradient, or the gradient normalised per example) on
// the cross-entropy or the Carlini-Wagner margin, each projected onto the ε-ball and [0, 1]. The caller
// puts the model in eval mode; each attack returns the adversarial input clip(x + η, 0, 1).

import { type Random, Tape, type Tensor, add, keep, softmaxCrossEntropy, tidy, zerosLike } from '../../engine/index.js';
import type { Classifier } from '../../nn/index.js';
import { cwMarginSum, oneHot } from '../losses.js';
import { type Norm, ascentStep, perturbed, project, randomStart } from '../perturbation.js';

/** The loss PGD ascends: cross-entropy ('ce') or the Carlini-Wagner margin ('cw'). */
export type AttackLoss = 'ce' | 'cw';

/** Options of pgdAttack: radius eps and step α (input units, inputs in [0, 1]), steps; a random start unless randomStart is false, loss 'ce' and norm 'linf' by default. */
export interface PgdOptions {
  eps: number;
  /** Step size α. */
  alpha: number;
  steps: number;
  randomStart?: boolean;
  loss?: AttackLoss;
  norm?: Norm;
}

/** ∇η of the attack loss at net(x + η). */
function lossGradient(
  model: Classifier,
  x: Tensor,
  eta: Tensor,
  y: Tensor,
  loss: AttackLoss,
  onehot: Tensor | null,
): Tensor {
  const tape = new Tape();
  const l = tape.record(() => {
    const logits = model.forward(add(x, eta));
    return loss === 'cw' ? cwMarginSum(logits, onehot!) : softmaxCrossEntropy(logits, y);
  });
  return tape.gradient(l, [eta])[0];
}

/**
 * PGD: η ← random start in the ball (or 0); k times η = Π(η + α·d(∇η L)), d = sign (L∞) or g/‖g‖₂ (L2),
 * Π onto the ε-ball and [0, 1]. Returns clip(x + η, 0, 1).
 */
export function pgdAttack(
  model: Classifier,
  x: Tensor,
  y: Tensor,
  labels: Int32Array | null,
  o: PgdOptions,
  rng: Random,
): Tensor {
  const loss = o.loss ?? 'ce';
  const norm = o.norm ?? 'linf';
  const onehot = loss === 'cw' ? oneHot(requireLabels(labels), model.classes) : null;
  let eta = keep(tidy(() => (o.randomStart === false ? zerosLike(x) : randomStart(x.shape, o.eps, norm, rng))));
  for (let k = 0; k < o.steps; k++) {
    const next = tidy(() =>
      project(ascentStep(eta, lossGradient(model, x, eta, y, loss, onehot), o.alpha, norm), x, o.eps, norm),
    );
    eta.dispose();
    eta = keep(next);
  }
  onehot?.dispose();
  const adv = tidy(() => perturbed(x, eta));
  eta.dispose();
  return adv;
}

/** FGSM (L∞): clip(x + ε·sign(∇x L), 0, 1); FGM (L2): clip(x + ε·∇x L/‖∇x L‖₂, 0, 1). */
export function fgsmAttack(model: Classifier, x: Tensor, y: Tensor, eps: number, norm: Norm = 'linf'): Tensor {
  return tidy(() => {
    const zero = zerosLike(x);
    const g = lossGradient(model, x, zero, y, 'ce', null);
    return perturbed(x, ascentStep(zero, g, eps, norm));
  });
}

function requireLabels(labels: Int32Array | null): Int32Array {
  if (!labels) throw new Error('the CW attack needs the labels on the host');
  return labels;
}
