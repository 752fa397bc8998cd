// Batch normalisation over NCHW, per channel. Training mode normalises with the batch's statistics
// (and returns them, so the layer can update its running averages); eval mode uses given statistics.

import { shapeString } from '../shape.js';
import { recordOp } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { mul, sub } from './binary.js';
import { addScalar, scale, sqrt, reciprocal } from './elementwise.js';
import { sum } from './reduce.js';
import { reshape } from './shape_ops.js';
import { backendOf, requireFloat, wrap } from './util.js';

function dims(x: Tensor, gamma: Tensor, beta: Tensor, op: string): [number, number, number] {
  requireFloat(op, x, gamma, beta);
  if (x.rank !== 4) throw new Error(`${op}: input must be NCHW (4-D), got ${shapeString(x.shape)}`);
  const [n, c, h, w] = x.shape;
  for (const [name, t] of [
    ['gamma', gamma],
    ['beta', beta],
  ] as const) {
    if (t.rank !== 1 || t.shape[0] !== c)
      throw new Error(
        `${op}: ${name} of shape ${shapeString(t.shape)} does not match ${c} channels of input ${shapeString(x.shape)}`,
      );
  }
  return [n, c, h * w];
}

/** Returns y and the batch mean and biased variance ([C] each, not differentiated). */
export function batchNormTrain(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  eps = 1e-5,
): { y: Tensor; mean: Tensor; variance: Tensor } {
  const [n, c, spatial] = dims(x, gamma, beta, 'batchNormTrain');
  const backend = backendOf('batchNormTrain', x, gamma, beta);
  const [meanS, varS] = backend.batchNormStats(x.storage, n, c, spatial);
  const mean = wrap(backend, meanS, [c]);
  const variance = wrap(backend, varS, [c]);
  const y = wrap(
    backend,
    backend.batchNormApply(x.storage, meanS, varS, gamma.storage, beta.storage, n, c, spatial, eps),
    x.shape,
  );
  // With x̂ = (x − μ)·σ⁻¹ and sums over N,H,W per channel:
  // dβ = Σdy, dγ = Σdy·x̂, dx = γσ⁻¹/M · (M·dy − Σdy − x̂·Σdy·x̂).
  recordOp(y, [x, gamma, beta], (dy) => {
    const perChannel = [1, c, 1, 1];
    const invStd = reshape(reciprocal(sqrt(addScalar(variance, eps))), perChannel);
    const xHat = mul(sub(x, reshape(mean, perChannel)), invStd);
    const dBeta = sum(dy, [0, 2, 3]);
    const dGamma = sum(mul(dy, xHat), [0, 2, 3]);
    const m = n * spatial;
    const centred = sub(sub(scale(dy, m), reshape(dBeta, perChannel)), mul(xHat, reshape(dGamma, perChannel)));
    const dx = mul(centred, scale(mul(reshape(gamma, perChannel), invStd), 1 / m));
    return [dx, dGamma, dBeta];
  });
  return { y, mean, variance };
}

/** Normalises with fixed statistics (eval mode): an affine map per channel. */
export function batchNormEval(
  x: Tensor,
  mean: Tensor,
  variance: Tensor,
  gamma: Tensor,
  beta: Tensor,
  eps = 1e-5,
): Tensor {
  const [n, c, spatial] = dims(x, gamma, beta, 'batchNormEval');
  const backend = backendOf('batchNormEval', x, mean, variance, gamma, beta);
  const y = wrap(
    backend,
    backend.batchNormApply(x.storage, mean.storage, variance.storage, gamma.storage, beta.storage, n, c, spatial, eps),
    x.shape,
  );
  recordOp(y, [x, gamma, beta], (dy) => {
    const perChannel = [1, c, 1, 1];
    const invStd = reshape(reciprocal(sqrt(addScalar(variance, eps))), perChannel);
    const xHat = mul(sub(x, reshape(mean, perChannel)), invStd);
    return [mul(dy, mul(reshape(gamma, perChannel), invStd)), sum(mul(dy, xHat), [0, 2, 3]), sum(dy, [0, 2, 3])];
  });
  return y;
}
