// Per-example attack losses on logits z [B, C] (AutoAttack, Croce & Hein 2020), each a [B] tensor that
// the attack ascends. With π the classes sorted by decreasing logit:
//   CE:            −log softmax(z)_y
//   DLR:           −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3)
//   targeted DLR:  −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2)
// The sorted logits are picked with one-hot masks of successive argmaxes, so the gradient flows to the
// same entries as PyTorch's sort.

import {
  type Tensor,
  add,
  addScalar,
  argmax,
  cast,
  div,
  eq,
  logSoftmax,
  max,
  mul,
  neg,
  reshape,
  scale,
  sub,
  sum,
  tensor,
} from '../../engine/index.js';

/** A large offset that removes a class from a max without touching the other logits' gradients. */
const REMOVED = 1e9;

/** One-hot rows of int labels, built on the host. */
export function oneHotRows(labels: Int32Array, classes: number): Tensor {
  const out = new Float32Array(labels.length * classes);
  labels.forEach((l, i) => (out[i * classes + l] = 1));
  return tensor(out, [labels.length, classes]);
}

/** One-hot rows of each row's argmax (computed on the device). */
function argmaxMask(z: Tensor): Tensor {
  const classes = z.shape[1];
  const column = reshape(cast(argmax(z, 1), 'float32'), [z.shape[0], 1]);
  return eq(
    column,
    tensor(
      Float32Array.from({ length: classes }, (_, i) => i),
      [1, classes],
    ),
  );
}

/** [z_π1, ..., z_πk]: the k largest logits of each row, each a [B] tensor. */
export function largestLogits(z: Tensor, k: number): Tensor[] {
  const out: Tensor[] = [];
  let rest = z;
  for (let i = 0; i < k; i++) {
    const mask = argmaxMask(rest);
    out.push(sum(mul(rest, mask), 1));
    rest = sub(rest, scale(mask, REMOVED));
  }
  return out;
}

/** Σ_i z_i·onehot_i per row: the logit of the labelled class. */
function pick(z: Tensor, onehot: Tensor): Tensor {
  return sum(mul(z, onehot), 1);
}

/** −log softmax(z)_y per example. */
export function crossEntropyPerExample(z: Tensor, onehotY: Tensor): Tensor {
  return neg(sum(mul(logSoftmax(z), onehotY), 1));
}

/** −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e-12) per example (needs at least 3 classes). */
export function dlrLoss(z: Tensor, onehotY: Tensor): Tensor {
  const [first, , third] = largestLogits(z, 3);
  const maxOther = max(sub(z, scale(onehotY, REMOVED)), 1);
  return div(sub(maxOther, pick(z, onehotY)), addScalar(sub(first, third), 1e-12));
}

/** −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12) per example (needs at least 4 classes). */
export function targetedDlrLoss(z: Tensor, onehotY: Tensor, onehotTarget: Tensor): Tensor {
  const [first, , third, fourth] = largestLogits(z, 4);
  const scaleBy = addScalar(sub(first, scale(add(third, fourth), 0.5)), 1e-12);
  return div(sub(pick(z, onehotTarget), pick(z, onehotY)), scaleBy);
}

/** Host version of the margin z_y − max_{i≠y} z_i for rows of logits (Square's loss; ≤ 0 means misclassified). */
export function marginOf(logits: Float32Array, labels: Int32Array, classes: number): Float32Array {
  const out = new Float32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    let other = -Infinity;
    for (let c = 0; c < classes; c++) if (c !== labels[i]) other = Math.max(other, logits[i * classes + c]);
    out[i] = logits[i * classes + labels[i]] - other;
  }
  return out;
}
