// YOPO-m-n (Zhang et al., NeurIPS 2019; docs/algorithm.md, "YOPO-m-n"):
//
//   η ← U(−ε, ε)
//   for j in 1..m:                       full forward/backward: ∇θ L summed, p = ∂L/∂z1 kept
//     z1 = f0(x + η); L = CE(g(z1), y)
//     for s in 1..n:                     first layer only, against the frozen p
//       η ← Π(η + σ·sign(∇η Σ p·f0(clip(x + η, 0, 1))))
//     ∇θ0 Σ p·f0(clip(x + η, 0, 1)) summed into the first layer's gradient
//   one SGD step for g and one for f0 with the summed gradients, learning rate base/m
//
// firstLayerGradient: 'both' (the published code: f0 gets the cross-entropy gradients AND the
// Hamiltonian ones), 'hamiltonian' (only the Hamiltonian ones, the paper's intent) or 'backprop'.
// batchNormRefresh (default on, as the published ResNet code): one more forward, without gradients and
// in train mode, on the final adversary, so BatchNorm's running statistics are updated m+1 times per
// batch. It only runs on models with BatchNorm (elsewhere a no-grad forward changes nothing).
// The first layer has its own optimiser, so it can have its own schedule (setFirstLayerLearningRate;
// the published MNIST code decays it at epochs 15 and 19 while the rest decays at 30, 35, 39).

import { type Random, Tape, type Tensor, add, keep, noGrad, softmaxCrossEntropy, tidy } from '../../engine/index.js';
import type { Classifier } from '../../nn/index.js';
import { BatchNorm2d } from '../../nn/layers.js';
import { SGD } from '../../nn/sgd.js';
import { hamiltonianGradientWrtFirstLayer } from '../first_layer.js';
import { type InnerStepPath, firstLayerAdversary } from '../first_layer_adversary.js';
import { GradientSum } from '../gradient_sum.js';
import type { Hyper, Method, StepOutput } from '../method.js';
import { type Norm, perturbed, randomStart } from '../perturbation.js';

/** Which gradients train the first layer: 'both' (cross-entropy and Hamiltonian, the published code), 'hamiltonian' (the paper's intent) or 'backprop'. */
export type FirstLayerGradient = 'both' | 'hamiltonian' | 'backprop';

/** Options of YOPO-m-n: m full passes, n first-layer steps of size σ after each, radius eps (input units). */
export interface YopoOptions {
  m: number;
  n: number;
  eps: number;
  /** Inner step size σ. */
  sigma: number;
  firstLayerGradient?: FirstLayerGradient;
  /** The extra no-grad train-mode forward on the final adversary (BatchNorm models only); default true. */
  batchNormRefresh?: boolean;
  /** L∞ (sign steps, the paper's) or L2 (normalised steps, projection onto the L2 ball). */
  norm?: Norm;
  /** The inner step's path: fused where the first layer allows ('auto', the default) or always op by op ('generic'). */
  innerStep?: InnerStepPath;
}

function hasBatchNorm(model: Classifier): boolean {
  return model.modules().some((m) => m instanceof BatchNorm2d);
}

/** YOPO-m-n training: m full passes whose parameter gradients are summed, n cheap first-layer adversary steps after each, then one SGD step for the first layer and one for the rest at learning rate base/m. */
export function yopo(o: YopoOptions): Method {
  const mode = o.firstLayerGradient ?? 'both';
  let firstOpt: SGD | null = null;
  let restOpt: SGD | null = null;
  return {
    name: `yopo-${o.m}-${o.n}`,
    passesPerBatch: o.m,
    epochDivisor: 1,
    init(model: Classifier, h: Hyper) {
      firstOpt = new SGD(model.firstLayerParameters(), { ...h, lr: h.lr / o.m });
      restOpt = new SGD(model.restParameters(), { ...h, lr: h.lr / o.m });
    },
    step(model: Classifier, x: Tensor, y: Tensor, rng: Random): StepOutput {
      model.train();
      const theta0 = model.firstLayerParameters();
      const theta = model.restParameters();
      const sums = new GradientSum();
      const last: { out?: StepOutput } = {};
      // Each full propagation gives the weight gradients (summed) and p = ∂L/∂z1.
      const fullPass = (at: Tensor): Tensor => {
        last.out?.loss.dispose();
        last.out?.logits.dispose();
        const full = tidy(() => {
          const tape = new Tape();
          let z1!: Tensor;
          let logits!: Tensor;
          const loss = tape.record(() => {
            z1 = model.firstLayer(add(x, at));
            logits = model.rest(z1);
            return softmaxCrossEntropy(logits, y);
          });
          const wrt = mode === 'hamiltonian' ? theta : [...theta0, ...theta];
          const grads = tape.gradient(loss, [...wrt, z1]);
          const p = grads.pop()!;
          sums.add(wrt, grads);
          return { p, loss, logits };
        });
        last.out = { loss: full.loss, logits: full.logits };
        return full.p;
      };
      // After the n first-layer steps: the Hamiltonian gradient of the first layer at η^{j,n}.
      const hamiltonian = (at: Tensor, p: Tensor) => {
        if (mode !== 'backprop')
          sums.add(
            theta0,
            tidy(() => hamiltonianGradientWrtFirstLayer(model, x, at, p)),
          );
      };
      const eta = firstLayerAdversary(
        model,
        x,
        keep(randomStart(x.shape, o.eps, o.norm ?? 'linf', rng)),
        o,
        fullPass,
        hamiltonian,
      );
      if ((o.batchNormRefresh ?? true) && hasBatchNorm(model))
        noGrad(() => tidy(() => model.forward(perturbed(x, eta))));
      firstOpt!.step(sums.get(theta0));
      restOpt!.step(sums.get(theta));
      sums.dispose();
      const adversary = keep(tidy(() => perturbed(x, eta)));
      eta.dispose();
      return { ...last.out!, adversary };
    },
    setLearningRate(lr: number) {
      firstOpt!.lr = lr / o.m;
      restOpt!.lr = lr / o.m;
    },
    setFirstLayerLearningRate(lr: number) {
      firstOpt!.lr = lr / o.m;
    },
    optimizers: () =>
      new Map([
        ['first_layer', firstOpt!],
        ['rest', restOpt!],
      ]),
    dispose() {
      firstOpt?.dispose();
      restOpt?.dispose();
    },
  };
}
