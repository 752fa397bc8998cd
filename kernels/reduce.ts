// Reductions (sum, max, min) over any set of axes, and argmax along one axis.
// Output element o starts at base(o) (its kept coordinates) and visits offset(r) for each of the R
// reduced positions. Few long reductions (e.g. 3 sums of 1000 values over axis 0 of [1000, 3]) use one
// workgroup per output with a shared-memory tree; many short ones use one invocation per output.
// The counts of outputs and of reduced positions come in a uniform, and the outermost decoded axis
// needs no modulo, so a reduction over or along the batch axis (a bias gradient, per-row sums) has
// the same WGSL at every batch size and compiles once (layoutKey). The variant, though, follows the
// sizes: a sum over the batch whose length crosses 256 between two batch sizes compiles the other one.
// Long reductions whose kept axes are adjacent and whose reduced axes end in a run of contiguous
// elements (the conv bias gradient over [0, 2, 3], a sum of everything) go to reduce_planes.ts instead.

import type { DType, ReduceOp } from '../engine/backend.js';
import { sizeOf, stridesOf, type Shape } from '../engine/shape.js';
import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { chunkTarget, forRowChunks, type RowOperand } from './chunks.js';
import { countedMain, grid, wgslType } from './wgsl.js';
import { planeLayout, reducePlanes } from './reduce_planes.js';

const TREE = 64;

/** The uniform block: outputs, and reduced positions per output. */
const COUNTS = 'struct Counts { outputs: u32, reduced: u32 }';

/** WGSL for `fn name(k: u32) -> u32`: decodes k over `dims` and maps it to an input offset. */
function offsetFunction(name: string, shape: Shape, dims: number[]): string {
  const inStrides = stridesOf(shape);
  const sub = dims.map((d) => shape[d]);
  const subStrides = stridesOf(sub);
  // k < the product of sub, so the outermost coordinate needs no modulo (and the WGSL then does not
  // hold that axis's size: the batch, when it comes first).
  const terms = dims.map((d, j) =>
    j === 0
      ? `(k / ${subStrides[j]}u) * ${inStrides[d]}u`
      : `((k / ${subStrides[j]}u) % ${sub[j]}u) * ${inStrides[d]}u`,
  );
  return `fn ${name}(k: u32) -> u32 { return ${terms.length ? terms.join(' + ') : '0u'}; }`;
}

/**
 * What offsetFunction's WGSL over each of `dimLists` depends on: the shape and the lists, less the
 * size of axis 0 unless it comes after another axis in its list (only there is it a modulus; no
 * stride holds it). So a reduction over or along the batch has one key at every batch size.
 */
function layoutKey(shape: Shape, dimLists: readonly (readonly number[])[]): string {
  const batchInWgsl = dimLists.some((dims) => dims.indexOf(0) > 0);
  const sizes = shape.map((size, axis) => (axis === 0 && !batchInWgsl ? 'N' : String(size)));
  return `${sizes.join('x')}|${dimLists.map((dims) => dims.join(',')).join('|')}`;
}

function identity(op: ReduceOp, t: string): string {
  if (op === 'sum') return t === 'i32' ? '0i' : '0.0';
  if (t === 'i32') return op === 'max' ? '-2147483647i' : '2147483647i';
  return op === 'max' ? '-3.4028234663852886e38' : '3.4028234663852886e38';
}

function combine(op: ReduceOp, acc: string, v: string): string {
  return op === 'sum' ? `${acc} + ${v}` : `${op}(${acc}, ${v})`;
}

/**
 * Sum, max or min of x (of `shape`) over `axes`: the kept axes, row-major. A big x runs in chunks
 * along axis 0: their results are rows of the output when axis 0 is kept, and are combined when it
 * is reduced.
 */
export function reduce(
  gpu: Gpu,
  op: ReduceOp,
  x: Binding,
  shape: Shape,
  axes: readonly number[],
  dtype: DType,
): GpuBuffer {
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const outCount = sizeOf(kept.map((d) => shape[d]));
  const out = gpu.acquire(outCount * 4);
  const rows = shape[0] ?? 1;
  if (shape.length === 0 || sizeOf(shape) === 0) {
    reduceInto(gpu, op, x, shape, axes, dtype, out);
    return out;
  }
  const acrossRows = axes.includes(0);
  const operands: RowOperand[] = [{ buffer: x, rowBytes: (sizeOf(shape) / rows) * 4, access: 'read' }];
  if (!acrossRows) operands.push({ buffer: out, rowBytes: (outCount / rows) * 4, access: 'write' });
  forRowChunks(gpu, rows, operands, ({ count, index, windows: [xw, ow] }) => {
    const chunkShape = [count, ...shape.slice(1)];
    if (!acrossRows) return reduceInto(gpu, op, xw, chunkShape, axes, dtype, ow);
    const { target, done } = chunkTarget(gpu, out, outCount, index, op, wgslType(dtype));
    reduceInto(gpu, op, xw, chunkShape, axes, dtype, target);
    done();
  });
  return out;
}

function reduceInto(
  gpu: Gpu,
  op: ReduceOp,
  x: Binding,
  shape: Shape,
  axes: readonly number[],
  dtype: DType,
  out: Binding,
): void {
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const outCount = sizeOf(kept.map((d) => shape[d]));
  const redCount = sizeOf(axes.map((d) => shape[d]));
  // Long reductions over runs of contiguous elements (a conv bias gradient, a sum of everything)
  // walk those runs without decoding each offset: 2-4× faster on lavapipe (reduce_planes.ts).
  const planes = planeLayout(shape, axes);
  if (planes && planes.inner > 1 && redCount >= 256) {
    reducePlanes(gpu, op, x, planes, dtype, out);
    return;
  }
  const t = wgslType(dtype);
  const key = `${t}|${layoutKey(shape, [kept, [...axes]])}`;
  const header = () => `
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
${COUNTS}
@group(0) @binding(2) var<uniform> u: Counts;
${offsetFunction('base', shape, kept)}
${offsetFunction('offset', shape, [...axes])}`;
  const counts = new Uint32Array([outCount, redCount]);
  if (redCount >= 256 && outCount < 4096) {
    const pipeline = gpu.program(
      `reduce_${op}_tree`,
      key,
      () => `${header()}
var<workgroup> partial: array<${t}, ${TREE}>;
@compute @workgroup_size(${TREE})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * groups.x;
  if (o >= u.outputs) { return; }
  let b = base(o);
  var acc = ${identity(op, t)};
  for (var r = lid; r < u.reduced; r += ${TREE}u) { acc = ${combine(op, 'acc', 'x[b + offset(r)]')}; }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = ${TREE / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] = ${combine(op, 'partial[lid]', 'partial[lid + s]')}; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[o] = partial[0]; }
}`,
    );
    gpu.dispatch(pipeline, [x, out], grid(outCount, 1).workgroups, counts);
  } else {
    const pipeline = gpu.program(
      `reduce_${op}`,
      key,
      () => `${header()}
${countedMain('o', 'u.outputs')}
  let b = base(o);
  var acc = ${identity(op, t)};
  for (var r = 0u; r < u.reduced; r++) { acc = ${combine(op, 'acc', 'x[b + offset(r)]')}; }
  out[o] = acc;
}`,
    );
    gpu.dispatch(pipeline, [x, out], grid(outCount).workgroups, counts);
  }
}

/** First index of the maximum along `axis` (in chunks along axis 0 when that is another axis). */
export function argmax(gpu: Gpu, x: Binding, shape: Shape, axis: number): GpuBuffer {
  const n = sizeOf(shape);
  const outCount = n / shape[axis];
  const out = gpu.acquire(outCount * 4);
  if (axis === 0 || n === 0) {
    argmaxInto(gpu, x, shape, axis, out);
    return out;
  }
  const rows = shape[0];
  const operands = [
    { buffer: x, rowBytes: (n / rows) * 4, access: 'read' },
    { buffer: out, rowBytes: (outCount / rows) * 4, access: 'write' },
  ] as const;
  forRowChunks(gpu, rows, operands, ({ count, windows: [xw, ow] }) =>
    argmaxInto(gpu, xw, [count, ...shape.slice(1)], axis, ow),
  );
  return out;
}

function argmaxInto(gpu: Gpu, x: Binding, shape: Shape, axis: number, out: Binding): void {
  const kept = shape.map((_, i) => i).filter((i) => i !== axis);
  const outCount = sizeOf(kept.map((d) => shape[d]));
  const axisStride = stridesOf(shape)[axis];
  // The loop along the axis has a constant bound, so the key holds its length.
  const pipeline = gpu.program(
    'argmax',
    `${layoutKey(shape, [kept])}|${axis}|${shape[axis]}`,
    () => `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
${COUNTS}
@group(0) @binding(2) var<uniform> u: Counts;
${offsetFunction('base', shape, kept)}
${countedMain('o', 'u.outputs')}
  let b = base(o);
  var best = 0u;
  var bestValue = x[b];
  for (var r = 1u; r < ${shape[axis]}u; r++) {
    let v = x[b + r * ${axisStride}u];
    if (v > bestValue) { best = r; bestValue = v; }
  }
  out[o] = i32(best);
}`,
  );
  gpu.dispatch(pipeline, [x, out], grid(outCount).workgroups, new Uint32Array([outCount, shape[axis]]));
}
