// Reference matmul: the triple loop, float64 accumulation.

import type { MatmulShape } from '../backend.js';
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
