// Max and average pooling over NCHW windows (no padding), forward and backward.
// Forward: one invocation per output element. Backward is in gather form, so no atomics: every dx
// element is written by exactly one invocation, which sums what the windows containing it send.
// - Overlapping windows (stride < kernel): one invocation per INPUT element visits the windows that
//   contain it (at most ceil(K/S)² of them), recomputing each window's argmax for max pooling.
// - Non-overlapping windows (stride ≥ kernel, the common 2×2/2 case): the input splits into S×S
//   cells, one window each, and one invocation per cell reads its window once and writes the whole
//   cell (faster than the per-element form on lavapipe, where each window was re-read K² times).
// The window geometry (H, W, OH, OW, K, S) is baked into the shader as constants; the number of
// planes (batch × channels) is not: each kernel's count comes from arrayLength of a binding sized to
// exactly the op's elements, so one pipeline serves every batch size (an attack's shrinking set of
// rows, the training batch and the evaluation batch share it) and every channel count. Max pooling sends the gradient to the FIRST
// maximum of each window in row-major order (a strict `>` scan, as in engine/cpu/pool.ts), so ties
// and NaNs behave identically on both backends.

import type { Pool2dShape } from '../engine/backend.js';
import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { forRowChunks, type RowOperand } from './chunks.js';
import { countedMain, grid, sized } from './wgsl.js';

function outCount(s: Pool2dShape): number {
  return s.batch * s.channels * s.outHeight * s.outWidth;
}

function inCount(s: Pool2dShape): number {
  return s.batch * s.channels * s.inHeight * s.inWidth;
}

/** The window geometry: everything a pooling kernel's WGSL depends on (not the batch or channels). */
function geometryKey(s: Pool2dShape): string {
  const { inHeight, inWidth, outHeight, outWidth, kernel, stride } = s;
  return JSON.stringify({ inHeight, inWidth, outHeight, outWidth, kernel, stride });
}

/** Runs `launch` over the batch, in chunks of images when a tensor is over the binding limit:
 *  `planes` says whether each buffer holds input planes (H × W) or output planes (OH × OW). */
function byImages(
  gpu: Gpu,
  s: Pool2dShape,
  buffers: [Binding, 'in' | 'out', RowOperand['access']][],
  launch: (chunk: Pool2dShape, windows: Binding[]) => void,
): void {
  const bytes = { in: s.channels * s.inHeight * s.inWidth * 4, out: s.channels * s.outHeight * s.outWidth * 4 };
  const operands = buffers.map(([buffer, planes, access]) => ({ buffer, rowBytes: bytes[planes], access }));
  forRowChunks(gpu, s.batch, operands, ({ count, windows }) => launch({ ...s, batch: count }, windows));
}

/** WGSL decoding of output index `i` into its plane and the top-left input offset of its window. */
function windowOrigin(s: Pool2dShape): string {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, stride: S } = s;
  return `
  let ow = i % ${OW}u;
  let oh = (i / ${OW}u) % ${OH}u;
  let plane = i / ${OH * OW}u;
  let origin = plane * ${H * W}u + oh * ${S * W}u + ow * ${S}u;`;
}

/** `fn firstMax(origin) -> u32`: window offset (a·W + b) of the first maximum, scanned row-major. */
function firstMaxFunction(s: Pool2dShape): string {
  const { inWidth: W, kernel: K } = s;
  return `
fn firstMax(origin: u32) -> u32 {
  var best = 0u;
  var bestValue = x[origin];
  for (var a = 0u; a < ${K}u; a++) {
    for (var b = 0u; b < ${K}u; b++) {
      let off = a * ${W}u + b;
      let v = x[origin + off];
      if (v > bestValue) { best = off; bestValue = v; }
    }
  }
  return best;
}`;
}

/** Max pooling of NCHW x: y [batch, channels, outHeight, outWidth]. */
export function maxPool2d(gpu: Gpu, x: Binding, s: Pool2dShape): GpuBuffer {
  const out = gpu.acquire(outCount(s) * 4);
  if (outCount(s) > 0)
    byImages(
      gpu,
      s,
      [
        [x, 'in', 'read'],
        [out, 'out', 'write'],
      ],
      (c, [xw, ow]) => maxPool2dInto(gpu, xw, ow, c),
    );
  return out;
}

function maxPool2dInto(gpu: Gpu, x: Binding, out: Binding, s: Pool2dShape): void {
  const pipeline = gpu.program(
    'maxPool2d',
    geometryKey(s),
    () => `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${firstMaxFunction(s)}
${countedMain('i', 'arrayLength(&out)')}
${windowOrigin(s)}
  out[i] = x[origin + firstMax(origin)];
}`,
  );
  gpu.dispatch(pipeline, [x, sized(out, outCount(s))], grid(outCount(s)).workgroups);
}

/** Average pooling of NCHW x: y [batch, channels, outHeight, outWidth]. */
export function avgPool2d(gpu: Gpu, x: Binding, s: Pool2dShape): GpuBuffer {
  const out = gpu.acquire(outCount(s) * 4);
  if (outCount(s) > 0)
    byImages(
      gpu,
      s,
      [
        [x, 'in', 'read'],
        [out, 'out', 'write'],
      ],
      (c, [xw, ow]) => avgPool2dInto(gpu, xw, ow, c),
    );
  return out;
}

function avgPool2dInto(gpu: Gpu, x: Binding, out: Binding, s: Pool2dShape): void {
  const { inWidth: W, kernel: K } = s;
  const pipeline = gpu.program(
    'avgPool2d',
    geometryKey(s),
    () => `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${countedMain('i', 'arrayLength(&out)')}
${windowOrigin(s)}
  var acc = 0.0;
  for (var a = 0u; a < ${K}u; a++) {
    for (var b = 0u; b < ${K}u; b++) { acc += x[origin + a * ${W}u + b]; }
  }
  out[i] = acc / ${K * K}.0;
}`,
  );
  gpu.dispatch(pipeline, [x, sized(out, outCount(s))], grid(outCount(s)).workgroups);
}

/**
 * WGSL for one input element `i` (decoded into plane, h, w): the output rows oh0..oh1 and columns
 * ow0..ow1 whose windows contain it, i.e. oh·S ≤ h < oh·S + K, clipped to the output. When the
 * range is empty (an element no window reaches, e.g. the floor remainder) the loops do nothing.
 */
function windowsContaining(s: Pool2dShape): string {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, kernel: K, stride: S } = s;
  // First window: ceil((h − K + 1) / S) clamped at 0, computed without going negative in u32.
  return `
  let w = i % ${W}u;
  let h = (i / ${W}u) % ${H}u;
  let plane = i / ${H * W}u;
  let oh0 = select(0u, (h + ${S}u - ${K}u) / ${S}u, h + ${S}u >= ${K}u);
  let ow0 = select(0u, (w + ${S}u - ${K}u) / ${S}u, w + ${S}u >= ${K}u);
  let oh1 = min(h / ${S}u, ${Math.max(OH - 1, 0)}u);
  let ow1 = min(w / ${S}u, ${Math.max(OW - 1, 0)}u);`;
}

/**
 * Non-overlapping windows (stride ≥ kernel): the input splits into S×S cells, cell (ci, cj) holding
 * window (ci, cj) in its top-left K×K corner (when that window exists) and zeros elsewhere. One
 * invocation per cell reads its window once and writes the whole cell: every dx element is written
 * by exactly one invocation, without the K²-fold re-reading of the per-element gather.
 * `body` sees plane, ci, cj, inside (whether the cell holds a window), cell (the input offset of the
 * cell's corner) and o (its output index when inside); it writes the cell through `put(a, b, v)`.
 * `dx` must be bound to exactly the input's elements: the number of planes is arrayLength(&dx) / (H·W).
 */
function cellKernel(s: Pool2dShape, bindings: string, body: string): string {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, stride: S } = s;
  const CH = Math.ceil(H / S);
  const CW = Math.ceil(W / S);
  return `
${bindings}
${countedMain('i', `arrayLength(&dx) / ${H * W}u * ${CH * CW}u`)}
  let cj = i % ${CW}u;
  let ci = (i / ${CW}u) % ${CH}u;
  let plane = i / ${CH * CW}u;
  let inside = ci < ${OH}u && cj < ${OW}u;
  let cell = plane * ${H * W}u + ci * ${S * W}u + cj * ${S}u;
  let o = (plane * ${OH}u + ci) * ${OW}u + cj;
  ${body}
}

fn put(cell: u32, ci: u32, cj: u32, a: u32, b: u32, v: f32) {
  if (ci * ${S}u + a < ${H}u && cj * ${S}u + b < ${W}u) { dx[cell + a * ${W}u + b] = v; }
}`;
}

/** The workgroups of a cell kernel: one invocation per S×S cell of every plane. */
function cellGrid(s: Pool2dShape): [number, number] {
  return grid(s.batch * s.channels * Math.ceil(s.inHeight / s.stride) * Math.ceil(s.inWidth / s.stride)).workgroups;
}

/** WGSL statements writing every element (a, b) of the S×S cell as `value` (an expression of a, b). */
function writeCell(s: Pool2dShape, value: string): string {
  return `for (var a = 0u; a < ${s.stride}u; a++) {
    for (var b = 0u; b < ${s.stride}u; b++) { put(cell, ci, cj, a, b, ${value}); }
  }`;
}

/** dx of max pooling: each window's dy to its first maximal element (as the CPU reference). */
export function maxPool2dBackward(gpu: Gpu, dy: Binding, x: Binding, s: Pool2dShape): GpuBuffer {
  const dx = gpu.acquire(inCount(s) * 4);
  if (inCount(s) > 0)
    byImages(
      gpu,
      s,
      [
        [dy, 'out', 'read'],
        [x, 'in', 'read'],
        [dx, 'in', 'write'],
      ],
      (c, [g, xw, d]) => maxPool2dBackwardInto(gpu, g, xw, d, c),
    );
  return dx;
}

function maxPool2dBackwardInto(gpu: Gpu, dy: Binding, x: Binding, dx: Binding, s: Pool2dShape): void {
  const n = inCount(s);
  const dxExact = sized(dx, n);
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, stride: S } = s;
  const bindings = `
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
${firstMaxFunction(s)}`;
  if (S >= s.kernel) {
    const pipeline = gpu.program('maxPool2dBackwardCells', geometryKey(s), () =>
      cellKernel(
        s,
        bindings,
        `
  var best = 0xffffffffu;
  var g = 0.0;
  if (inside) {
    best = firstMax(cell);
    g = dy[o];
  }
  ${writeCell(s, `select(0.0, g, a * ${W}u + b == best)`)}`,
      ),
    );
    gpu.dispatch(pipeline, [dy, x, dxExact], cellGrid(s));
    return;
  }
  const pipeline = gpu.program(
    'maxPool2dBackward',
    geometryKey(s),
    () => `
${bindings}
${countedMain('i', 'arrayLength(&dx)')}
${windowsContaining(s)}
  var acc = 0.0;
  for (var oh = oh0; oh <= oh1; oh++) {
    for (var ow = ow0; ow <= ow1; ow++) {
      let origin = plane * ${H * W}u + oh * ${S * W}u + ow * ${S}u;
      // This element's offset within the window (a·W + b with a = h − oh·S, b = w − ow·S).
      if (firstMax(origin) == (h - oh * ${S}u) * ${W}u + (w - ow * ${S}u)) {
        acc += dy[(plane * ${OH}u + oh) * ${OW}u + ow];
      }
    }
  }
  dx[i] = acc;
}`,
  );
  gpu.dispatch(pipeline, [dy, x, dxExact], grid(n).workgroups);
}

/** dx of average pooling: each window's dy spread evenly over its elements. */
export function avgPool2dBackward(gpu: Gpu, dy: Binding, s: Pool2dShape): GpuBuffer {
  const dx = gpu.acquire(inCount(s) * 4);
  if (inCount(s) > 0)
    byImages(
      gpu,
      s,
      [
        [dy, 'out', 'read'],
        [dx, 'in', 'write'],
      ],
      (c, [g, d]) => avgPool2dBackwardInto(gpu, g, d, c),
    );
  return dx;
}

function avgPool2dBackwardInto(gpu: Gpu, dy: Binding, dx: Binding, s: Pool2dShape): void {
  const n = inCount(s);
  const dxExact = sized(dx, n);
  const { outHeight: OH, outWidth: OW, kernel: K, stride: S } = s;
  const bindings = `
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;`;
  if (S >= K) {
    const pipeline = gpu.program('avgPool2dBackwardCells', geometryKey(s), () =>
      cellKernel(
        s,
        bindings,
        `
  var g = 0.0;
  if (inside) { g = dy[o] / ${K * K}.0; }
  ${writeCell(s, `select(0.0, g, a < ${K}u && b < ${K}u)`)}`,
      ),
    );
    gpu.dispatch(pipeline, [dy, dxExact], cellGrid(s));
    return;
  }
  const pipeline = gpu.program(
    'avgPool2dBackward',
    geometryKey(s),
    () => `
${bindings}
${countedMain('i', 'arrayLength(&dx)')}
${windowsContaining(s)}
  var acc = 0.0;
  for (var oh = oh0; oh <= oh1; oh++) {
    for (var ow = ow0; ow <= ow1; ow++) { acc += dy[(plane * ${OH}u + oh) * ${OW}u + ow] / ${K * K}.0; }
  }
  dx[i] = acc;
}`,
  );
  gpu.dispatch(pipeline, [dy, dxExact], grid(n).workgroups);
}
