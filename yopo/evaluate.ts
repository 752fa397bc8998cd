// Clean and robust accuracy of a model (eval mode throughout, as YOPO-SPEC "Evaluation" requires).
// A sample counts as robust only if every restart of the attack fails on it.

import { Random, type Tensor, argmax, cast, eq, minimum, sum, tensor, tidy } from '../engine/index.js';
import type { Classifier } from '../nn/index.js';
import { fgsmAttack, pgdAttack } from './attacks.js';

export type AttackSpec =
  | { kind: 'none' }
  | { kind: 'fgsm'; eps: number }
  | { kind: 'pgd'; eps: number; alpha: number; steps: number; restarts?: number }
  | { kind: 'cw'; eps: number; alpha: number; steps: number; restarts?: number };

/** 'pgd-20', 'cw-30', 'fgsm' with the threat model's ε and step size. */
export function parseAttack(spec: string, eps: number, alpha: number, restarts = 1): AttackSpec {
  if (spec === 'none') return { kind: 'none' };
  // A zero-strength attack would report robust accuracy = clean accuracy: refuse it rather than mislead.
  if (!(eps > 0) && /^(fgsm|pgd-\d+|cw-\d+)$/.test(spec)) throw new Error(`attack '${spec}' with ε = ${eps} changes no image; use a positive ε, or 'none' for clean accuracy only`);
  if (spec === 'fgsm') return { kind: 'fgsm', eps };
  const m = /^(pgd|cw)-(\d+)$/.exec(spec);
  if (!m) throw new Error(`unknown attack '${spec}'; expected fgsm, pgd-K or cw-K (e.g. pgd-20, cw-30)`);
  if (Number(m[2]) < 1) throw new Error(`attack '${spec}' takes no step; use at least ${m[1]}-1, or 'none' for clean accuracy only`);
  if (!(alpha > 0)) throw new Error(`attack '${spec}' with step size ${alpha} never moves; use a positive step`);
  return { kind: m[1] as 'pgd' | 'cw', eps, alpha, steps: Number(m[2]), restarts };
}

export function attackName(a: AttackSpec): string {
  if (a.kind === 'none') return 'none';
  if (a.kind === 'fgsm') return 'fgsm';
  return `${a.kind}-${a.steps}${(a.restarts ?? 1) > 1 ? `x${a.restarts}` : ''}`;
}

export interface EvalData {
  images: Float32Array;
  labels: Int32Array;
  count: number;
  shape: readonly [number, number, number];
}

export interface EvalResult {
  clean_accuracy: number;
  robust_accuracy: number;
  attack: string;
  eps: number;
  n: number;
}

export interface EvaluateOptions {
  batchSize?: number;
  limit?: number;
  seed?: number;
  onBatch?: (done: number, total: number) => void;
}

/** Per-sample correctness (float 0/1) of the model on inputs x. */
function correctMask(model: Classifier, x: Tensor, y: Tensor): Tensor {
  return tidy(() => eq(cast(argmax(model.forward(x), 1), 'float32'), cast(y, 'float32')));
}

async function countOnes(mask: Tensor): Promise<number> {
  const total = tidy(() => sum(mask));
  const v = await total.item();
  total.dispose();
  return Math.round(v);
}

export async function evaluate(model: Classifier, data: EvalData, attack: AttackSpec, options: EvaluateOptions = {}): Promise<EvalResult> {
  const n = Math.min(options.limit ?? data.count, data.count);
  const batchSize = options.batchSize ?? 200;
  const rng = new Random(options.seed ?? 0);
  const per = data.shape[0] * data.shape[1] * data.shape[2];
  const wasTraining = model.training;
  model.eval();
  let clean = 0;
  let robust = 0;
  try {
    for (let start = 0; start < n; start += batchSize) {
      const b = Math.min(batchSize, n - start);
      const labels = data.labels.slice(start, start + b);
      const x = tensor(data.images.subarray(start * per, (start + b) * per), [b, ...data.shape]);
      const y = tensor(labels, [b], 'int32');
      const okClean = correctMask(model, x, y);
      clean += await countOnes(okClean);
      if (attack.kind === 'none') {
        robust += await countOnes(okClean);
      } else {
        // Robust = correct on the clean input and under every restart.
        let okRobust = okClean;
        const restarts = attack.kind === 'fgsm' ? 1 : attack.restarts ?? 1;
        for (let r = 0; r < restarts; r++) {
          const adv = attack.kind === 'fgsm'
            ? fgsmAttack(model, x, y, attack.eps)
            : pgdAttack(model, x, y, labels, { eps: attack.eps, alpha: attack.alpha, steps: attack.steps, randomStart: true, loss: attack.kind === 'cw' ? 'cw' : 'ce' }, rng);
          const both = tidy(() => minimum(okRobust, correctMask(model, adv, y)));
          if (okRobust !== okClean) okRobust.dispose();
          okRobust = both;
          adv.dispose();
        }
        robust += await countOnes(okRobust);
        if (okRobust !== okClean) okRobust.dispose();
      }
      okClean.dispose();
      x.dispose();
      y.dispose();
      options.onBatch?.(start + b, n);
    }
  } finally {
    model.train(wasTraining);
  }
  return { clean_accuracy: clean / n, robust_accuracy: robust / n, attack: attackName(attack), eps: attack.kind === 'none' ? 0 : attack.eps, n };
}
