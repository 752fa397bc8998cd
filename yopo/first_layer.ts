// YOPO's key computation: the adversary only needs the first layer. With p = ∂L/∂z1 frozen,
//   H(η) = Σ p · f0(clip(x + η, 0, 1))
// and ∇η H is the VJP of f0 at clip(x + η) with cotangent p (passing the clip only where
// 0 ≤ x + η ≤ 1). At the η where p was computed, ∇η H equals the true ∇η L.

import { Tape, type Tensor, sum, mul } from '../engine/index.js';
import type { Classifier } from '../nn/index.js';
import { perturbed } from './perturbation.js';

/** ∇η Σ p·f0(clip(x+η, 0, 1)): one first-layer forward and one VJP w.r.t. the input. */
export function hamiltonianGradientWrtEta(model: Classifier, x: Tensor, eta: Tensor, p: Tensor): Tensor {
  const tape = new Tape();
  const z = tape.record(() => model.firstLayer(perturbed(x, eta)));
  return tape.gradient(z, [eta], p)[0];
}

/** ∇θ0 Σ p·f0(clip(x+η, 0, 1)) for the first layer's parameters θ0. */
export function hamiltonianGradientWrtFirstLayer(model: Classifier, x: Tensor, eta: Tensor, p: Tensor): Tensor[] {
  const tape = new Tape();
  const h = tape.record(() => sum(mul(p, model.firstLayer(perturbed(x, eta)))));
  return tape.gradient(h, model.firstLayerParameters());
}
