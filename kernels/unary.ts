// Elementwise unary ops (the op table's, engine/elementwise_ops.ts), affine maps and clamping: out[i] = f(x[i]).

import type { UnaryOp } from '../engine/backend.js';
import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { forElementChunks } from './chunks.js';
import { UNARY_WGSL, isNan } from './elementwise_ops.js';
import { componentwise, elementGrid, elementMain, sized, vectorizable } from './wgsl.js';

/**
 * Runs `out[i] = expression(v)` with v = x[i] over n elements (four at a time where n allows). The
 * WGSL depends only on `name` (one expression per name) and the vector width, not on n; `params`, if
 * given, are two f32 scalars the expression reads as `u.a` and `u.b` from a uniform, so new values
 * compile nothing.
 */
function mapElements(
  gpu: Gpu,
  name: string,
  x: Binding,
  n: number,
  expression: string,
  params?: [number, number],
): GpuBuffer {
  const out = gpu.acquire(n * 4);
  if (n === 0) return out;
  const operands = [
    { buffer: x, access: 'read' },
    { buffer: out, access: 'write' },
  ] as const;
  forElementChunks(gpu, n, operands, (c) =>
    mapElementsInto(gpu, name, c.windows[0], c.windows[1], c.count, expression, params),
  );
  return out;
}

function mapElementsInto(
  gpu: Gpu,
  name: string,
  x: Binding,
  out: Binding,
  n: number,
  expression: string,
  params?: [number, number],
): void {
  const vec4 = vectorizable(n);
  const uniform = params ? 'struct Params { a: f32, b: f32 }\n@group(0) @binding(2) var<uniform> u: Params;' : '';
  const pipeline = gpu.program(name, vec4 ? 'vec4' : 'f32', () => {
    const type = vec4 ? 'vec4f' : 'f32';
    const body = vec4
      ? `    let xv = x[j];\n${componentwise('f32', (c) => `let v = xv.${c};`, expression)}\n    out[j] = r;`
      : `  let v = x[i];\n  out[i] = ${expression};`;
    return `
@group(0) @binding(0) var<storage, read> x: array<${type}>;
@group(0) @binding(1) var<storage, read_write> out: array<${type}>;
${uniform}
${elementMain('out', body, vec4)}`;
  });
  gpu.dispatch(pipeline, [x, sized(out, n)], elementGrid(n, vec4), params && new Float32Array(params));
}

/** Elementwise op (neg, exp, log, sqrt, abs, sign, relu, step, square, reciprocal) over n f32 elements; relu and step pass NaN through. */
export function unary(gpu: Gpu, op: UnaryOp, x: Binding, n: number): GpuBuffer {
  return mapElements(gpu, `unary_${op}`, x, n, UNARY_WGSL[op]);
}

/** out[i] = scale · x[i] + shift over n f32 elements. */
export function affine(gpu: Gpu, x: Binding, n: number, scale: number, shift: number): GpuBuffer {
  return mapElements(gpu, 'affine', x, n, 'u.a * v + u.b', [scale, shift]);
}

/** out[i] = min(max(x[i], lo), hi) over n f32 elements; NaN passes through. */
export function clamp(gpu: Gpu, x: Binding, n: number, lo: number, hi: number): GpuBuffer {
  return mapElements(gpu, 'clamp', x, n, `select(min(max(v, u.a), u.b), v, ${isNan('v')})`, [lo, hi]);
}
