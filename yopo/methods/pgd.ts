// PGD-r adversarial training (Madry et al.; docs/algorithm.md, "PGD-r"): the adversary is built in eval mode
// with r sign-gradient steps from a random start, then one SGD step in train mode on
// CE(net(x_adv)) + CE(net(x)) (objective 'adv+clean', the published code) or CE(net(x_adv)) ('adv').

import { type Random, Tape, type Tensor, add, softmaxCrossEntropy, tidy } from '../../engine/index.js';
import type { Classifier } from '../../nn/index.js';
import { SGD } from '../../nn/sgd.js';
import { pgdAttack } from '../attacks/index.js';
import type { Hyper, Method, StepOutput } from '../method.js';
import type { Norm } from '../perturbation.js';

/** Options of PGD-r training: r steps of size α from a random start within radius eps (input units); objective 'adv+clean' (default) or 'adv'; norm L∞ by default. */
export interface PgdTrainingOptions {
  r: number;
  eps: number;
  alpha: number;
  objective?: 'adv+clean' | 'adv';
  norm?: Norm;
}

/** PGD-r adversarial training: an r-step PGD adversary built in eval mode, then one SGD step in train mode on the chosen objective. */
export function pgd(o: PgdTrainingOptions): Method {
  const objective = o.objective ?? 'adv+clean';
  let opt: SGD | null = null;
  return {
    name: `pgd-${o.r}`,
    passesPerBatch: o.r + (objective === 'adv+clean' ? 2 : 1),
    epochDivisor: 1,
    init(model: Classifier, h: Hyper) {
      opt = new SGD(model.parameters(), h);
    },
    step(model: Classifier, x: Tensor, y: Tensor, rng: Random): StepOutput {
      return tidy(() => {
        model.eval();
        const xAdv = pgdAttack(
          model,
          x,
          y,
          null,
          { eps: o.eps, alpha: o.alpha, steps: o.r, randomStart: true, norm: o.norm },
          rng,
        );
        model.train();
        const tape = new Tape();
        let logits!: Tensor;
        const loss = tape.record(() => {
          const adv = softmaxCrossEntropy((logits = model.forward(xAdv)), y);
          return objective === 'adv' ? adv : add(adv, softmaxCrossEntropy(model.forward(x), y));
        });
        opt!.step(tape.gradient(loss, opt!.params));
        return { loss, logits, adversary: xAdv };
      });
    },
    setLearningRate(lr: number) {
      opt!.lr = lr;
    },
    optimizers: () => new Map([['all', opt!]]),
    dispose: () => opt?.dispose(),
  };
}
