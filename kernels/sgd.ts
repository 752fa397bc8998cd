// Fused momentum SGD for one parameter tensor, in place (PyTorch's rule):
// g = grad + wd·p; buf = momentum·buf + g; p −= lr·(nesterov ? g + momentum·buf : buf).
// Hyper-parameters come in a uniform block, so a learning-rate schedule compiles nothing new, and the
// size from arrayLength, so one pipeline updates every parameter tensor.

import type { SgdOptions } from '../engine/backend.js';
import type { Binding, Gpu } from './webgpu/gpu.js';
import { forElementChunks } from './chunks.js';
import { elementGrid, elementMain, sized } from './wgsl.js';

/** Momentum SGD on n elements in place (PyTorch's rule); hyper-parameters in a uniform, so changing lr compiles nothing. */
export function sgdUpdate(gpu: Gpu, param: Binding, grad: Binding, momentum: Binding, n: number, o: SgdOptions): void {
  if (n === 0) return;
  const operands = [
    { buffer: param, access: 'readwrite' },
    { buffer: grad, access: 'read' },
    { buffer: momentum, access: 'readwrite' },
  ] as const;
  forElementChunks(gpu, n, operands, (c) => sgdUpdateRange(gpu, c.windows[0], c.windows[1], c.windows[2], c.count, o));
}

function sgdUpdateRange(gpu: Gpu, param: Binding, grad: Binding, momentum: Binding, n: number, o: SgdOptions): void {
  const pipeline = gpu.program(
    'sgd_update',
    '',
    () => `
struct Hyper { lr: f32, momentum: f32, weightDecay: f32, nesterov: f32 }
@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf: array<f32>;
@group(0) @binding(3) var<uniform> h: Hyper;
${elementMain(
  'p',
  `  let g = grad[i] + h.weightDecay * p[i];
  let b = h.momentum * buf[i] + g;
  buf[i] = b;
  p[i] = p[i] - h.lr * select(b, g + h.momentum * b, h.nesterov != 0.0);`,
)}`,
  );
  const hyper = new Float32Array([o.lr, o.momentum, o.weightDecay, o.nesterov ? 1 : 0]);
  gpu.dispatch(pipeline, [sized(param, n), grad, momentum], elementGrid(n), hyper);
}
