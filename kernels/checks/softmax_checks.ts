// The softmax family against the CPU reference: logSoftmax over the last axis, and the fused softmax
// cross-entropy forward and its gradient with respect to the logits (through the tape). Checks that
// run in Node and in Chromium alike.

import { Tape, logSoftmax, softmaxCrossEntropy } from '../../engine/index.js';
import type { OpCheck } from '../../engine/reference/index.js';
import { type Check, opCheck } from './check.js';

export function logSoftmaxCheck(shape: number[]): OpCheck {
  return {
    name: `logSoftmax [${shape}]`,
    inputs: [{ shape, lo: -3, hi: 3 }],
    run: ([x]) => logSoftmax(x),
    rtol: 1e-5,
    atol: 1e-5,
  };
}

/** Mean softmax cross-entropy of [rows, classes] logits and int32 labels, and d loss / d logits. */
export function softmaxCrossEntropyCheck(rows: number, classes: number): OpCheck {
  return {
    name: `softmaxCrossEntropy [${rows}, ${classes}] (loss, gradient)`,
    inputs: [
      { shape: [rows, classes], lo: -3, hi: 3 },
      { shape: [rows], dtype: 'int32', lo: 0, hi: classes },
    ],
    run: ([logits, labels]) => {
      const tape = new Tape();
      const loss = tape.record(() => softmaxCrossEntropy(logits, labels));
      return [loss, ...tape.gradient(loss, [logits])];
    },
    rtol: 1e-5,
    atol: 1e-6,
  };
}

export const checks: Check[] = [
  opCheck(logSoftmaxCheck([7, 10]), 41),
  opCheck(logSoftmaxCheck([3, 5, 11]), 42),
  opCheck(softmaxCrossEntropyCheck(7, 10), 43),
  opCheck(softmaxCrossEntropyCheck(33, 10), 44),
];
