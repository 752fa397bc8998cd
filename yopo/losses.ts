// Losses used by the adversaries and TRADES, built from engine ops.

import { type Tensor, exp, logSoftmax, max, mul, sub, sum, tensor, scale } from '../engine/index.js';

/** Σ over the batch of KL(P‖Q) with P = softmax(clean logits), Q = softmax(adversarial logits):
 *  Σ P·(log P − log Q). TRADES divides it by the batch size in the training loss. */
export function klSum(cleanLogits: Tensor, advLogits: Tensor): Tensor {
  const logP = logSoftmax(cleanLogits);
  return sum(mul(exp(logP), sub(logP, logSoftmax(advLogits))));
}

/** KL with fixed clean log-probabilities (the adversary's objective: soft labels held constant). */
export function klSumToTarget(logP: Tensor, advLogits: Tensor): Tensor {
  return sum(mul(exp(logP), sub(logP, logSoftmax(advLogits))));
}

/** One-hot rows for int labels, built on the host (labels are known there). */
export function oneHot(labels: Int32Array, classes: number): Tensor {
  const out = new Float32Array(labels.length * classes);
  labels.forEach((l, i) => (out[i * classes + l] = 1));
  return tensor(out, [labels.length, classes]);
}

/** Carlini-Wagner margin summed over the batch: Σ (max_{i≠y} z_i − z_y). The attack ascends it. */
export function cwMarginSum(logits: Tensor, onehot: Tensor): Tensor {
  const trueLogit = sum(mul(logits, onehot), 1);
  const otherMax = max(sub(logits, scale(onehot, 1e4)), 1);
  return sum(sub(otherMax, trueLogit));
}
