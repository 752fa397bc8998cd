// Reference NCHW convolution and its two VJPs, written as the textbook loops (float64 accumulation).
// y[n,o,i,j] = b[o] + Σ_c Σ_kh Σ_kw x[n,c,i·s+kh−p, j·s+kw−p] · w[o,c,kh,kw]

import type { Conv2dShape } from '../backend.js';
import type { FloatArray } from './storage.js';

/** NCHW convolution y[b, o, i, j] = bias[o] + Σ w[o, c, u, v]·x[b, c, i·S + u − P, j·S + v − P] (zero padding) into y. */
export function conv2d(x: FloatArray, w: FloatArray, bias: FloatArray | null, s: Conv2dShape, y: FloatArray): void {
  const {
    batch,
    inChannels: C,
    inHeight: H,
    inWidth: W,
    outChannels: O,
    outHeight: OH,
    outWidth: OW,
    kernelHeight: KH,
    kernelWidth: KW,
    stride,
    padding,
  } = s;
  for (let n = 0; n < batch; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          let acc = bias ? bias[o] : 0;
          for (let c = 0; c < C; c++)
            for (let kh = 0; kh < KH; kh++) {
              const h = i * stride + kh - padding;
              if (h < 0 || h >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const v = j * stride + kw - padding;
                if (v < 0 || v >= W) continue;
                acc += x[((n * C + c) * H + h) * W + v] * w[((o * C + c) * KH + kh) * KW + kw];
              }
            }
          y[((n * O + o) * OH + i) * OW + j] = acc;
        }
}

/** dx = Σ over every output that read x[n,c,h,v] of dy · w (scatter form, simplest to trust). */
export function conv2dBackwardInput(dy: FloatArray, w: FloatArray, s: Conv2dShape, dx: FloatArray): void {
  const {
    batch,
    inChannels: C,
    inHeight: H,
    inWidth: W,
    outChannels: O,
    outHeight: OH,
    outWidth: OW,
    kernelHeight: KH,
    kernelWidth: KW,
    stride,
    padding,
  } = s;
  dx.fill(0);
  for (let n = 0; n < batch; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          const g = dy[((n * O + o) * OH + i) * OW + j];
          for (let c = 0; c < C; c++)
            for (let kh = 0; kh < KH; kh++) {
              const h = i * stride + kh - padding;
              if (h < 0 || h >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const v = j * stride + kw - padding;
                if (v < 0 || v >= W) continue;
                dx[((n * C + c) * H + h) * W + v] += g * w[((o * C + c) * KH + kh) * KW + kw];
              }
            }
        }
}

/** dw[o,c,kh,kw] = Σ_n,i,j dy[n,o,i,j] · x[n,c,i·s+kh−p, j·s+kw−p]. */
export function conv2dBackwardFilter(x: FloatArray, dy: FloatArray, s: Conv2dShape, dw: FloatArray): void {
  const {
    batch,
    inChannels: C,
    inHeight: H,
    inWidth: W,
    outChannels: O,
    outHeight: OH,
    outWidth: OW,
    kernelHeight: KH,
    kernelWidth: KW,
    stride,
    padding,
  } = s;
  for (let o = 0; o < O; o++)
    for (let c = 0; c < C; c++)
      for (let kh = 0; kh < KH; kh++)
        for (let kw = 0; kw < KW; kw++) {
          let acc = 0;
          for (let n = 0; n < batch; n++)
            for (let i = 0; i < OH; i++) {
              const h = i * stride + kh - padding;
              if (h < 0 || h >= H) continue;
              for (let j = 0; j < OW; j++) {
                const v = j * stride + kw - padding;
                if (v < 0 || v >= W) continue;
                acc += dy[((n * O + o) * OH + i) * OW + j] * x[((n * C + c) * H + h) * W + v];
              }
            }
          dw[((o * C + c) * KH + kh) * KW + kw] = acc;
        }
}

/** db[o] = Σ_n,i,j dy[n,o,i,j]: the bias gradient of a conv. */
export function conv2dBackwardBias(dy: FloatArray, s: Conv2dShape, db: FloatArray): void {
  const plane = s.outHeight * s.outWidth;
  for (let o = 0; o < s.outChannels; o++) {
    let acc = 0;
    for (let n = 0; n < s.batch; n++) {
      const start = (n * s.outChannels + o) * plane;
      for (let k = 0; k < plane; k++) acc += dy[start + k];
    }
    db[o] = acc;
  }
}
