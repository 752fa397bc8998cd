// TRADES-YOPO-m-n (docs/algorithm.md, "TRADES-YOPO-m-n"): the TRADES adversary found by YOPO's loop,
// in eval mode: clean soft labels fixed once per batch; m full passes of the summed KL give
// p = ∂KL/∂z1 (no parameter gradients); after each, n first-layer sign steps (σ) against p; η starts
// at 0.001·N(0, 1). Then one ordinary TRADES update (β = 1 in the published code).

import { type Random, Tape, type Tensor, add, keep, logSoftmax, noGrad, tidy } from '../../engine/index.js';
import type { Classifier } from '../../nn/index.js';
import { SGD } from '../../nn/sgd.js';
import { type InnerStepPath, firstLayerAdversary } from '../first_layer_adversary.js';
import { klSumToTarget } from '../losses.js';
import type { Hyper, Method, StepOutput } from '../method.js';
import { perturbed } from '../perturbation.js';
import { tradesStart, tradesUpdate } from './trades.js';

/** Options of TRADES-YOPO-m-n: m full passes, n first-layer steps of size σ after each, radius eps (input units); β defaults to 1. */
export interface TradesYopoOptions {
  m: number;
  n: number;
  eps: number;
  sigma: number;
  beta?: number;
  /** The inner step's path: fused where the first layer allows ('auto', the default) or always op by op ('generic'). */
  innerStep?: InnerStepPath;
}

/** TRADES-YOPO-m-n training: the TRADES adversary found by YOPO's first-layer loop, then one TRADES update. */
export function tradesYopo(o: TradesYopoOptions): Method {
  const beta = o.beta ?? 1;
  let opt: SGD | null = null;
  return {
    name: `trades-yopo-${o.m}-${o.n}`,
    passesPerBatch: o.m + 2,
    epochDivisor: 1,
    init(model: Classifier, h: Hyper) {
      opt = new SGD(model.parameters(), h);
    },
    step(model: Classifier, x: Tensor, y: Tensor, rng: Random): StepOutput {
      model.eval();
      const logP = keep(noGrad(() => tidy(() => logSoftmax(model.forward(x)))));
      // p = ∂KL/∂z1 with the clean soft labels fixed; no parameter gradients.
      const fullPass = (at: Tensor) =>
        tidy(() => {
          const tape = new Tape();
          let z1!: Tensor;
          const kl = tape.record(() => klSumToTarget(logP, model.rest((z1 = model.firstLayer(add(x, at))))));
          return tape.gradient(kl, [z1])[0];
        });
      const eta = firstLayerAdversary(model, x, keep(tradesStart(x, rng)), o, fullPass);
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
