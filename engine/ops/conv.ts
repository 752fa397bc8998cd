// 2-D convolution over NCHW with weights [out, in, kh, kw] (PyTorch's layout).

import type { Conv2dShape } from '../backend.js';
import { shapeString } from '../shape.js';
import { isRecording, recordOp } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { passIfPositive } from './binary.js';
import { sum } from './reduce.js';
import { backendOf, requireFloat, wrap } from './util.js';

/** Stride and zero padding of a convolution, in pixels, equal on both axes (defaults 1 and 0); `relu`:
 *  a ReLU after the bias, in the same pass (no pre-activation tensor is written or kept). */
export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  relu?: boolean;
}

/** The full shape record of conv2d(x, w), with errors naming both shapes. */
export function conv2dShape(
  xShape: readonly number[],
  wShape: readonly number[],
  stride: number,
  padding: number,
): Conv2dShape {
  const where = `conv2d: input ${shapeString(xShape)}, weight ${shapeString(wShape)}`;
  if (xShape.length !== 4) throw new Error(`${where}: input must be NCHW (4-D)`);
  if (wShape.length !== 4) throw new Error(`${where}: weight must be [out, in, kh, kw] (4-D)`);
  if (!Number.isInteger(stride) || stride < 1 || !Number.isInteger(padding) || padding < 0)
    throw new Error(`${where}: invalid stride ${stride} or padding ${padding}`);
  const [batch, inChannels, inHeight, inWidth] = xShape;
  const [outChannels, wIn, kernelHeight, kernelWidth] = wShape;
  if (wIn !== inChannels) throw new Error(`${where}: input has ${inChannels} channels, weight expects ${wIn}`);
  const outHeight = Math.floor((inHeight + 2 * padding - kernelHeight) / stride) + 1;
  const outWidth = Math.floor((inWidth + 2 * padding - kernelWidth) / stride) + 1;
  if (outHeight < 1 || outWidth < 1) throw new Error(`${where}: kernel larger than padded input`);
  return {
    batch,
    inChannels,
    inHeight,
    inWidth,
    outChannels,
    outHeight,
    outWidth,
    kernelHeight,
    kernelWidth,
    stride,
    padding,
  };
}

/** NCHW convolution: x [N, C, H, W], w [O, C, kh, kw], bias [O] or null → [N, O, H′, W′] with H′ = floor((H + 2·padding − kh)/stride) + 1,
 *  then relu(·) when options.relu. */
export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, options: Conv2dOptions = {}): Tensor {
  requireFloat('conv2d', x, w);
  const s = conv2dShape(x.shape, w.shape, options.stride ?? 1, options.padding ?? 0);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== s.outChannels))
    throw new Error(`conv2d: bias of shape ${shapeString(bias.shape)} does not match ${s.outChannels} output channels`);
  const backend = bias ? backendOf('conv2d', x, w, bias) : backendOf('conv2d', x, w);
  const relu = options.relu ?? false;
  const out = wrap(backend, backend.conv2d(x.storage, w.storage, bias?.storage ?? null, s, relu), [
    s.batch,
    s.outChannels,
    s.outHeight,
    s.outWidth,
  ]);
  const inputs = bias ? [x, w, bias] : [x, w];
  recordOp(out, inputs, (dy, needed) => {
    // Through the ReLU: relu(z) > 0 exactly where z > 0, so the output is the mask. The kernels apply it
    // as they read dy (no masked copy of dy is written), and the weight gradient's pass sums the bias
    // gradient too.
    const reluMask = relu ? out.storage : null;
    const wantsBias = bias !== null && needed[2];
    const dx = needed[0]
      ? wrap(backend, backend.conv2dBackwardInput(dy.storage, w.storage, s, reluMask), x.shape)
      : null;
    if (!needed[1]) {
      const db = wantsBias ? sum(relu ? passIfPositive(out, dy) : dy, [0, 2, 3]) : null;
      return [dx, null, ...(bias ? [db] : [])];
    }
    const grads = backend.conv2dBackwardFilter(x.storage, dy.storage, s, { bias: wantsBias, reluMask });
    const db = grads.bias ? wrap(backend, grads.bias, [s.outChannels]) : null;
    return [dx, wrap(backend, grads.weight, w.shape), ...(bias ? [db] : [])];
  });
  return out;
}

/** Wᵀdy: the VJP of conv2d(x, w, ·, options) w.r.t. x, for x of shape `xShape` (it does not depend on x's
 *  values). Not differentiable itself; YOPO computes a linear first layer's Wᵀp with it. */
export function conv2dInputGradient(
  dy: Tensor,
  w: Tensor,
  xShape: readonly number[],
  options: Pick<Conv2dOptions, 'stride' | 'padding'> = {},
): Tensor {
  requireFloat('conv2dInputGradient', dy, w);
  if (isRecording()) throw new Error('conv2dInputGradient: not differentiable; call it outside Tape.record');
  const s = conv2dShape(xShape, w.shape, options.stride ?? 1, options.padding ?? 0);
  const yShape = [s.batch, s.outChannels, s.outHeight, s.outWidth];
  if (shapeString(dy.shape) !== shapeString(yShape))
    throw new Error(
      `conv2dInputGradient: dy ${shapeString(dy.shape)} must have the conv's output shape ${shapeString(yShape)} (x ${shapeString(xShape)}, w ${shapeString(w.shape)})`,
    );
  const backend = backendOf('conv2dInputGradient', dy, w);
  return wrap(backend, backend.conv2dBackwardInput(dy.storage, w.storage, s), [...xShape]);
}
