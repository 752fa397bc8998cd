// YOPO's adversary loop, shared by YOPO-m-n and TRADES-YOPO-m-n (YOPO-SPEC): m full passes, each giving
// p = ∂loss/∂z1 at the current η, and after each, n sign steps of η that run only the first layer:
//   for j in 1..m:
//     p = fullPass(η)                               (the method's loss: cross-entropy or TRADES's KL)
//     for s in 1..n:  η ← Π(η + σ·sign(∇η Σ p·f0(clip(x + η, 0, 1))))   (L2: σ·g/‖g‖₂ and the L2 ball)
//     afterInnerSteps(η, p)                          (YOPO: the first layer's Hamiltonian gradient)
// The inner step runs fused (engine/ops/conv_ascent.ts: two kernels, one without a ReLU) when the
// model's first layer is a conv (+bias)(+ReLU) (Classifier.firstLayerConv), op by op otherwise.
// Under L2 only the gradient is fused: the per-example norms of the step and the projection stay ops.

import { type Tensor, convHamiltonianGradient, convSignAscentStep, keep, tidy } from '../engine/index.js';
import type { Classifier } from '../nn/index.js';
import { hamiltonianGradientWrtEta } from './first_layer.js';
import { type Norm, ascentStep, project } from './perturbation.js';

/** Options of firstLayerAdversary: m full passes, n inner steps of size σ after each, radius eps (input units) in the given norm. */
export interface FirstLayerAdversaryOptions {
  m: number;
  n: number;
  eps: number;
  /** The inner step σ. */
  sigma: number;
  /** L∞ (sign steps, the paper's; the default) or L2 (per-example normalised steps, the L2 ball). */
  norm?: Norm;
  /** 'auto' (the default): the fused inner step where the first layer allows it; 'generic': always op by op (the reference). */
  innerStep?: InnerStepPath;
}

/** Which path the inner step takes: fused where the first layer allows ('auto'), or always op by op ('generic'). */
export type InnerStepPath = 'auto' | 'generic';

/** One inner step η ← Π(η + σ·d(∇η Σ p·f0(clip(x + η, 0, 1)))), d = sign (L∞) or g/‖g‖₂ (L2). */
export function innerStep(model: Classifier, x: Tensor, eta: Tensor, p: Tensor, o: Pick<FirstLayerAdversaryOptions, 'eps' | 'sigma' | 'norm' | 'innerStep'>): Tensor {
  const norm = o.norm ?? 'linf';
  const conv = o.innerStep === 'generic' ? null : model.firstLayerConv();
  if (conv && norm === 'linf') return convSignAscentStep(x, eta, p, conv, o.sigma, o.eps);
  const g = conv ? convHamiltonianGradient(x, eta, p, conv) : hamiltonianGradientWrtEta(model, x, eta, p);
  return project(ascentStep(eta, g, o.sigma, norm), x, o.eps, norm);
}

/**
 * Runs the loop from `eta` (which it takes over) and returns the final η (kept). `fullPass` returns a
 * kept p that the loop disposes; `afterInnerSteps` sees η^{j,n} and p before that.
 */
export function firstLayerAdversary(
  model: Classifier, x: Tensor, eta: Tensor, o: FirstLayerAdversaryOptions,
  fullPass: (eta: Tensor, j: number) => Tensor,
  afterInnerSteps?: (eta: Tensor, p: Tensor, j: number) => void,
): Tensor {
  for (let j = 0; j < o.m; j++) {
    const p = fullPass(eta, j);
    for (let s = 0; s < o.n; s++) {
      const next = tidy(() => innerStep(model, x, eta, p, o));
      eta.dispose();
      eta = keep(next);
    }
    afterInnerSteps?.(eta, p, j);
    p.dispose();
  }
  return eta;
}
