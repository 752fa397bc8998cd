// Small helpers shared by the WGSL kernels. Shapes that drive index arithmetic (convs, pools,
// reductions) are baked into each shader as constants, so it compiles to multiplies and shifts, and a
// pipeline is compiled once per distinct shape; pools, reductions, softmax, batch norm, broadcasts and
// transposes leave out the batch (their counts come from arrayLength or a uniform, `countedMain`), so a
// new batch size compiles none of them again. Elementwise kernels have no index arithmetic to
// simplify: their size comes from arrayLength of an output bound to exactly n elements (`sized`,
// `elementMain`), so one pipeline serves every size.

import type { DType } from '../engine/backend.js';
import { type Binding, GpuWindow } from './webgpu/gpu.js';

/** Invocations per workgroup for elementwise kernels. */
export const WORKGROUP = 64;
const MAX_GROUPS = 65535;

/**
 * A 2-D grid covering n invocations, since one dimension holds at most 65535 workgroups. Shaders
 * compute their flat index as `gid.x + gid.y * STRIDE` with STRIDE = groupsX · workgroup size.
 */
export function grid(n: number, workgroup = WORKGROUP): { workgroups: [number, number]; stride: number } {
  const groups = Math.max(1, Math.ceil(n / workgroup));
  const x = Math.min(groups, MAX_GROUPS);
  const y = Math.ceil(groups / x);
  return { workgroups: [x, y], stride: x * workgroup };
}

/** The WGSL scalar type of a dtype. */
export function wgslType(dtype: DType): 'f32' | 'i32' {
  return dtype === 'int32' ? 'i32' : 'f32';
}

/** A number as a WGSL float literal (always with a decimal point or exponent, never NaN/Infinity). */
export function f32(value: number): string {
  if (Number.isNaN(value)) return 'bitcast<f32>(0x7fc00000u)';
  if (value === Infinity) return 'bitcast<f32>(0x7f800000u)';
  if (value === -Infinity) return 'bitcast<f32>(0xff800000u)';
  const s = Math.fround(value).toString();
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** The header of a flat elementwise kernel: `i` is the element index; out-of-range invocations return. */
export function flatIndex(n: number, stride: number, workgroup = WORKGROUP): string {
  return `@compute @workgroup_size(${workgroup})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * ${stride}u;
  if (i >= ${n}u) { return; }`;
}

/**
 * The header of a kernel with one invocation per item, named `index`, over the 2-D grid of
 * `grid(items)`: `count` is a WGSL expression for the number of items (arrayLength of a binding sized
 * to exactly the op's elements, or a uniform), so the WGSL holds no batch size and one pipeline
 * serves every batch (the row stride comes from num_workgroups).
 */
export function countedMain(index: string, count: string): string {
  return `@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let ${index} = gid.x + gid.y * groups.x * ${WORKGROUP}u;
  if (${index} >= ${count}) { return; }`;
}

/** vec4s per invocation in `vec4Main` kernels. */
const VECTORS_PER_INVOCATION = 4;

/**
 * The main function of an elementwise kernel over n elements (n a multiple of 4) that reads and
 * writes vec4s: each invocation runs `body` for VECTORS_PER_INVOCATION consecutive vec4 indices `j`.
 * On lavapipe one f32 per invocation wastes most of each SIMD load and store (docs/results.md,
 * "Measurements behind code comments").
 */
export function vec4Main(n: number, body: string): { main: string; workgroups: [number, number] } {
  const vectors = n / 4;
  const invocations = Math.ceil(vectors / VECTORS_PER_INVOCATION);
  const { workgroups, stride } = grid(invocations);
  const main = `${flatIndex(invocations, stride)}
  for (var k = 0u; k < ${VECTORS_PER_INVOCATION}u; k++) {
    let j = i * ${VECTORS_PER_INVOCATION}u + k;
    if (j >= ${vectors}u) { return; }
${body}
  }
}`;
  return { main, workgroups };
}

/**
 * The main function of an elementwise kernel whose size is not in its WGSL: `i` runs over the
 * elements of the storage array `bound`, which the dispatch binds to exactly the op's elements
 * (`sized`), so arrayLength is n; the grid's row stride comes from num_workgroups. With `vec4`,
 * `bound` is an array of vec4s and each invocation runs `body` for VECTORS_PER_INVOCATION
 * consecutive vec4 indices `j` (see vec4Main). Dispatch it over `elementGrid(n, vec4)`.
 */
export function elementMain(bound: string, body: string, vec4 = false): string {
  const head = `@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * ${WORKGROUP}u;`;
  if (!vec4)
    return `${head}
  if (i >= arrayLength(&${bound})) { return; }
${body}
}`;
  return `${head}
  let vectors = arrayLength(&${bound});
  for (var k = 0u; k < ${VECTORS_PER_INVOCATION}u; k++) {
    let j = i * ${VECTORS_PER_INVOCATION}u + k;
    if (j >= vectors) { return; }
${body}
  }
}`;
}

/** The workgroups of an `elementMain` kernel over n elements (n a multiple of 4 with `vec4`). */
export function elementGrid(n: number, vec4 = false): [number, number] {
  return grid(vec4 ? Math.ceil(n / 4 / VECTORS_PER_INVOCATION) : n).workgroups;
}

/** The first `elements` four-byte elements of a binding, as a binding of exactly that size (for arrayLength); elements > 0. */
export function sized(b: Binding, elements: number): GpuWindow {
  return new GpuWindow(b.owner, b.offset, elements * 4);
}

/** Whether an elementwise kernel over n elements can use `vec4Main`. */
export function vectorizable(n: number): boolean {
  return n > 0 && n % 4 === 0;
}

/**
 * WGSL that computes `var r: vec4<type>` component by component from a scalar expression, so one
 * table of scalar expressions serves the scalar and the vec4 kernels: `bind(c)` declares the
 * expression's inputs for component c ('x', 'y', 'z' or 'w').
 */
export function componentwise(type: string, bind: (c: string) => string, expression: string): string {
  const lines = [`    var r: vec4<${type}>;`];
  for (const c of 'xyzw') lines.push(`    { ${bind(c)} r.${c} = ${expression}; }`);
  return lines.join('\n');
}

/** Row-major strides as WGSL-ready numbers. */
export function strides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    out[i] = s;
    s *= shape[i];
  }
  return out;
}
