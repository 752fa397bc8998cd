// Reference batch-norm pieces over NCHW: per-channel statistics and the normalising affine map.

import type { FloatArray } from './storage.js';

/** Per-channel mean and biased variance of NCHW x ([batch, channels, spatial]) into `mean` and `variance` ([channels]). */
export function batchNormStats(
  x: FloatArray,
  batch: number,
  channels: number,
  spatial: number,
  mean: FloatArray,
  variance: FloatArray,
): void {
  const count = batch * spatial;
  for (let c = 0; c < channels; c++) {
    let total = 0;
    for (let n = 0; n < batch; n++) for (let i = 0; i < spatial; i++) total += x[(n * channels + c) * spatial + i];
    const mu = total / count;
    let sq = 0;
    for (let n = 0; n < batch; n++)
      for (let i = 0; i < spatial; i++) {
        const d = x[(n * channels + c) * spatial + i] - mu;
        sq += d * d;
      }
    mean[c] = mu;
    variance[c] = sq / count;
  }
}

/** y = (x − mean)/sqrt(variance + eps)·gamma + beta per channel of NCHW x ([batch, channels, spatial]). */
export function batchNormApply(
  x: FloatArray,
  mean: FloatArray,
  variance: FloatArray,
  gamma: FloatArray,
  beta: FloatArray,
  batch: number,
  channels: number,
  spatial: number,
  eps: number,
  y: FloatArray,
): void {
  for (let n = 0; n < batch; n++)
    for (let c = 0; c < channels; c++) {
      const scale = gamma[c] / Math.sqrt(variance[c] + eps);
      for (let i = 0; i < spatial; i++) {
        const idx = (n * channels + c) * spatial + i;
        y[idx] = (x[idx] - mean[c]) * scale + beta[c];
      }
    }
}
