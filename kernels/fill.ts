// Constant fill and dtype conversion.

import type { DType } from '../engine/backend.js';
import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { forElementChunks } from './chunks.js';
import { elementGrid, elementMain, sized, vectorizable, wgslType } from './wgsl.js';

/** A new buffer of n elements of `dtype`, all equal to `value`. */
export function fill(gpu: Gpu, n: number, value: number, dtype: DType): GpuBuffer {
  const out = gpu.acquire(n * 4);
  if (n === 0) return out;
  fillBinding(gpu, out, n, value, dtype);
  return out;
}

/** Sets the first n elements of an existing buffer (pooled buffers are not zeroed: kernels that accumulate start from this). */
export function fillBinding(gpu: Gpu, out: Binding, n: number, value: number, dtype: DType): void {
  forElementChunks(gpu, n, [{ buffer: out, access: 'write' }], (c) =>
    fillInto(gpu, c.windows[0], c.count, value, dtype),
  );
}

/** The value comes as its 32-bit pattern in a uniform, so one pipeline fills every dtype, size and value
 *  (four words per store where n allows). */
function fillInto(gpu: Gpu, out: Binding, n: number, value: number, dtype: DType): void {
  const vec4 = vectorizable(n);
  const pipeline = gpu.program(
    'fill',
    vec4 ? 'vec4' : 'u32',
    () => `
@group(0) @binding(0) var<storage, read_write> out: array<${vec4 ? 'vec4u' : 'u32'}>;
@group(0) @binding(1) var<uniform> bits: vec4u;
${vec4 ? elementMain('out', '    out[j] = vec4u(bits.x);', true) : elementMain('out', '  out[i] = bits.x;')}`,
  );
  const word = dtype === 'int32' ? new Int32Array([value]) : new Float32Array([value]);
  gpu.dispatch(pipeline, [sized(out, n)], elementGrid(n, vec4), new Uint32Array(word.buffer));
}

/** float32 → int32 truncates toward zero; int32 → float32 converts exactly up to 2^24. */
export function cast(gpu: Gpu, x: Binding, n: number, from: DType, to: DType): GpuBuffer {
  const out = gpu.acquire(n * 4);
  if (n === 0) return out;
  const operands = [
    { buffer: x, access: 'read' },
    { buffer: out, access: 'write' },
  ] as const;
  forElementChunks(gpu, n, operands, (c) => castInto(gpu, c.windows[0], c.windows[1], c.count, from, to));
  return out;
}

function castInto(gpu: Gpu, x: Binding, out: Binding, n: number, from: DType, to: DType): void {
  const pipeline = gpu.program(
    'cast',
    `${from}|${to}`,
    () => `
@group(0) @binding(0) var<storage, read> x: array<${wgslType(from)}>;
@group(0) @binding(1) var<storage, read_write> out: array<${wgslType(to)}>;
${elementMain('out', `  out[i] = ${wgslType(to)}(x[i]);`)}`,
  );
  gpu.dispatch(pipeline, [x, sized(out, n)], elementGrid(n));
}
