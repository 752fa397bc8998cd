// Reference matmul and linear layer: the triple loop, float64 accumulation.

import type { LinearShape, MatmulShape } from '../backend.js';
import { unaryRow } from '../elementwise_ops.js';
import type { FloatArray } from './storage.js';

/** Batched out[b] = op(a[b])·op(b[b]) ([batch, m, n]) with op = transpose where the shape asks. */
export function matmul(a: FloatArray, b: FloatArray, s: MatmulShape, out: FloatArray): void {
  const { batch, m, n, k, transA, transB } = s;
  for (let p = 0; p < batch; p++) {
    const ao = p * m * k;
    const bo = p * k * n;
    const co = p * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let t = 0; t < k; t++) {
          const av = transA ? a[ao + t * m + i] : a[ao + i * k + t];
          const bv = transB ? b[bo + j * k + t] : b[bo + t * n + j];
          acc += av * bv;
        }
        out[co + i * n + j] = acc;
      }
    }
  }
}

/** out = x·wᵀ + bias ([rows, outFeatures]), then relu(·) when `relu`; the sum and the bias in float64, rounded once. */
export function linear(
  x: FloatArray,
  w: FloatArray,
  bias: FloatArray | null,
  s: LinearShape,
  relu: boolean,
  out: FloatArray,
): void {
  const { rows, inFeatures: k, outFeatures: n } = s;
  const reluOf = unaryRow('relu').cpu;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < n; j++) {
      let acc = bias ? bias[j] : 0;
      for (let t = 0; t < k; t++) acc += x[i * k + t] * w[j * k + t];
      out[i * n + j] = relu ? reluOf(acc) : acc;
    }
  }
}
