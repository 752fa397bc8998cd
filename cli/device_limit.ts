// A batch too large for the WebGPU device, as one line that says which batch would fit.

import { DeviceLimitError } from '../kernels/webgpu/gpu.js';

/**
 * The error with the largest batch that fits the tensor that was refused: activations grow in
 * proportion to the batch, so batch × limit / bytes images fit it (a larger tensor later in the
 * network could need a smaller batch still, hence "at most").
 */
export function explainDeviceLimit(error: unknown, batchSize: number, option = '--batch-size'): unknown {
  if (!(error instanceof DeviceLimitError)) return error;
  const fits = Math.floor((batchSize * error.limit) / error.bytes);
  const advice =
    fits >= 1
      ? `use ${option} ${fits} or less (batch ${batchSize} does not fit)`
      : `even one image does not fit (batch ${batchSize})`;
  return new Error(`${error.message}; ${advice}`);
}
