// Max and average pooling over NCHW windows (no padding).

import type { Pool2dShape } from '../backend.js';
import { shapeString } from '../shape.js';
import { recordOp } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, requireFloat, wrap } from './util.js';

/** The Pool2dShape of pooling NCHW `xShape` with a square kernel and stride (no padding); `op` names the caller in errors. */
export function pool2dShape(xShape: readonly number[], kernel: number, stride: number, op: string): Pool2dShape {
  if (xShape.length !== 4) throw new Error(`${op}: input must be NCHW (4-D), got ${shapeString(xShape)}`);
  const [batch, channels, inHeight, inWidth] = xShape;
  if (!Number.isInteger(kernel) || kernel < 1 || kernel > inHeight || kernel > inWidth)
    throw new Error(`${op}: kernel ${kernel} does not fit input ${shapeString(xShape)}`);
  if (!Number.isInteger(stride) || stride < 1)
    throw new Error(`${op}: stride must be a positive integer, got ${stride}`);
  const outHeight = Math.floor((inHeight - kernel) / stride) + 1;
  const outWidth = Math.floor((inWidth - kernel) / stride) + 1;
  return { batch, channels, inHeight, inWidth, outHeight, outWidth, kernel, stride };
}

/** Max pooling of NCHW x over kernel×kernel windows moved by `stride` (no padding). */
export function maxPool2d(x: Tensor, kernel = 2, stride = kernel): Tensor {
  requireFloat('maxPool2d', x);
  const s = pool2dShape(x.shape, kernel, stride, 'maxPool2d');
  const backend = backendOf('maxPool2d', x);
  const out = wrap(backend, backend.maxPool2d(x.storage, s), [s.batch, s.channels, s.outHeight, s.outWidth]);
  recordOp(out, [x], (dy) => [wrap(backend, backend.maxPool2dBackward(dy.storage, x.storage, s), x.shape)]);
  return out;
}

/** Average pooling of NCHW x over kernel×kernel windows moved by `stride` (no padding). */
export function avgPool2d(x: Tensor, kernel: number, stride = kernel): Tensor {
  requireFloat('avgPool2d', x);
  const s = pool2dShape(x.shape, kernel, stride, 'avgPool2d');
  const backend = backendOf('avgPool2d', x);
  const out = wrap(backend, backend.avgPool2d(x.storage, s), [s.batch, s.channels, s.outHeight, s.outWidth]);
  recordOp(out, [x], (dy) => [wrap(backend, backend.avgPool2dBackward(dy.storage, s), x.shape)]);
  return out;
}
