// Free adversarial training, Free-m (Shafahi et al. 2019; YOPO-SPEC "Free-m"): δ starts at zero once and
// persists across batches. Each batch is replayed m times; each replay is one forward/backward at
// clip(x + δ, 0, 1) whose weight gradient is applied at once and whose input gradient updates
// δ ← Π(δ + ε·sign(∇δ L)). Run epochs/m epochs to match the passes of other methods.

import { type Random, Tape, type Tensor, keep, softmaxCrossEntropy, tensor, tidy, zeros } from '../../engine/index.js';
import type { Classifier } from '../../nn/index.js';
import { SGD } from '../../nn/sgd.js';
import type { Hyper, Method, StepOutput } from '../method.js';
import { perturbed, project, signStep } from '../perturbation.js';

export function free(o: { m: number; eps: number }): Method {
  let opt: SGD | null = null;
  let delta: Tensor | null = null;
  return {
    name: `free-${o.m}`,
    passesPerBatch: o.m,
    epochDivisor: o.m,
    init(model: Classifier, h: Hyper) {
      opt = new SGD(model.parameters(), h);
    },
    step(model: Classifier, x: Tensor, y: Tensor, _rng: Random): StepOutput {
      model.train();
      // A smaller last batch starts its own δ (the published code keeps a fixed batch size).
      if (!delta || delta.shape[0] !== x.shape[0]) {
        delta?.dispose();
        delta = keep(zeros(x.shape));
      }
      let out: StepOutput | null = null;
      for (let replay = 0; replay < o.m; replay++) {
        out?.loss.dispose();
        out?.logits.dispose();
        out?.adversary?.dispose();
        const d = delta;
        out = tidy(() => {
          const tape = new Tape();
          let logits!: Tensor;
          const loss = tape.record(() => softmaxCrossEntropy((logits = model.forward(perturbed(x, d))), y));
          const grads = tape.gradient(loss, [...opt!.params, d]);
          const gDelta = grads.pop()!;
          opt!.step(grads);
          const adversary = perturbed(x, d);
          d.assign(project(signStep(d, gDelta, o.eps), x, o.eps));
          return { loss, logits, adversary };
        });
      }
      return out!;
    },
    setLearningRate(lr: number) {
      opt!.lr = lr;
    },
    optimizers: () => new Map([['all', opt!]]),
    persistentState: (): Map<string, Tensor> => (delta ? new Map([['delta', delta]]) : new Map()),
    restoreState(state) {
      const saved = state.get('delta');
      if (!saved) return;
      delta?.dispose();
      delta = keep(tensor(saved.data, saved.shape));
    },
    dispose() {
      opt?.dispose();
      delta?.dispose();
    },
  };
}
