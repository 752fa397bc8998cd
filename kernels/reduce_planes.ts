// Reductions whose kept axes form one block of adjacent axes: x is then [outer, kept, inner] (the
// products of the reduced axes before the block, of the block, and of the reduced axes after it),
// reduced over outer and inner. The conv bias gradient sum(dz, [0, 2, 3]) of [N, C, H, W] is
// [N, C, H·W]; a sum of every element is [1, 1, n]. Output o's terms are `outer` runs ("planes") of
// `inner` contiguous elements, so a kernel can walk them with plain loads (vec4s when inner is a
// multiple of 4) and no index decode per element, which reduce.ts's general kernels pay.
//
// One invocation sums one segment (up to 64 loads) of one plane into a partial, which gives the
// thousands of invocations that lavapipe's 2 cores × 8 SIMD lanes and a real GPU need; a second pass
// (a third for very long runs) sums each output's partials. On lavapipe, walking a segment
// contiguously per invocation beat invocations interleaved along a plane, with or without a
// workgroup tree (docs/notes/kernels.md). All sizes come in the uniform, so one pipeline per op,
// dtype and load width serves every shape and batch.

import type { DType, ReduceOp } from '../engine/backend.js';
import { sizeOf, type Shape } from '../engine/shape.js';
import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { countedMain, grid, wgslType } from './wgsl.js';

/** x as [outer, kept, inner]: the products of the reduced axes before the kept block, of the block, and after it. */
export interface PlaneLayout {
  outer: number;
  kept: number;
  inner: number;
}

/** x's layout when the kept axes (those not in `axes`) are adjacent, or none; null otherwise. */
export function planeLayout(shape: Shape, axes: readonly number[]): PlaneLayout | null {
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  if (kept.length > 0 && kept[kept.length - 1] - kept[0] + 1 !== kept.length) return null;
  // With no kept axis every element is one run: [1, 1, n].
  const first = kept.length > 0 ? kept[0] : 0;
  const end = kept.length > 0 ? kept[kept.length - 1] + 1 : 0;
  return {
    outer: sizeOf(shape.slice(0, first)),
    kept: sizeOf(shape.slice(first, end)),
    inner: sizeOf(shape.slice(end)),
  };
}

/** Loads (vec4s or single values) an invocation sums in a pass that leaves partials: 256 floats as vec4s. */
const SEGMENT_LOADS = 64;
/** A pass whose outputs' terms are one run of at most this many loads sums each in one invocation and is the last. */
const FINAL_LOADS = 512;

/**
 * One pass: `items` = kept · outer · segments invocations, each combining up to `segment` loads of
 * `width` elements of one plane ([outer, kept, inner] with inner in loads) into out[item]. The last
 * pass (outer 1, one segment) writes one value per output.
 */
export interface PlanePass {
  outer: number;
  kept: number;
  inner: number;
  width: 1 | 4;
  segment: number;
  segments: number;
  items: number;
}

/**
 * The passes of a reduction of x's [outer, kept, inner] layout: each sums segments of the planes into
 * partials laid out [kept, outer · segments], so the next pass reads each output's partials as one
 * run ([1, kept, outer · segments]), until the runs are short enough for one invocation each. The conv
 * bias gradient of [128, 32, 26, 26] takes two: 12288 invocations of up to 64 vec4s, then 32 of 384
 * values.
 */
export function planePasses(layout: PlaneLayout): PlanePass[] {
  const passes: PlanePass[] = [];
  const kept = layout.kept;
  let { outer, inner } = layout;
  for (;;) {
    // Partials are read one at a time: with vec4s where their count per output is a multiple of 4,
    // a new batch size could need the other pipeline.
    const width = passes.length === 0 && inner % 4 === 0 ? 4 : 1;
    const loads = inner / width;
    const last = outer === 1 && loads <= FINAL_LOADS;
    const segment = last ? loads : SEGMENT_LOADS;
    const segments = Math.ceil(loads / segment);
    const items = kept * outer * segments;
    passes.push({ outer, kept, inner: loads, width, segment, segments, items });
    if (last) return passes;
    inner = outer * segments;
    outer = 1;
  }
}

/**
 * out[o] = op over the outer and inner terms of kept index o of x's [outer, kept, inner] layout, for
 * o < kept (`out` holds at least `kept` elements), in the passes of planePasses.
 */
export function reducePlanes(
  gpu: Gpu,
  op: ReduceOp,
  x: Binding,
  layout: PlaneLayout,
  dtype: DType,
  out: Binding,
): void {
  const t = wgslType(dtype);
  const passes = planePasses(layout);
  let input: Binding = x;
  let partials: GpuBuffer | null = null;
  for (const pass of passes) {
    const { items, segments, outer, kept, inner, segment, width } = pass;
    const partial = pass === passes[passes.length - 1] ? null : gpu.acquire(items * 4);
    const pipeline = gpu.program(`reduce_${op}_planes`, `${t}|${width}`, () => planesShader(op, t, width));
    const uniforms = new Uint32Array([items, segments, outer, kept, inner, segment]);
    gpu.dispatch(pipeline, [input, partial ?? out], grid(items).workgroups, uniforms);
    // A pooled buffer released now is reused only by work recorded after this pass (as chunkTarget's are).
    if (partials) gpu.release(partials);
    partials = partial;
    if (partial) input = partial;
  }
}

/** The shader of one pass over `width`-wide loads of type t (1: t; 4: vec4<t>); sizes in loads, from the uniform. */
export function planesShader(op: ReduceOp, t: 'f32' | 'i32', width: 1 | 4): string {
  const load = width === 4 ? `vec4<${t}>` : t;
  const combine = (a: string, b: string) => (op === 'sum' ? `${a} + ${b}` : `${op}(${a}, ${b})`);
  // The identity of op (the extremes reduce.ts uses).
  const limit = op === 'max' ? '-' : '';
  const identity = op === 'sum' ? `${t}(0)` : t === 'i32' ? `${limit}2147483647i` : `${limit}3.4028234663852886e38`;
  // An invocation's accumulator folded to one value.
  const folded = width === 4 ? combine(combine('acc.x', 'acc.y'), combine('acc.z', 'acc.w')) : 'acc';
  return `
@group(0) @binding(0) var<storage, read> x: array<${load}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
struct Plan { items: u32, segments: u32, outer: u32, kept: u32, inner: u32, segment: u32 }
@group(0) @binding(2) var<uniform> u: Plan;
${countedMain('i', 'u.items')}
  // i = (o · outer + a) · segments + s: segment s of plane (a, o), which starts at (a · kept + o) · inner.
  let s = i % u.segments;
  let plane = i / u.segments;
  let a = plane % u.outer;
  let o = plane / u.outer;
  let start = (a * u.kept + o) * u.inner;
  let first = s * u.segment;
  let end = min(first + u.segment, u.inner);
  // Four accumulators: lavapipe pays its per-iteration overhead once for four loads, and a GPU keeps four in flight.
  var acc0 = ${load}(${identity});
  var acc1 = acc0;
  var acc2 = acc0;
  var acc3 = acc0;
  var k = first;
  while (k + 4u <= end) {
    acc0 = ${combine('acc0', 'x[start + k]')};
    acc1 = ${combine('acc1', 'x[start + k + 1u]')};
    acc2 = ${combine('acc2', 'x[start + k + 2u]')};
    acc3 = ${combine('acc3', 'x[start + k + 3u]')};
    k += 4u;
  }
  while (k < end) {
    acc0 = ${combine('acc0', 'x[start + k]')};
    k += 1u;
  }
  let acc = ${combine(combine('acc0', 'acc1'), combine('acc2', 'acc3'))};
  out[i] = ${folded};
}`;
}
