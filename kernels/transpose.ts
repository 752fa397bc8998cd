// Axis permutation: out[coords] = x[coords permuted back], one invocation per output element.

import type { DType } from '../engine/backend.js';
import { sizeOf, stridesOf, type Shape } from '../engine/shape.js';
import type { Gpu, GpuBuffer } from '../engine/webgpu/gpu.js';
import { flatIndex, grid, wgslType } from './wgsl.js';

/** x with its axes permuted: output axis k is input axis perm[k]. */
export function transpose(gpu: Gpu, x: GpuBuffer, shape: Shape, perm: readonly number[], dtype: DType): GpuBuffer {
  const n = sizeOf(shape);
  const outShape = perm.map((a) => shape[a]);
  const outStrides = stridesOf(outShape);
  const inStrides = stridesOf(shape);
  const terms = perm.map((a, d) => `((i / ${outStrides[d]}u) % ${outShape[d]}u) * ${inStrides[a]}u`);
  const t = wgslType(dtype);
  const out = gpu.acquire(n * 4);
  const { workgroups, stride } = grid(n);
  const code = `
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
${flatIndex(n, stride)}
  out[i] = x[${terms.join(' + ') || '0u'}];
}`;
  gpu.dispatch(gpu.pipeline('transpose', code), [x, out], workgroups);
  return out;
}
