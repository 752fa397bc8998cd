// Softmax family over the last axis, and the fused mean softmax cross-entropy with integer labels.

import { shapeString } from '../shape.js';
import { recordOp } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { mul, sub } from './binary.js';
import { exp } from './elementwise.js';
import { sum } from './reduce.js';
import { backendOf, requireFloat, wrap } from './util.js';

function rowsCols(x: Tensor, op: string): [number, number] {
  if (x.rank < 1) throw new Error(`${op}: expected at least a 1-D tensor, got a scalar`);
  const cols = x.shape[x.rank - 1];
  return [x.size / cols, cols];
}

/** log softmax over the last axis of x ([rows, classes]). */
export function logSoftmax(x: Tensor): Tensor {
  requireFloat('logSoftmax', x);
  const [rows, cols] = rowsCols(x, 'logSoftmax');
  const backend = backendOf('logSoftmax', x);
  const out = wrap(backend, backend.logSoftmax(x.storage, rows, cols), x.shape);
  // d/dx log softmax: dy − softmax·Σdy.
  recordOp(out, [x], (dy) => [sub(dy, mul(exp(out), sum(dy, -1, true)))]);
  return out;
}

/** softmax over the last axis of x ([rows, classes]): rows of probabilities summing to 1. */
export function softmax(x: Tensor): Tensor {
  return exp(logSoftmax(x));
}

/** Mean over the batch of −log softmax(logits)[label]. logits [B, C] float32, labels [B] int32. */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor): Tensor {
  requireFloat('softmaxCrossEntropy', logits);
  if (logits.rank !== 2)
    throw new Error(`softmaxCrossEntropy: logits must be [batch, classes], got ${shapeString(logits.shape)}`);
  if (labels.dtype !== 'int32') throw new Error(`softmaxCrossEntropy: labels must be int32, got ${labels.dtype}`);
  const [rows, cols] = logits.shape;
  if (labels.rank !== 1 || labels.shape[0] !== rows) {
    throw new Error(
      `softmaxCrossEntropy: labels of shape ${shapeString(labels.shape)} do not match logits of shape ${shapeString(logits.shape)} (expected [${rows}])`,
    );
  }
  const backend = backendOf('softmaxCrossEntropy', logits, labels);
  const out = wrap(backend, backend.softmaxCrossEntropy(logits.storage, labels.storage, rows, cols), []);
  recordOp(out, [logits, labels], (dy) => [
    wrap(
      backend,
      backend.softmaxCrossEntropyGrad(logits.storage, labels.storage, dy.storage, rows, cols),
      logits.shape,
    ),
    null,
  ]);
  return out;
}
