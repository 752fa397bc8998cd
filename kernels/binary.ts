// Binary elementwise ops with NumPy broadcasting. Each output index is decoded into coordinates and
// re-encoded with the inputs' broadcast strides (0 along broadcast axes); same-shape and scalar
// operands skip the decoding.

import type { BinaryOp, DType } from '../engine/backend.js';
import { broadcastStrides, sameShape, sizeOf, type Shape } from '../engine/shape.js';
import type { Gpu, GpuBuffer } from '../engine/webgpu/gpu.js';
import { flatIndex, grid, strides, wgslType } from './wgsl.js';

const EXPRESSIONS: Record<BinaryOp, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  maximum: 'max(a, b)',
  minimum: 'min(a, b)',
  eq: 'select(0.0, 1.0, a == b)',
  ne: 'select(0.0, 1.0, a != b)',
  lt: 'select(0.0, 1.0, a < b)',
  le: 'select(0.0, 1.0, a <= b)',
  gt: 'select(0.0, 1.0, a > b)',
  ge: 'select(0.0, 1.0, a >= b)',
  passIfPositive: 'select(ZERO, b, a > ZERO)',
};

const COMPARISONS = new Set<BinaryOp>(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);

/** WGSL computing the flat offset into an input of `inShape` read at output index i. */
function offsetExpression(name: string, inShape: Shape, outShape: Shape): string {
  if (sameShape(inShape, outShape)) return 'i';
  if (sizeOf(inShape) === 1) return '0u';
  const inStrides = broadcastStrides(inShape, outShape);
  const outStrides = strides(outShape);
  const terms: string[] = [];
  for (let d = 0; d < outShape.length; d++) {
    if (inStrides[d] === 0) continue;
    const coord = d === 0 ? `(i / ${outStrides[d]}u)` : `((i / ${outStrides[d]}u) % ${outShape[d]}u)`;
    terms.push(`${coord} * ${inStrides[d]}u`);
  }
  return terms.length ? terms.join(` + `) : `0u /* ${name} */`;
}

export function binary(gpu: Gpu, op: BinaryOp, a: GpuBuffer, aShape: Shape, b: GpuBuffer, bShape: Shape, outShape: Shape, dtype: DType): GpuBuffer {
  const n = sizeOf(outShape);
  const inType = wgslType(dtype);
  const outType = COMPARISONS.has(op) ? 'f32' : inType;
  const out = gpu.acquire(n * 4);
  const { workgroups, stride } = grid(n);
  const code = `
@group(0) @binding(0) var<storage, read> A: array<${inType}>;
@group(0) @binding(1) var<storage, read> B: array<${inType}>;
@group(0) @binding(2) var<storage, read_write> out: array<${outType}>;
${flatIndex(n, stride)}
  let a = A[${offsetExpression('a', aShape, outShape)}];
  let b = B[${offsetExpression('b', bShape, outShape)}];
  out[i] = ${EXPRESSIONS[op].replaceAll('ZERO', `${inType}(0)`)};
}`;
  gpu.dispatch(gpu.pipeline(`binary_${op}`, code), [a, b, out], workgroups);
  return out;
}

/**
 * cond ? a : b over n elements (cond is a float 0/1 mask). The branches are moved as raw 32-bit words
 * (u32), so int32 and float32 values alike are copied bit for bit, whatever `dtype` says (an int read
 * as f32 can be a NaN or denormal pattern that a GPU may canonicalise or flush).
 */
export function where(gpu: Gpu, cond: GpuBuffer, a: GpuBuffer, b: GpuBuffer, n: number, _dtype: DType): GpuBuffer {
  const t = 'u32';
  const out = gpu.acquire(n * 4);
  const { workgroups, stride } = grid(n);
  const code = `
@group(0) @binding(0) var<storage, read> C: array<f32>;
@group(0) @binding(1) var<storage, read> A: array<${t}>;
@group(0) @binding(2) var<storage, read> B: array<${t}>;
@group(0) @binding(3) var<storage, read_write> out: array<${t}>;
${flatIndex(n, stride)}
  out[i] = select(B[i], A[i], C[i] != 0.0);
}`;
  gpu.dispatch(gpu.pipeline('where', code), [cond, a, b, out], workgroups);
  return out;
}
