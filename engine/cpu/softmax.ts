// Reference log-softmax and softmax cross-entropy over rows, numerically stable (max subtracted).

import { checkLabels } from '../backend.js';
import type { FloatArray } from './storage.js';

function rowLogSumExp(x: FloatArray, offset: number, cols: number): number {
  let max = -Infinity;
  for (let j = 0; j < cols; j++) max = Math.max(max, x[offset + j]);
  let total = 0;
  for (let j = 0; j < cols; j++) total += Math.exp(x[offset + j] - max);
  return max + Math.log(total);
}

/** Row-wise log softmax of a [rows, cols] matrix into out. */
export function logSoftmax(x: FloatArray, rows: number, cols: number, out: FloatArray): void {
  for (let r = 0; r < rows; r++) {
    const lse = rowLogSumExp(x, r * cols, cols);
    for (let j = 0; j < cols; j++) out[r * cols + j] = x[r * cols + j] - lse;
  }
}

/** Mean over rows of −log softmax(logits)[label] (labels in [0, cols)). */
export function softmaxCrossEntropy(logits: FloatArray, labels: Int32Array, rows: number, cols: number): number {
  checkLabels(labels.subarray(0, rows), cols);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    total += rowLogSumExp(logits, r * cols, cols) - logits[r * cols + labels[r]];
  }
  return total / rows;
}

/** d(mean cross-entropy)/d logits · dy = (softmax − onehot)·dy/rows into out [rows, cols]. */
export function softmaxCrossEntropyGrad(
  logits: FloatArray,
  labels: Int32Array,
  dy: number,
  rows: number,
  cols: number,
  out: FloatArray,
): void {
  checkLabels(labels.subarray(0, rows), cols);
  for (let r = 0; r < rows; r++) {
    const lse = rowLogSumExp(logits, r * cols, cols);
    for (let j = 0; j < cols; j++) {
      const p = Math.exp(logits[r * cols + j] - lse);
      out[r * cols + j] = ((p - (j === labels[r] ? 1 : 0)) * dy) / rows;
    }
  }
}
