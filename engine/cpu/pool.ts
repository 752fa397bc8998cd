// Reference max and average pooling over NCHW windows (no padding), with their VJPs.
// Max pooling sends the gradient to the first maximum in the window (row-major), as the GPU kernel does.

import type { Pool2dShape } from '../backend.js';
import type { FloatArray } from './storage.js';

function forEachWindow(s: Pool2dShape, visit: (plane: number, outIndex: number, h0: number, w0: number) => void): void {
  const { batch, channels, outHeight: OH, outWidth: OW, stride } = s;
  for (let p = 0; p < batch * channels; p++)
    for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) visit(p, (p * OH + i) * OW + j, i * stride, j * stride);
}

function argmaxInWindow(x: FloatArray, s: Pool2dShape, plane: number, h0: number, w0: number): number {
  const { inHeight: H, inWidth: W, kernel: K } = s;
  let best = plane * H * W + h0 * W + w0;
  for (let a = 0; a < K; a++)
    for (let b = 0; b < K; b++) {
      const idx = plane * H * W + (h0 + a) * W + (w0 + b);
      if (x[idx] > x[best]) best = idx;
    }
  return best;
}

/** Max over each kernel×kernel window of NCHW x, moved by `stride`, into y. */
export function maxPool2d(x: FloatArray, s: Pool2dShape, y: FloatArray): void {
  forEachWindow(s, (plane, o, h0, w0) => (y[o] = x[argmaxInWindow(x, s, plane, h0, w0)]));
}

/** dx of max pooling: each window's dy goes to its first maximal element of x. */
export function maxPool2dBackward(dy: FloatArray, x: FloatArray, s: Pool2dShape, dx: FloatArray): void {
  dx.fill(0);
  forEachWindow(s, (plane, o, h0, w0) => (dx[argmaxInWindow(x, s, plane, h0, w0)] += dy[o]));
}

/** Mean over each kernel×kernel window of NCHW x, moved by `stride`, into y. */
export function avgPool2d(x: FloatArray, s: Pool2dShape, y: FloatArray): void {
  const { inHeight: H, inWidth: W, kernel: K } = s;
  forEachWindow(s, (plane, o, h0, w0) => {
    let acc = 0;
    for (let a = 0; a < K; a++) for (let b = 0; b < K; b++) acc += x[plane * H * W + (h0 + a) * W + (w0 + b)];
    y[o] = acc / (K * K);
  });
}

/** dx of average pooling: each window's dy spread evenly over its kernel² elements. */
export function avgPool2dBackward(dy: FloatArray, s: Pool2dShape, dx: FloatArray): void {
  const { inHeight: H, inWidth: W, kernel: K } = s;
  dx.fill(0);
  forEachWindow(s, (plane, o, h0, w0) => {
    for (let a = 0; a < K; a++)
      for (let b = 0; b < K; b++) dx[plane * H * W + (h0 + a) * W + (w0 + b)] += dy[o] / (K * K);
  });
}
