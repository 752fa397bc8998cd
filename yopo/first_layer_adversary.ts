// YOPO's adversary loop, shared by YOPO-m-n and TRADES-YOPO-m-n (docs/algorithm.md, "YOPO-m-n"): m full passes, each giving
// p = ∂loss/∂z1 at the current η, and after each, n sign steps of η that run only the first layer:
//   for j in 1..m:
//     p = fullPass(η)                               (the method's loss: cross-entropy or TRADES's KL)
//     for s in 1..n:  η ← Π(η + σ·sign(∇η Σ p·f0(clip(x + η, 0, 1))))   (L2: σ·g/‖g‖₂ and the L2 ball)
//     afterInnerSteps(η, p)                          (YOPO: the first layer's Hamiltonian gradient)
// The inner step runs fused (engine/ops/conv_ascent.ts: two kernels, one without a ReLU) when the
// model's first layer is a conv (+bias)(+ReLU) (Classifier.firstLayerConv), op by op otherwise.
// Under L2 only the gradient is fused: the per-example norms of the step and the projection stay ops.
// A conv without ReLU is linear, so its Wᵀp is computed once per full pass and the inner steps are the
// identity layer's against it (yopo/first_layer.ts), which is elementwise and far cheaper than the
// fused conv step (`yopo bench`'s inner_step_linear and inner_step_fused rows; docs/notes/first-layer.md).
// A conv with ReLU (SmallCNN): p is frozen and few ReLU bits move within a pass, so the pass computes its
// bits and Wᵀ(p ⊙ m₀) once (convAscentBase) and each step corrects them only where its own bits differ
// (convSignAscentStepFrom).

import {
  type ConvAscentBase,
  type ConvFirstLayer,
  type Tensor,
  convAscentBase,
  convHamiltonianGradient,
  convHamiltonianGradientFrom,
  convSignAscentStep,
  convSignAscentStepFrom,
  keep,
  tidy,
} from '../engine/index.js';
import type { Classifier } from '../nn/index.js';
import { hamiltonianGradientWrtEta, identityFirstLayer, linearFirstLayerCotangent } from './first_layer.js';
import { type Norm, ascentStep, project } from './perturbation.js';

/** Fewest inner steps a pass for which a ReLU layer's steps start from the pass's base: the base costs about
 *  one fused step (its mask and a dense gradient pass), and each step from it about half of one, so with
 *  fewer steps the base does not pay back (measured: docs/notes/first-layer.md). */
const BASE_MIN_STEPS = 3;

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

type InnerStepOptions = Pick<FirstLayerAdversaryOptions, 'eps' | 'sigma' | 'norm' | 'innerStep'>;

/** One inner step η ← Π(η + σ·d(∇η Σ p·f0(clip(x + η, 0, 1)))), d = sign (L∞) or g/‖g‖₂ (L2). */
export function innerStep(model: Classifier, x: Tensor, eta: Tensor, p: Tensor, o: InnerStepOptions): Tensor {
  return innerStepOn(o.innerStep === 'generic' ? null : model.firstLayerConv(), model, x, eta, p, o);
}

/** The inner step, fused on `conv` (the model's first layer as a conv) or op by op without it. */
function innerStepOn(
  conv: ConvFirstLayer | null,
  model: Classifier,
  x: Tensor,
  eta: Tensor,
  p: Tensor,
  o: InnerStepOptions,
): Tensor {
  if (conv) return convInnerStep(conv, x, eta, p, o);
  const norm = o.norm ?? 'linf';
  return project(ascentStep(eta, hamiltonianGradientWrtEta(model, x, eta, p), o.sigma, norm), x, o.eps, norm);
}

/** The inner step on a conv first layer `conv` (the model's, or the identity layer against Wᵀp), fused. */
export function convInnerStep(conv: ConvFirstLayer, x: Tensor, eta: Tensor, p: Tensor, o: InnerStepOptions): Tensor {
  const norm = o.norm ?? 'linf';
  if (norm === 'linf') return convSignAscentStep(x, eta, p, conv, o.sigma, o.eps);
  return project(ascentStep(eta, convHamiltonianGradient(x, eta, p, conv), o.sigma, norm), x, o.eps, norm);
}

/** The inner step on a ReLU conv first layer from the pass's base (its ReLU bits and Wᵀ(p ⊙ m₀)), fused. */
export function convInnerStepFrom(
  conv: ConvFirstLayer,
  base: ConvAscentBase,
  x: Tensor,
  eta: Tensor,
  p: Tensor,
  o: InnerStepOptions,
): Tensor {
  const norm = o.norm ?? 'linf';
  if (norm === 'linf') return convSignAscentStepFrom(x, eta, p, conv, base, o.sigma, o.eps);
  return project(ascentStep(eta, convHamiltonianGradientFrom(x, eta, p, conv, base), o.sigma, norm), x, o.eps, norm);
}

/** The model's first layer when it is a linear conv (no ReLU) and the fused path is on: its inner steps can run against Wᵀp. */
export function linearFirstLayer(
  model: Classifier,
  o: Pick<FirstLayerAdversaryOptions, 'innerStep'>,
): ConvFirstLayer | null {
  return linearConv(o.innerStep === 'generic' ? null : model.firstLayerConv());
}

/** `conv` when it has no ReLU (linear in its input), else null. */
function linearConv(conv: ConvFirstLayer | null): ConvFirstLayer | null {
  return conv && !conv.relu ? conv : null;
}

/**
 * Runs the loop from `eta` (which it takes over) and returns the final η (kept). `fullPass` returns a
 * kept p that the loop disposes; `afterInnerSteps` sees η^{j,n} and p before that.
 */
export function firstLayerAdversary(
  model: Classifier,
  x: Tensor,
  eta: Tensor,
  o: FirstLayerAdversaryOptions,
  fullPass: (eta: Tensor, j: number) => Tensor,
  afterInnerSteps?: (eta: Tensor, p: Tensor, j: number) => void,
): Tensor {
  // A linear f0 (a conv without ReLU): Wᵀp once a pass, at its first inner step, then the identity
  // layer's steps against it (yopo/first_layer.ts). Each inner step asks for the layer (firstLayerConv),
  // as the fused step does: yopo/counters.ts counts that as its first-layer propagation.
  let identity: ConvFirstLayer | null = null;
  try {
    for (let j = 0; j < o.m; j++) {
      const p = fullPass(eta, j);
      let cotangent: Tensor | null = null;
      let base: ConvAscentBase | null = null;
      for (let s = 0; s < o.n; s++) {
        const conv = o.innerStep === 'generic' ? null : model.firstLayerConv();
        const linear = linearConv(conv);
        if (linear) {
          cotangent ??= keep(tidy(() => linearFirstLayerCotangent(linear, x, p)));
          identity ??= identityFirstLayer(x.shape[1]);
          keep(identity.weight);
        } else if (conv && !base && o.n >= BASE_MIN_STEPS) {
          // A ReLU conv: the pass's ReLU bits and Wᵀ(p ⊙ m₀) once; each step corrects them where its bits differ.
          const made = tidy(() => convAscentBase(x, eta, p, conv));
          base = { bits: keep(made.bits), gradient: keep(made.gradient) };
        }
        // A linear f0 steps as the identity layer against Wᵀp; a ReLU conv from the pass's base; any other op by op.
        const [layer, layerCotangent] = linear && identity && cotangent ? [identity, cotangent] : [conv, p];
        const from = conv && base ? { conv, base } : null;
        const next = tidy(() =>
          from
            ? convInnerStepFrom(from.conv, from.base, x, eta, p, o)
            : innerStepOn(layer, model, x, eta, layerCotangent, o),
        );
        eta.dispose();
        eta = keep(next);
      }
      cotangent?.dispose();
      if (base) for (const t of [base.bits, base.gradient]) t.dispose();
      afterInnerSteps?.(eta, p, j);
      p.dispose();
    }
  } finally {
    identity?.weight.dispose();
  }
  return eta;
}
