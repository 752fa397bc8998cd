// Constant fill and dtype conversion.

import type { DType } from '../engine/backend.js';
import type { Binding, Gpu, GpuBuffer } from '../engine/webgpu/gpu.js';
import { forElementChunks } from './chunks.js';
import { flatIndex, grid, literal, wgslType } from './wgsl.js';

/** A new buffer of n elements of `dtype`, all equal to `value`. */
export function fill(gpu: Gpu, n: number, value: number, dtype: DType): GpuBuffer {
  const out = gpu.acquire(n * 4);
  forElementChunks(gpu, n, [{ buffer: out, access: 'write' }], (c) => fillInto(gpu, c.windows[0], c.count, value, dtype));
  return out;
}

function fillInto(gpu: Gpu, out: Binding, n: number, value: number, dtype: DType): void {
  const { workgroups, stride } = grid(n);
  const code = `
@group(0) @binding(0) var<storage, read_write> out: array<${wgslType(dtype)}>;
${flatIndex(n, stride)}
  out[i] = ${literal(value, dtype)};
}`;
  gpu.dispatch(gpu.pipeline('fill', code), [out], workgroups);
}

/** float32 → int32 truncates toward zero; int32 → float32 converts exactly up to 2^24. */
export function cast(gpu: Gpu, x: Binding, n: number, from: DType, to: DType): GpuBuffer {
  const out = gpu.acquire(n * 4);
  const operands = [{ buffer: x, access: 'read' }, { buffer: out, access: 'write' }] as const;
  forElementChunks(gpu, n, operands, (c) => castInto(gpu, c.windows[0], c.windows[1], c.count, from, to));
  return out;
}

function castInto(gpu: Gpu, x: Binding, out: Binding, n: number, from: DType, to: DType): void {
  const { workgroups, stride } = grid(n);
  const code = `
@group(0) @binding(0) var<storage, read> x: array<${wgslType(from)}>;
@group(0) @binding(1) var<storage, read_write> out: array<${wgslType(to)}>;
${flatIndex(n, stride)}
  out[i] = ${wgslType(to)}(x[i]);
}`;
  gpu.dispatch(gpu.pipeline('cast', code), [x, out], workgroups);
}
