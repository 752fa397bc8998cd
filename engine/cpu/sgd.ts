// Reference momentum SGD, PyTorch's rule: g = grad + wd·p; buf = momentum·buf + g;
// p −= lr·(nesterov ? g + momentum·buf : buf).

import type { SgdOptions } from '../backend.js';
import type { FloatArray } from './storage.js';

/** Momentum SGD in place (PyTorch's rule): g = grad + wd·p; buf = μ·buf + g; p −= lr·(nesterov ? g + μ·buf : buf). */
export function sgdUpdate(param: FloatArray, grad: FloatArray, buf: FloatArray, o: SgdOptions): void {
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] + o.weightDecay * param[i];
    const b = o.momentum * buf[i] + g;
    buf[i] = b;
    param[i] -= o.lr * (o.nesterov ? g + o.momentum * b : b);
  }
}
