// Axis permutation: out[coords] = x[coords permuted back], one invocation per output element.

import type { DType } from '../engine/backend.js';
import { sizeOf, stridesOf, type Shape } from '../engine/shape.js';
import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { forRowChunks } from './chunks.js';
import { flatIndex, grid, wgslType } from './wgsl.js';

/** x with its axes permuted: output axis k is input axis perm[k]. In chunks along axis 0 when it stays first. */
export function transpose(gpu: Gpu, x: Binding, shape: Shape, perm: readonly number[], dtype: DType): GpuBuffer {
  const n = sizeOf(shape);
  const out = gpu.acquire(n * 4);
  if (perm[0] !== 0 || n === 0) {
    transposeInto(gpu, x, shape, perm, dtype, out);
    return out;
  }
  const rowBytes = (n / shape[0]) * 4;
  const operands = [{ buffer: x, rowBytes, access: 'read' }, { buffer: out, rowBytes, access: 'write' }] as const;
  forRowChunks(gpu, shape[0], operands, ({ count, windows: [xw, ow] }) => transposeInto(gpu, xw, [count, ...shape.slice(1)], perm, dtype, ow));
  return out;
}

function transposeInto(gpu: Gpu, x: Binding, shape: Shape, perm: readonly number[], dtype: DType, out: Binding): void {
  const n = sizeOf(shape);
  const outShape = perm.map((a) => shape[a]);
  const outStrides = stridesOf(outShape);
  const inStrides = stridesOf(shape);
  const terms = perm.map((a, d) => `((i / ${outStrides[d]}u) % ${outShape[d]}u) * ${inStrides[a]}u`);
  const t = wgslType(dtype);
  const { workgroups, stride } = grid(n);
  const code = `
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
${flatIndex(n, stride)}
  out[i] = x[${terms.join(' + ') || '0u'}];
}`;
  gpu.dispatch(gpu.pipeline('transpose', code), [x, out], workgroups);
}
