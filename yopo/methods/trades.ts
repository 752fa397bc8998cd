// TRADES (Zhang et al. 2019; docs/algorithm.md, "TRADES"): the adversary maximises the summed KL between the
// clean and adversarial softmaxes, from x' = x + 0.001·N(0, 1), K sign steps in eval mode:
//   x' ← Π(x' + α·sign(∇x' KL(f(x) ‖ f(x'))))
// then, in train mode, L = CE(f(x), y) + β·KL_sum(f(x) ‖ f(x'))/B with gradients through both branches.

import {
  type Random,
  Tape,
  type Tensor,
  add,
  keep,
  logSoftmax,
  noGrad,
  randn,
  scale,
  softmaxCrossEntropy,
  tidy,
} from '../../engine/index.js';
import type { Classifier } from '../../nn/index.js';
import { SGD } from '../../nn/sgd.js';
import { klSum, klSumToTarget } from '../losses.js';
import type { Hyper, Method, StepOutput } from '../method.js';
import { perturbed, project, signStep } from '../perturbation.js';

/** Options of TRADES-K: K sign steps of size α within radius eps (input units); β weights the KL term (default 1). */
export interface TradesOptions {
  k: number;
  eps: number;
  alpha: number;
  beta?: number;
}

/** The TRADES training update at a given adversarial input (shared with TRADES-YOPO). */
export function tradesUpdate(
  model: Classifier,
  opt: SGD,
  x: Tensor,
  xAdv: Tensor,
  y: Tensor,
  beta: number,
): StepOutput {
  model.train();
  return tidy(() => {
    const tape = new Tape();
    let logits!: Tensor;
    const loss = tape.record(() => {
      logits = model.forward(x);
      const kl = klSum(logits, model.forward(xAdv));
      return add(softmaxCrossEntropy(logits, y), scale(kl, beta / x.shape[0]));
    });
    opt.step(tape.gradient(loss, opt.params));
    return { loss, logits };
  });
}

/** Initial TRADES perturbation: 0.001·N(0, 1), from the host generator. */
export function tradesStart(x: Tensor, rng: Random): Tensor {
  return randn(x.shape, rng, 0, 0.001);
}

/** TRADES-K training: K sign steps maximising the KL between clean and adversarial softmaxes, then one update on CE + β·KL. */
export function trades(o: TradesOptions): Method {
  // β = 1 as in the paper's TRADES-10 baseline and TRADES-YOPO (the TRADES paper's own is 6).
  const beta = o.beta ?? 1;
  let opt: SGD | null = null;
  return {
    name: `trades-${o.k}`,
    passesPerBatch: o.k + 2,
    epochDivisor: 1,
    init(model: Classifier, h: Hyper) {
      opt = new SGD(model.parameters(), h);
    },
    step(model: Classifier, x: Tensor, y: Tensor, rng: Random): StepOutput {
      model.eval();
      // The clean soft labels do not depend on x' and eval mode is deterministic: computed once.
      const logP = keep(noGrad(() => tidy(() => logSoftmax(model.forward(x)))));
      let eta = keep(tradesStart(x, rng));
      for (let s = 0; s < o.k; s++) {
        const next = tidy(() => {
          const tape = new Tape();
          const kl = tape.record(() => klSumToTarget(logP, model.forward(add(x, eta))));
          return project(signStep(eta, tape.gradient(kl, [eta])[0], o.alpha), x, o.eps);
        });
        eta.dispose();
        eta = keep(next);
      }
      logP.dispose();
      const xAdv = keep(tidy(() => perturbed(x, eta)));
      eta.dispose();
      return { ...tradesUpdate(model, opt!, x, xAdv, y, beta), adversary: xAdv };
    },
    setLearningRate(lr: number) {
      opt!.lr = lr;
    },
    optimizers: () => new Map([['all', opt!]]),
    dispose: () => opt?.dispose(),
  };
}
