// YOPO-m-n (Zhang et al., NeurIPS 2019; YOPO-SPEC "YOPO-m-n, per batch"):
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

import { type Random, Tape, type Tensor, add, keep, softmaxCrossEntropy, tidy } from '../../engine/index.js';
import { type Classifier, SGD } from '../../nn/index.js';
import { hamiltonianGradientWrtEta, hamiltonianGradientWrtFirstLayer } from '../first_layer.js';
import { GradientSum } from '../gradient_sum.js';
import type { Hyper, Method, StepOutput } from '../method.js';
import { type Norm, ascentStep, perturbed, project, randomStart } from '../perturbation.js';

export type FirstLayerGradient = 'both' | 'hamiltonian' | 'backprop';

export interface YopoOptions {
  m: number;
  n: number;
  eps: number;
  /** Inner step size σ. */
  sigma: number;
  firstLayerGradient?: FirstLayerGradient;
  /** L∞ (sign steps, the paper's) or L2 (normalised steps, projection onto the L2 ball). */
  norm?: Norm;
}

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
      let eta = keep(tidy(() => randomStart(x.shape, o.eps, o.norm ?? 'linf', rng)));
      let out: StepOutput | null = null;
      for (let j = 0; j < o.m; j++) {
        out?.loss.dispose();
        out?.logits.dispose();
        // One full propagation: the weight gradients and p = ∂L/∂z1.
        const full = tidy(() => {
          const tape = new Tape();
          let z1!: Tensor;
          let logits!: Tensor;
          const loss = tape.record(() => {
            z1 = model.firstLayer(add(x, eta));
            logits = model.rest(z1);
            return softmaxCrossEntropy(logits, y);
          });
          const wrt = mode === 'hamiltonian' ? theta : [...theta0, ...theta];
          const grads = tape.gradient(loss, [...wrt, z1]);
          const p = grads.pop()!;
          sums.add(wrt, grads);
          return { p, loss, logits };
        });
        out = { loss: full.loss, logits: full.logits };
        // n adversary updates that run only the first layer.
        for (let s = 0; s < o.n; s++) {
          const next = tidy(() => project(ascentStep(eta, hamiltonianGradientWrtEta(model, x, eta, full.p), o.sigma, o.norm), x, o.eps, o.norm));
          eta.dispose();
          eta = keep(next);
        }
        if (mode !== 'backprop') {
          const g0 = tidy(() => hamiltonianGradientWrtFirstLayer(model, x, eta, full.p));
          sums.add(theta0, g0);
        }
        full.p.dispose();
      }
      firstOpt!.step(sums.get(theta0));
      restOpt!.step(sums.get(theta));
      sums.dispose();
      const adversary = keep(tidy(() => perturbed(x, eta)));
      eta.dispose();
      return { ...out!, adversary };
    },
    setLearningRate(lr: number) {
      firstOpt!.lr = lr / o.m;
      restOpt!.lr = lr / o.m;
    },
    optimizers: () => new Map([['first_layer', firstOpt!], ['rest', restOpt!]]),
    dispose() {
      firstOpt?.dispose();
      restOpt?.dispose();
    },
  };
}
