// Free adversarial training, Free-m (Shafahi et al. 2019; docs/algorithm.md, "Free-m"): δ starts at zero once and
// persists across batches. Each batch is replayed m times; each replay is one forward/backward at
// clip(x + δ, 0, 1) whose weight gradient is applied at once and whose input gradient updates
// δ ← Π(δ + ε·sign(∇δ L)). Run epochs/m epochs to match the passes of other methods.
//
// δ has the shape of the first batch. A smaller batch (the last of an epoch) uses and updates only
// δ's leading rows and leaves the others as they were, as the published code does with
// global_noise_data[0:input.size(0)]: δ is never reset. (A larger batch grows δ with zero rows.)

import {
  type Random,
  Tape,
  type Tensor,
  add,
  keep,
  matmul,
  mul,
  reshape,
  softmaxCrossEntropy,
  tensor,
  tidy,
  zeros,
} from '../../engine/index.js';
import type { Classifier } from '../../nn/index.js';
import { SGD } from '../../nn/sgd.js';
import type { Hyper, Method, StepOutput } from '../method.js';
import { perturbed, project, signStep } from '../perturbation.js';

/** [rows, total] with ones on the diagonal: S·δ picks δ's first `rows` rows, Sᵀ·r puts r back there.
 *  (The engine has no slice op; products with 0 and 1 are exact, so this copies rows bit for bit.) */
function rowSelector(rows: number, total: number): Tensor {
  const s = new Float32Array(rows * total);
  for (let i = 0; i < rows; i++) s[i * total + i] = 1;
  return tensor(s, [rows, total]);
}

/** δ's first `rows` rows, shaped like one batch of that size. */
function leadingRows(delta: Tensor, rows: number): Tensor {
  const [total, ...image] = delta.shape;
  return reshape(matmul(rowSelector(rows, total), reshape(delta, [total, -1])), [rows, ...image]);
}

/** δ with its first rows replaced by `rows` (the rest unchanged). */
function withLeadingRows(delta: Tensor, rows: Tensor): Tensor {
  const [total, ...image] = delta.shape;
  const n = rows.shape[0];
  const keepMask = tensor(
    Float32Array.from({ length: total }, (_, i) => (i < n ? 0 : 1)),
    [total, 1],
  );
  const placed = matmul(rowSelector(n, total), reshape(rows, [n, -1]), { transA: true });
  return reshape(add(placed, mul(reshape(delta, [total, -1]), keepMask)), [total, ...image]);
}

/** Free-m adversarial training: each batch replayed m times, with a persistent perturbation δ updated by ε-sized sign steps (ε in input units); run epochs/m epochs. */
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
      const b = x.shape[0];
      if (!delta) delta = keep(zeros(x.shape));
      if (delta.shape[0] < b) {
        const grown = keep(tidy(() => withLeadingRows(zeros(x.shape), delta!)));
        delta.dispose();
        delta = grown;
      }
      const partial = delta.shape[0] > b;
      let out: StepOutput | null = null;
      for (let replay = 0; replay < o.m; replay++) {
        out?.loss.dispose();
        out?.logits.dispose();
        out?.adversary?.dispose();
        const whole = delta;
        out = tidy(() => {
          const d = partial ? leadingRows(whole, b) : whole;
          const tape = new Tape();
          let logits!: Tensor;
          const loss = tape.record(() => softmaxCrossEntropy((logits = model.forward(perturbed(x, d))), y));
          const grads = tape.gradient(loss, [...opt!.params, d]);
          const gDelta = grads.pop()!;
          opt!.step(grads);
          const adversary = perturbed(x, d);
          const next = project(signStep(d, gDelta, o.eps), x, o.eps);
          whole.assign(partial ? withLeadingRows(whole, next) : next);
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
