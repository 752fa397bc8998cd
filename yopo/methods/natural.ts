// Natural (standard) training: one forward and backward on the clean batch.

import { type Random, Tape, type Tensor, softmaxCrossEntropy, tidy } from '../../engine/index.js';
import type { Classifier } from '../../nn/index.js';
import { SGD } from '../../nn/sgd.js';
import type { Hyper, Method, StepOutput } from '../method.js';

/** Natural (standard) training: one forward and backward on the clean batch per step. */
export function natural(): Method {
  let opt: SGD | null = null;
  return {
    name: 'natural',
    passesPerBatch: 1,
    epochDivisor: 1,
    init(model: Classifier, h: Hyper) {
      opt = new SGD(model.parameters(), h);
    },
    step(model: Classifier, x: Tensor, y: Tensor, _rng: Random): StepOutput {
      model.train();
      return tidy(() => {
        const tape = new Tape();
        let logits!: Tensor;
        const loss = tape.record(() => softmaxCrossEntropy((logits = model.forward(x)), y));
        opt!.step(tape.gradient(loss, opt!.params));
        return { loss, logits };
      });
    },
    setLearningRate(lr: number) {
      opt!.lr = lr;
    },
    optimizers: () => new Map([['all', opt!]]),
    dispose: () => opt?.dispose(),
  };
}
