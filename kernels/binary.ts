// Binary elementwise ops (the op table's, engine/elementwise_ops.ts) with NumPy broadcasting. Each
// output index is decoded into coordinates and re-encoded with the inputs' broadcast strides (0 along
// broadcast axes); same-shape and scalar operands skip the decoding, and their WGSL does not depend
// on the size.

import type { BinaryOp, DType } from '../engine/backend.js';
import { binaryRow } from '../engine/elementwise_ops.js';
import { broadcastStrides, sameShape, sizeOf, type Shape } from '../engine/shape.js';
import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { forElementChunks, forRowChunks, type RowOperand } from './chunks.js';
import { BINARY_WGSL } from './elementwise_ops.js';
import {
  componentwise,
  countedMain,
  elementGrid,
  elementMain,
  grid,
  sized,
  strides,
  vectorizable,
  wgslType,
} from './wgsl.js';

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

/**
 * What offsetExpression's WGSL depends on besides the output's sizes past the first: whether the
 * operand has the output's shape, is a single value, or else its broadcast strides (none of which
 * holds the output's outermost size).
 */
function operandKey(inShape: Shape, outShape: Shape): string {
  if (sameShape(inShape, outShape)) return 'same';
  if (sizeOf(inShape) === 1) return 'one';
  return broadcastStrides(inShape, outShape).join(',');
}

/** Elementwise `op` of a and b broadcast to outShape; comparisons give float32 0/1. */
export function binary(
  gpu: Gpu,
  op: BinaryOp,
  a: Binding,
  aShape: Shape,
  b: Binding,
  bShape: Shape,
  outShape: Shape,
  dtype: DType,
): GpuBuffer {
  const n = sizeOf(outShape);
  const out = gpu.acquire(n * 4);
  const whole = (shape: Shape) => sameShape(shape, outShape) || sizeOf(shape) === 1;
  if (whole(aShape) && whole(bShape)) {
    // In chunks of the flat index; a single value binds whole in every chunk.
    const operands: RowOperand[] = [{ buffer: out, rowBytes: 4, access: 'write' }];
    for (const [x, shape] of [
      [a, aShape],
      [b, bShape],
    ] as const)
      if (sizeOf(shape) > 1) operands.push({ buffer: x, rowBytes: 4, access: 'read' });
    forRowChunks(gpu, n, operands, ({ count, windows: [o, ...inputs] }) => {
      const at = (x: Binding, shape: Shape): [Binding, Shape] =>
        sizeOf(shape) > 1 ? [inputs.shift()!, [count]] : [x, shape];
      binaryInto(gpu, op, ...at(a, aShape), ...at(b, bShape), o, [count], dtype);
    });
    return out;
  }
  // Broadcasting: in chunks along the output's leading axis; an operand broadcast along it binds whole.
  const rows = outShape[0];
  const alongRows = (shape: Shape) => shape.length === outShape.length && shape[0] === rows;
  const operands: RowOperand[] = [{ buffer: out, rowBytes: (n / rows) * 4, access: 'write' }];
  for (const [x, shape] of [
    [a, aShape],
    [b, bShape],
  ] as const)
    if (alongRows(shape)) operands.push({ buffer: x, rowBytes: (sizeOf(shape) / rows) * 4, access: 'read' });
  forRowChunks(gpu, rows, operands, ({ count, windows: [o, ...inputs] }) => {
    const at = (x: Binding, shape: Shape): [Binding, Shape] =>
      alongRows(shape) ? [inputs.shift()!, [count, ...shape.slice(1)]] : [x, shape];
    binaryInto(gpu, op, ...at(a, aShape), ...at(b, bShape), o, [count, ...outShape.slice(1)], dtype);
  });
  return out;
}

function binaryInto(
  gpu: Gpu,
  op: BinaryOp,
  a: Binding,
  aShape: Shape,
  b: Binding,
  bShape: Shape,
  out: Binding,
  outShape: Shape,
  dtype: DType,
): void {
  const n = sizeOf(outShape);
  if (n === 0) return;
  const inType = wgslType(dtype);
  const outType = binaryRow(op).comparison ? 'f32' : inType;
  const expression = BINARY_WGSL[op].replaceAll('ZERO', `${inType}(0)`);
  const single = (shape: Shape) => sizeOf(shape) === 1 && !sameShape(shape, outShape);
  if ((!single(aShape) && !sameShape(aShape, outShape)) || (!single(bShape) && !sameShape(bShape, outShape))) {
    broadcastInto(gpu, op, a, aShape, b, bShape, out, outShape, inType, outType, expression);
    return;
  }
  // Operands of the output's shape or single values (the common cases): the WGSL does not depend on
  // n, and four elements at a time where n allows.
  const vec4 = vectorizable(n);
  const key = `${inType}|${single(aShape) ? 'a0' : 'a'}|${single(bShape) ? 'b0' : 'b'}|${vec4 ? 'vec4' : 'f32'}`;
  const pipeline = gpu.program(`binary_${op}`, key, () => {
    const operand = (name: string, shape: Shape) => {
      const array = name.toUpperCase();
      if (single(shape)) return { decl: `array<${inType}>`, read: () => `${array}[0]`, load: '' };
      if (!vec4) return { decl: `array<${inType}>`, read: () => `${array}[i]`, load: '' };
      return {
        decl: `array<vec4<${inType}>>`,
        read: (c: string) => `${name}v.${c}`,
        load: `let ${name}v = ${array}[j];`,
      };
    };
    const A = operand('a', aShape);
    const B = operand('b', bShape);
    const loads = [A.load, B.load]
      .filter(Boolean)
      .map((l) => `    ${l}`)
      .join('\n');
    const body = vec4
      ? `${loads}\n${componentwise(outType, (c) => `let a = ${A.read(c)}; let b = ${B.read(c)};`, expression)}\n    out[j] = r;`
      : `  let a = ${A.read('')};\n  let b = ${B.read('')};\n  out[i] = ${expression};`;
    return `
@group(0) @binding(0) var<storage, read> A: ${A.decl};
@group(0) @binding(1) var<storage, read> B: ${B.decl};
@group(0) @binding(2) var<storage, read_write> out: array<${vec4 ? `vec4<${outType}>` : outType}>;
${elementMain('out', body, vec4)}`;
  });
  gpu.dispatch(pipeline, [a, b, sized(out, n)], elementGrid(n, vec4));
}

/**
 * A broadcast operand: its shape is in the WGSL (offsetExpression), so one pipeline per shape, except
 * the output's outermost size (the batch), which neither the offsets nor the element count
 * (arrayLength of the exactly sized output) need: a bias or a per-example factor broadcast over a
 * batch compiles once for every batch size.
 */
function broadcastInto(
  gpu: Gpu,
  op: BinaryOp,
  a: Binding,
  aShape: Shape,
  b: Binding,
  bShape: Shape,
  out: Binding,
  outShape: Shape,
  inType: string,
  outType: string,
  expression: string,
): void {
  const n = sizeOf(outShape);
  if (n === 0) return;
  const key = `${inType}|${outShape.slice(1).join('x')}|${operandKey(aShape, outShape)}|${operandKey(bShape, outShape)}`;
  const pipeline = gpu.program(
    `binary_${op}_broadcast`,
    key,
    () => `
@group(0) @binding(0) var<storage, read> A: array<${inType}>;
@group(0) @binding(1) var<storage, read> B: array<${inType}>;
@group(0) @binding(2) var<storage, read_write> out: array<${outType}>;
${countedMain('i', 'arrayLength(&out)')}
  let a = A[${offsetExpression('a', aShape, outShape)}];
  let b = B[${offsetExpression('b', bShape, outShape)}];
  out[i] = ${expression};
}`,
  );
  gpu.dispatch(pipeline, [a, b, sized(out, n)], grid(n).workgroups);
}

/**
 * cond ? a : b over n elements (cond is a float 0/1 mask). The branches are moved as raw 32-bit words
 * (u32), so int32 and float32 values alike are copied bit for bit, whatever `dtype` says (an int read
 * as f32 can be a NaN or denormal pattern that a GPU may canonicalise or flush).
 */
export function where(gpu: Gpu, cond: Binding, a: Binding, b: Binding, n: number, _dtype: DType): GpuBuffer {
  const out = gpu.acquire(n * 4);
  if (n === 0) return out;
  const operands = [
    { buffer: cond, access: 'read' },
    { buffer: a, access: 'read' },
    { buffer: b, access: 'read' },
    { buffer: out, access: 'write' },
  ] as const;
  forElementChunks(gpu, n, operands, ({ count, windows: [c, x, y, o] }) => whereInto(gpu, c, x, y, o, count));
  return out;
}

function whereInto(gpu: Gpu, cond: Binding, a: Binding, b: Binding, out: Binding, n: number): void {
  const vec4 = vectorizable(n);
  const pipeline = gpu.program('where', vec4 ? 'vec4' : 'u32', () => {
    const [f, u] = vec4 ? ['vec4f', 'vec4<u32>'] : ['f32', 'u32'];
    const body = vec4
      ? '    out[j] = select(B[j], A[j], C[j] != vec4f(0.0));'
      : '  out[i] = select(B[i], A[i], C[i] != 0.0);';
    return `
@group(0) @binding(0) var<storage, read> C: array<${f}>;
@group(0) @binding(1) var<storage, read> A: array<${u}>;
@group(0) @binding(2) var<storage, read> B: array<${u}>;
@group(0) @binding(3) var<storage, read_write> out: array<${u}>;
${elementMain('out', body, vec4)}`;
  });
  gpu.dispatch(pipeline, [cond, a, b, sized(out, n)], elementGrid(n, vec4));
}
