// NCHW convolution with weights [out, in, kh, kw]: forward, backward-input and backward-filter, each
// an implicit GEMM (the im2col matrix is never written to memory; its entries are gathered in the
// inner loop).
//
// Forward and backward-input share one kernel, the "row tile" (a correlation of a zero-padded source):
//   out[n, r, q] = Σ_{c, kh, kw} A(r, c, kh, kw) · src[n, c, window(q) + (kh, kw)]
// forward:        r = out channel o, c = in channel,  A = w[o, c, kh, kw],  src = x,  q = output pixel
// backward-input: r = in channel,    c = out channel, A = w[c, r, kh, kw] (flipped), src = dy, q = input
// pixel; at stride S one such correlation per phase of the input pixels (see conv2dBackwardInput).
//
// Register blocking: an invocation computes TM rows × TN pixels. On lavapipe the 8 lanes of one SIMD
// vector are consecutive invocations along x, so rows go along y: every lane of a vector reads the
// same weights (a scalar broadcast), and only the src reads are gathers. The reduction loop runs over
// channels with the KH·KW taps unrolled, and each accumulator is written once per channel (on lavapipe
// every write to a loop-carried variable costs a blend). With subgroups (lavapipe: 8 lanes) the weights
// are not loaded by every lane but split across the subgroup and shared by subgroupBroadcast, which
// makes more rows per invocation pay (8 rows × 2 × 6 pixels; plans in kernels/conv_plan.ts).
//
// Backward-filter is a GEMM with a long reduction (dw[o, c, kh, kw] = Σ_{n, pixel} dy · x): the batch is
// split into chunks, each workgroup sums one chunk, and a second pass adds the chunks (split-K). With
// subgroups, the lanes of a subgroup share the dy values of a step of output columns by subgroupBroadcast.
//
// A batch whose tensors are over the binding limit runs in chunks of images (kernels/chunks.ts): each
// chunk is the same pass at a smaller batch, on windows of x, dy and the output; the weight gradient
// adds the chunks' sums.

import type { Conv2dShape } from '../engine/backend.js';
import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { binary } from './binary.js';
import { type RowOperand, chunkTarget, forRowChunks } from './chunks.js';
import { fillBinding } from './fill.js';
import { reducePlanes } from './reduce_planes.js';
import {
  type BackwardFilterConfig,
  type BackwardFilterPlan,
  type ConvVariant,
  type RowTileConfig,
  SUBGROUP_MIN_FLOPS,
  backwardFilterConfigOf,
  backwardFilterPlan,
  backwardInputPlan,
  convFlops,
  convVariants,
  defaultConvVariant,
  rowTileConfigOf,
  type RowTilePlan,
  rowTilePlan,
} from './conv_plan.js';
import { type TunableOp, scratchOperand, tunerOf } from './tune.js';
import { UNARY_WGSL } from './elementwise_ops.js';
import { flatIndex, grid } from './wgsl.js';
import { VEC4_COMPONENTS, fmaChain } from './wgsl_emitters.js';

/** A multiply of the row-tile kernel: weight (kh, kw) times the source at window position (row, col). */
interface Tap {
  kh: number;
  kw: number;
  row: number;
  col: number;
}

/** One row-tile pass: a stride-`stride` correlation of a source stored already padded (no read needs a
 *  bounds check), computing a grid of pixels and storing it, possibly strided, into an output plane. */
interface RowTilePass {
  name: string;
  rows: number;
  channels: number;
  /** The stored source plane. */
  sourceHeight: number;
  sourceWidth: number;
  /** Computed pixel (a, b), a < gridHeight and b < gridWidth, has its window at source
   *  (originRow + stride·a, originCol + stride·b). */
  gridHeight: number;
  gridWidth: number;
  stride: number;
  originRow: number;
  originCol: number;
  taps: Tap[];
  /** The weight tensor's kernel size, and WGSL for the index of weight (kh, kw) of row `r` (a u32
   *  expression) and the loop channel c. */
  kernelHeight: number;
  kernelWidth: number;
  weightIndex: (r: string, kh: number, kw: number) => string;
  /** Pixel (a, b) is stored at (row0 + step·a, col0 + step·b) of a height × width plane. */
  out: { height: number; width: number; step: number; row0: number; col0: number };
  /** ReLU on the stored values (after the bias). */
  relu: boolean;
}

type RowTileWeights = Pick<RowTilePass, 'name' | 'rows' | 'channels' | 'kernelHeight' | 'kernelWidth' | 'weightIndex'>;

/**
 * The weights as the row-tile kernel reads them: `w` itself, or rearranged (rowsInnermost), kept by the
 * Gpu while `w` is unchanged, so an attack's passes over fixed weights rearrange them once. The caller
 * calls `done` after recording the passes that read them.
 */
function rowTileWeights(
  gpu: Gpu,
  w: Binding,
  p: RowTileWeights,
  config: RowTileConfig,
): { weights: Binding; done: () => void } {
  if (!rowTilePlan(p.rows, 1, 1, 1, config).vecRows) return { weights: w, done: () => {} };
  const { kernelHeight: KH, kernelWidth: KW } = p;
  const bytes = p.channels * p.rows * KH * KW * 4;
  const { buffer, release } = gpu.derived(`${p.name}_weights|${p.channels}|${p.rows}|${KH}|${KW}`, w, bytes, (out) =>
    rowsInnermost(gpu, w, p, out),
  );
  return {
    weights: buffer,
    done: () => {
      if (release) gpu.release(buffer);
    },
  };
}

/** Runs one row-tile pass over `s.batch` images. */
function rowTilePass(
  gpu: Gpu,
  src: Binding,
  weights: Binding,
  out: Binding,
  bias: Binding | null,
  s: Conv2dShape,
  p: RowTilePass,
  config: RowTileConfig,
): void {
  const plan = rowTilePlan(p.rows, s.batch, p.gridHeight, p.gridWidth, config);
  // Unrolled for one shape: the key names everything the source depends on.
  const pipeline = gpu.program(
    p.name,
    `${JSON.stringify(s)}|${JSON.stringify(p)}|${bias !== null}|${JSON.stringify(plan)}`,
    () => rowTileShader(p, plan, bias !== null),
  );
  gpu.dispatch(pipeline, bias ? [src, weights, out, bias] : [src, weights, out], plan.workgroups);
}

// An invocation computes TM rows × a TH × TN block of output pixels. Neighbouring pixels share most
// of their window, so per channel it loads ((TH−1)·S + KH)·((TN−1)·S + KW) inputs instead of
// KH·KW·TH·TN. TH > 1 only where few rows leave registers free (a first layer's input gradient).
// With subgroups, the lanes of one subgroup (all on the same rows) split the channel's TM·taps weights
// between them, one vec4 each, and pass them around with subgroupBroadcast (a register extract on
// lavapipe) instead of each lane loading all of them.
//
// WGSL names: r{i} the clamped row i of the invocation; at{h}_{w} the index (from the window corner) and
// x{h}_{w} the value of the source at window offset (h, w); a{i}_{k} the weight of row i at tap k;
// acc{i}_{j} the sum of row i at the tile's pixel j.
/** The WGSL of a row-tile pass under a plan (with a bias binding when `bias`). */
function rowTileShader(p: RowTilePass, plan: RowTilePlan, bias: boolean): string {
  const { tm, wx, wy, vecRows, subgroup } = plan;
  const pixels = tilePixels(plan);
  const reads = sourceReads(p, pixels);
  const tapIndex = p.taps.map((t) => t.kh * p.kernelWidth + t.kw);
  const identityTaps = tapIndex.every((t, k) => t === k);
  const lines = [
    ...rowTileOrigin(p, plan),
    `  let corner = (qh0 * ${p.stride}u + ${p.originRow}u) * ${p.sourceWidth}u + qw0 * ${p.stride}u + ${p.originCol}u;`,
    ...reads.map(([name, offset]) => `  let at${name} = corner + ${offset}u;`),
    // The bias starts each sum: added at the store, lavapipe compiled and ran the forwards slower (docs/notes/kernels.md).
    ...(bias ? range(tm).map((i) => `  let bias${i} = bias[r${i}];`) : []),
    ...range(tm).flatMap((i) => pixels.map((_, j) => `  var acc${i}_${j} = ${bias ? `bias${i}` : '0.0'};`)),
    ...(vecRows ? range(tm / 4).map((g) => `  let rg${g} = min(row0 + ${4 * g}u, ${p.rows - 4}u) / 4u;`) : []),
    `  for (var c = 0u; c < ${p.channels}u; c++) {`,
    `    let plane = (n * ${p.channels}u + c) * ${p.sourceHeight * p.sourceWidth}u;`,
    ...reads.map(([name]) => `    let x${name} = src[plane + at${name}];`),
    ...(subgroup ? sharedWeights(p, plan, identityTaps) : ownWeights(p, plan, tapIndex)),
    ...range(tm).flatMap((i) =>
      pixels.map(
        ([a, b], j) =>
          `    acc${i}_${j} += ${fmaChain(p.taps.map((t, k) => [`a${i}_${k}`, `x${windowOffset(p, a, b, t)}`]))};`,
      ),
    ),
    '  }',
    ...rowTileStores(p, plan, pixels),
  ];
  return `${subgroup ? 'enable subgroups;' : ''}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> ${vecRows ? 'w4: array<vec4f>' : 'w: array<f32>'};
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : ''}
${subgroup && !identityTaps ? `const tapIndex = array<u32, ${p.taps.length}>(${tapIndex.map((t) => `${t}u`).join(', ')});` : ''}
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u${subgroup ? ', @builtin(subgroup_invocation_id) sid: u32' : ''}) {
  let row0 = (wg.y * ${wy}u + lid.y) * ${tm}u;
${lines.join('\n')}
}`;
}

/** 0, 1, …, count − 1. */
const range = (count: number) => Array.from({ length: count }, (_, i) => i);

/** The tile's pixels (a, b), a < TH, b < TN, row by row: pixel j is the j-th. */
function tilePixels(plan: RowTilePlan): [number, number][] {
  const pixels: [number, number][] = [];
  for (let a = 0; a < plan.th; a++) for (let b = 0; b < plan.tn; b++) pixels.push([a, b]);
  return pixels;
}

/** The WGSL name of the source position that tap t reads for pixel (a, b): its offset from the window corner. */
const windowOffset = (p: RowTilePass, a: number, b: number, t: Tap) =>
  `${a * p.stride + t.row}_${b * p.stride + t.col}`;

/** The source positions the tile reads, as [name, offset from the corner], in load order (by offset). */
function sourceReads(p: RowTilePass, pixels: [number, number][]): [string, number][] {
  const reads = new Map<string, number>();
  for (const [a, b] of pixels)
    for (const t of p.taps)
      reads.set(windowOffset(p, a, b, t), (a * p.stride + t.row) * p.sourceWidth + b * p.stride + t.col);
  return [...reads].sort((x, y) => x[1] - y[1]);
}

/** The invocation's clamped rows r{i}, and its tile: image n and first pixel (qh0, qw0). */
function rowTileOrigin(p: RowTilePass, plan: RowTilePlan): string[] {
  const { tm, th, tn, wx, tiles, tileRows, tilesPerRow } = plan;
  return [
    ...range(tm).map((i) => `  let r${i} = min(row0 + ${i}u, ${p.rows - 1}u);`),
    `  let tile = min(wg.x * ${wx}u + lid.x, ${tiles - 1}u);`,
    `  let n = tile / ${tileRows * tilesPerRow}u;`,
    `  let qh0 = (tile % ${tileRows * tilesPerRow}u) / ${tilesPerRow}u * ${th}u;`,
    `  let qw0 = (tile % ${tilesPerRow}u) * ${tn}u;`,
  ];
}

/** The channel's weights a{i}_{k}, every lane loading its own: as vec4s of 4 rows (weights rows-innermost) or one float each. */
function ownWeights(p: RowTilePass, plan: RowTilePlan, tapIndex: number[]): string[] {
  const kernelTaps = p.kernelHeight * p.kernelWidth;
  const lines: string[] = [];
  p.taps.forEach((t, k) => {
    if (plan.vecRows) {
      for (let g = 0; g < plan.tm / 4; g++) {
        lines.push(`    let a_${k}_${g} = w4[(c * ${kernelTaps}u + ${tapIndex[k]}u) * ${p.rows / 4}u + rg${g}];`);
        for (let r = 0; r < 4; r++) lines.push(`    let a${4 * g + r}_${k} = a_${k}_${g}.${VEC4_COMPONENTS[r]};`);
      }
    } else {
      for (let i = 0; i < plan.tm; i++) lines.push(`    let a${i}_${k} = w[${p.weightIndex(`r${i}`, t.kh, t.kw)}];`);
    }
  });
  return lines;
}

/** The channel's weights a{i}_{k}, shared across the subgroup. Unit v = (tap k, row group g),
 *  k = v / groups, g = v % groups: loaded by lane v % sg into slot v / sg, then broadcast. */
function sharedWeights(p: RowTilePass, plan: RowTilePlan, identityTaps: boolean): string[] {
  const { subgroup: sg } = plan;
  const kernelTaps = p.kernelHeight * p.kernelWidth;
  const groups = plan.tm / 4;
  const units = p.taps.length * groups;
  const lines: string[] = [];
  for (let q = 0; q < Math.ceil(units / sg); q++) {
    lines.push(`    let v${q} = min(sid + ${q * sg}u, ${units - 1}u);`);
    const tap = identityTaps ? `v${q} / ${groups}u` : `tapIndex[v${q} / ${groups}u]`;
    lines.push(
      `    let as${q} = w4[(c * ${kernelTaps}u + ${tap}) * ${p.rows / 4}u + min(row0 + 4u * (v${q} % ${groups}u), ${p.rows - 4}u) / 4u];`,
    );
  }
  p.taps.forEach((_, k) => {
    for (let g = 0; g < groups; g++) {
      const v = k * groups + g;
      lines.push(`    let a_${k}_${g} = subgroupBroadcast(as${Math.floor(v / sg)}, ${v % sg}u);`);
      for (let r = 0; r < 4; r++) lines.push(`    let a${4 * g + r}_${k} = a_${k}_${g}.${VEC4_COMPONENTS[r]};`);
    }
  });
  return lines;
}

/** The guarded stores of the tile's sums (through ReLU when the pass has it). */
function rowTileStores(p: RowTilePass, plan: RowTilePlan, pixels: [number, number][]): string[] {
  const { tm, th, tn, wx, tiles } = plan;
  const { height, width, step } = p.out;
  const lines = [
    `  let live = wg.x * ${wx}u + lid.x < ${tiles}u;`,
    // Where the tile's first pixel goes in its output plane.
    `  let dst = (qh0 * ${step}u + ${p.out.row0}u) * ${width}u + qw0 * ${step}u + ${p.out.col0}u;`,
  ];
  for (let i = 0; i < tm; i++) {
    pixels.forEach(([a, b], j) => {
      const value = `acc${i}_${j}`;
      const rowsPast = p.gridHeight % th ? ` && qh0 + ${a}u < ${p.gridHeight}u` : '';
      const colsPast = p.gridWidth % tn ? ` && qw0 + ${b}u < ${p.gridWidth}u` : '';
      const store = `out[(n * ${p.rows}u + row0 + ${i}u) * ${height * width}u + dst + ${a * step * width + b * step}u]`;
      lines.push(
        `  if (live && row0 + ${i}u < ${p.rows}u${rowsPast}${colsPast}) { ${p.relu ? `let v = ${value}; ${store} = ${UNARY_WGSL.relu};` : `${store} = ${value};`} }`,
      );
    });
  }
  return lines;
}

/** The weights rearranged into `out` as [channel, kh, kw, row]: entry ((c·KH + kh)·KW + kw)·R + r. */
function rowsInnermost(gpu: Gpu, w: Binding, p: RowTileWeights, out: GpuBuffer): void {
  const { kernelHeight: KH, kernelWidth: KW } = p;
  const total = p.channels * p.rows;
  const { workgroups, stride } = grid(total);
  const pipeline = gpu.program(`${p.name}_weights`, `${p.channels}|${p.rows}|${KH}|${KW}`, () => {
    const lines: string[] = [];
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++)
        lines.push(`  out[(c * ${KH * KW}u + ${kh * KW + kw}u) * ${p.rows}u + r] = w[${p.weightIndex('r', kh, kw)}];`);
    }
    return `
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${flatIndex(total, stride)}
  let r = i % ${p.rows}u;
  let c = i / ${p.rows}u;
${lines.join('\n')}
}`;
  });
  gpu.dispatch(pipeline, [w, out], workgroups);
}

/** planes × PH × PW: each H × W plane of x placed at (pad, pad), in zeros. A zero-padded copy, made in
 *  one cheap pass, keeps bounds checks out of the row-tile kernel's inner loop. An invocation writes
 *  one padded row (unrolled): on lavapipe several times faster than an invocation per element
 *  (docs/notes/kernels.md). */
function padded(
  gpu: Gpu,
  x: Binding,
  planes: number,
  H: number,
  W: number,
  pad: number,
  PH: number,
  PW: number,
  reluMask: Binding | null = null,
): GpuBuffer {
  const rows = planes * PH;
  const out = gpu.acquire(rows * PW * 4);
  const { workgroups, stride } = grid(rows);
  const masked = reluMask !== null;
  const name = masked ? 'conv2d_pad_masked' : 'conv2d_pad';
  const pipeline = gpu.program(name, `${planes}|${H}|${W}|${pad}|${PH}|${PW}`, () => {
    const L: string[] = [];
    for (let v = 0; v < PW; v++) {
      const col = v - pad;
      // Masked: x where the mask is positive, as passIfPositive(mask, x) gives it.
      const keep = masked ? `inside && m[row + ${col}u] > 0.0` : 'inside';
      L.push(`  out[i * ${PW}u + ${v}u] = ${col >= 0 && col < W ? `select(0.0, x[row + ${col}u], ${keep})` : '0.0'};`);
    }
    return `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;${masked ? '\n@group(0) @binding(2) var<storage, read> m: array<f32>;' : ''}
${flatIndex(rows, stride)}
  let h = i32(i % ${PH}u) - ${pad};
  let inside = u32(h) < ${H}u;
  // Outside the plane's rows: a safe address, zeroed by select.
  let row = (i / ${PH}u) * ${H * W}u + u32(select(0, h * ${W}, inside));
${L.join('\n')}
}`;
  });
  gpu.dispatch(pipeline, masked ? [x, out, reluMask] : [x, out], workgroups);
  return out;
}

/** Zeros all of `out` (the fill kernel: one pipeline for every size). */
function zeroFill(gpu: Gpu, out: Binding): void {
  fillBinding(gpu, out, out.bytes / 4, 0, 'float32');
}

/** NCHW convolution forward (with optional bias, then ReLU when `relu`): y [batch, outChannels, outHeight,
 *  outWidth]. `config` overrides the row-tile knobs (benchmarks and tests compare them). */
export function conv2d(
  gpu: Gpu,
  x: Binding,
  w: Binding,
  bias: Binding | null,
  s: Conv2dShape,
  config?: RowTileConfig,
  relu = false,
): GpuBuffer {
  config ??= rowTileConfigOf(chosenVariant(gpu, forwardTunable, s), gpu.subgroupSize);
  const {
    batch: B,
    inChannels: C,
    inHeight: H,
    inWidth: W,
    outChannels: O,
    outHeight: OH,
    outWidth: OW,
    kernelHeight: KH,
    kernelWidth: KW,
    stride: S,
    padding: P,
  } = s;
  const total = B * O * OH * OW;
  const out = gpu.acquire(total * 4);
  if (total === 0) return out;
  if (C === 0) {
    zeroFill(gpu, out);
    return out;
  }
  const taps: Tap[] = [];
  for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) taps.push({ kh, kw, row: kh, col: kw });
  const p: RowTilePass = {
    name: 'conv2d_forward',
    rows: O,
    channels: C,
    sourceHeight: H + 2 * P,
    sourceWidth: W + 2 * P,
    gridHeight: OH,
    gridWidth: OW,
    stride: S,
    originRow: 0,
    originCol: 0,
    taps,
    kernelHeight: KH,
    kernelWidth: KW,
    weightIndex: (r, kh, kw) => `(${r} * ${C}u + c) * ${KH * KW}u + ${kh * KW + kw}u`,
    out: { height: OH, width: OW, step: 1, row0: 0, col0: 0 },
    relu,
  };
  const { weights, done } = rowTileWeights(gpu, w, p, config);
  const operands = [
    { buffer: x, rowBytes: C * H * W * 4, access: 'read' },
    { buffer: out, rowBytes: O * OH * OW * 4, access: 'write' },
  ] as const;
  const paddedBytes = P > 0 ? C * p.sourceHeight * p.sourceWidth * 4 : 0;
  forRowChunks(
    gpu,
    B,
    operands,
    ({ count, windows: [xw, ow] }) => {
      const src = P > 0 ? padded(gpu, xw, count * C, H, W, P, p.sourceHeight, p.sourceWidth) : xw;
      rowTilePass(gpu, src, weights, ow, bias, { ...s, batch: count }, p, config);
      if (src !== xw) gpu.release(src.owner);
    },
    paddedBytes,
  );
  done();
  return out;
}

// The input gradient by phases (sub-pixel decomposition): the input pixels of one phase (h mod S,
// v mod S) each take the same subset of the kernel taps, from a dense stride-1 neighbourhood of dy.
// So each phase is a stride-1 convolution of dy (not spread out by the stride: no multiply hits a
// zero) with a flipped sub-kernel, stored to every S-th input pixel. At stride 1 it is one phase: the
// whole flipped kernel over dy padded by K − 1 − P.
/** Gradient of the convolution w.r.t. its input: dx [batch, inChannels, inHeight, inWidth] from dy and w;
 *  with `reluMask` (dy's shape), of dy passed only where the mask is positive: masked as dy is padded. */
export function conv2dBackwardInput(
  gpu: Gpu,
  dy: Binding,
  w: Binding,
  s: Conv2dShape,
  config?: RowTileConfig,
  reluMask: Binding | null = null,
): GpuBuffer {
  config ??= rowTileConfigOf(chosenVariant(gpu, backwardInputTunable, s), gpu.subgroupSize);
  const {
    batch: B,
    inChannels: C,
    inHeight: H,
    inWidth: W,
    outChannels: O,
    outHeight: OH,
    outWidth: OW,
    kernelHeight: KH,
    kernelWidth: KW,
    stride: S,
  } = s;
  const total = B * C * H * W;
  const out = gpu.acquire(total * 4);
  if (total === 0) return out;
  const { rowPhases, colPhases, rowsUsed, colsUsed, pad, PH, PW } = backwardInputPlan(s);
  if (O === 0 || rowsUsed.length === 0 || colsUsed.length === 0) {
    zeroFill(gpu, out);
    return out;
  }
  const layout: RowTileWeights = {
    name: 'conv2d_backward_input',
    rows: C,
    channels: O,
    kernelHeight: KH,
    kernelWidth: KW,
    // The flipped kernel, rows r = in channels, loop channel c = out channel: w[c, r, KH − 1 − kh, KW − 1 − kw].
    weightIndex: (r, kh, kw) => `(c * ${C}u + ${r}) * ${KH * KW}u + ${(KH - 1 - kh) * KW + (KW - 1 - kw)}u`,
  };
  const { weights, done } = rowTileWeights(gpu, w, layout, config);
  const operands: RowOperand[] = [
    { buffer: dy, rowBytes: O * OH * OW * 4, access: 'read' },
    { buffer: out, rowBytes: C * H * W * 4, access: 'write' },
  ];
  if (reluMask) operands.push({ buffer: reluMask, rowBytes: O * OH * OW * 4, access: 'read' });
  forRowChunks(
    gpu,
    B,
    operands,
    ({ count, windows: [dyw, ow, maskw] }) => {
      // Phases no tap reaches (a 1x1 kernel's at stride 2: 3 of 4) are zeros, and pooled buffers are not.
      if (rowsUsed.length < rowPhases.length || colsUsed.length < colPhases.length) zeroFill(gpu, ow);
      const planes = count * O;
      const src =
        PH > OH || PW > OW
          ? padded(gpu, dyw, planes, OH, OW, pad, PH, PW, maskw ?? null)
          : maskw
            ? binary(
                gpu,
                'passIfPositive',
                maskw,
                [planes * OH * OW],
                dyw,
                [planes * OH * OW],
                [planes * OH * OW],
                'float32',
              )
            : dyw;
      // One dispatch per phase: on lavapipe a dispatch costs a tiny share of a phase pass at
      // PreAct-ResNet18's shapes (docs/notes/kernels.md), so one launch over all phases would gain nothing.
      for (const rp of rowsUsed) {
        for (const cp of colsUsed) {
          // Window position v reads dy position (a + base − taps + 1) + v, through kernel tap j = taps − 1 − v:
          // k = first + S·j, at index KH − 1 − k of the flipped kernel.
          const taps: Tap[] = [];
          for (let v = 0; v < rp.taps; v++) {
            for (let u = 0; u < cp.taps; u++) {
              taps.push({
                kh: KH - 1 - (rp.first + S * (rp.taps - 1 - v)),
                kw: KW - 1 - (cp.first + S * (cp.taps - 1 - u)),
                row: v,
                col: u,
              });
            }
          }
          rowTilePass(
            gpu,
            src,
            weights,
            ow,
            null,
            { ...s, batch: count },
            {
              ...layout,
              sourceHeight: PH,
              sourceWidth: PW,
              gridHeight: rp.pixels,
              gridWidth: cp.pixels,
              stride: 1,
              originRow: pad + rp.base - rp.taps + 1,
              originCol: pad + cp.base - cp.taps + 1,
              taps,
              out: { height: H, width: W, step: S, row0: rp.q, col0: cp.q },
              relu: false,
            },
            config,
          );
        }
      }
      if (src !== dyw) gpu.release(src.owner);
    },
    O * PH * PW * 4,
  );
  done();
  return out;
}

/** Gradient of the convolution w.r.t. its weight: dw [outChannels, inChannels, kh, kw] from x and dy (a big batch in chunks, whose sums add up). */
export function conv2dBackwardFilter(
  gpu: Gpu,
  x: Binding,
  dy: Binding,
  s: Conv2dShape,
  config?: BackwardFilterConfig,
  options: { bias?: boolean; reluMask?: Binding | null } = {},
): { weight: GpuBuffer; bias: GpuBuffer | null } {
  config ??= backwardFilterConfigOf(chosenVariant(gpu, backwardFilterTunable, s), gpu.subgroupSize);
  const knobs = config;
  const {
    batch: B,
    inChannels: C,
    inHeight: H,
    inWidth: W,
    outChannels: O,
    outHeight: OH,
    outWidth: OW,
    kernelHeight: KH,
    kernelWidth: KW,
  } = s;
  const mask = options.reluMask ?? null;
  const total = O * C * KH * KW;
  const weight = gpu.acquire(total * 4);
  const bias = options.bias ? gpu.acquire(O * 4) : null;
  if (B * OH * OW === 0) {
    if (total > 0) zeroFill(gpu, weight);
    if (bias && O > 0) zeroFill(gpu, bias);
    return { weight, bias };
  }
  if (total === 0) {
    // No in channels: no weight-gradient pass to sum the bias in.
    if (bias && O > 0) biasBySum(gpu, dy, mask, s, bias);
    return { weight, bias };
  }
  const operands: RowOperand[] = [
    { buffer: x, rowBytes: C * H * W * 4, access: 'read' },
    { buffer: dy, rowBytes: O * OH * OW * 4, access: 'read' },
  ];
  if (mask) operands.push({ buffer: mask, rowBytes: O * OH * OW * 4, access: 'read' });
  forRowChunks(gpu, B, operands, ({ count, index, windows: [xw, dyw, maskw] }) => {
    const w = chunkTarget(gpu, weight, total, index);
    const b = bias ? chunkTarget(gpu, bias, O, index) : null;
    backwardFilterInto(
      gpu,
      { x: xw, dy: dyw, mask: maskw ?? null },
      w.target,
      b?.target ?? null,
      { ...s, batch: count },
      knobs,
    );
    w.done();
    b?.done();
  });
  return { weight, bias };
}

/** bias[o] = Σ dy over the batch and pixels of out channel o (dy passed where `mask` > 0 when given), in
 *  the plane reduction: for a conv without in channels, whose weight gradient is empty. */
function biasBySum(gpu: Gpu, dy: Binding, mask: Binding | null, s: Conv2dShape, bias: Binding): void {
  const n = s.batch * s.outChannels * s.outHeight * s.outWidth;
  const g = mask ? binary(gpu, 'passIfPositive', mask, [n], dy, [n], [n], 'float32') : dy;
  const layout = { outer: s.batch, kept: s.outChannels, inner: s.outHeight * s.outWidth };
  reducePlanes(gpu, 'sum', g, layout, 'float32', bias);
  if (g !== dy) gpu.release(g.owner);
}

// Rows are out channels (TM per invocation, along y); columns are in channels (one per invocation, all
// KH·KW taps of it, along x), so the lanes of a vector need the same dy values and only x is gathered.
// The pixel loop steps TW output columns at a time: their windows overlap, so a step gathers
// KH·((TW−1)·S + KW) inputs instead of KH·KW·TW, and each accumulator is written once per step.
// With subgroups the lanes do not each load all TM·TW dy values of a step: lane l loads column l's TM
// values and subgroupBroadcast passes them round (a register extract on lavapipe), so a step of TW =
// subgroup size columns costs each lane TM loads of dy instead of TM·TW.
// The bias gradient (Σ dy per out channel) rides along: the first workgroup column (in channels from 0)
// also adds up the dy values it loads, and its in channel 0 writes them; the ReLU mask, where given,
// zeroes dy as it is loaded. Neither needs a pass or a tensor of its own.
function backwardFilterInto(
  gpu: Gpu,
  src: { x: Binding; dy: Binding; mask: Binding | null },
  out: Binding,
  biasOut: Binding | null,
  s: Conv2dShape,
  config: BackwardFilterConfig,
): void {
  const total = s.outChannels * s.inChannels * s.kernelHeight * s.kernelWidth;
  const O = s.outChannels;
  const plan = backwardFilterPlan(s, config, gpu.bindingLimit);
  const form: BackwardFilterForm = { bias: biasOut !== null, masked: src.mask !== null };
  const split = plan.chunks > 1;
  const partial = split ? gpu.acquire(plan.chunks * total * 4) : out;
  const biasPartial = biasOut && split ? gpu.acquire(plan.chunks * O * 4) : biasOut;
  const pipeline = gpu.program(
    'conv2d_backward_filter',
    `${JSON.stringify(s)}|${JSON.stringify(plan)}|${form.bias}|${form.masked}`,
    () => backwardFilterShader(s, plan, form),
  );
  const bindings = [src.x, src.dy, partial];
  if (src.mask) bindings.push(src.mask);
  if (biasPartial) bindings.push(biasPartial);
  gpu.dispatch(pipeline, bindings, [plan.groupsX, plan.groupsY, plan.chunks]);
  if (!split) return;
  // Second pass: add the chunks' partial sums in a fixed order (deterministic), the bias's after the weight's.
  const used = plan.chunks;
  const items = total + (biasOut ? O : 0);
  const { workgroups, stride } = grid(items);
  const sum = gpu.program('conv2d_backward_filter_sum', `${total}|${biasOut ? O : 0}|${used}|${stride}`, () =>
    backwardFilterSumShader(total, biasOut ? O : 0, used, stride),
  );
  gpu.dispatch(sum, biasOut ? [partial, out, biasPartial!, biasOut] : [partial, out], workgroups);
  gpu.release(partial.owner);
  if (biasPartial && biasPartial !== biasOut) gpu.release(biasPartial.owner);
}

/** What a weight-gradient kernel computes besides dW: the bias gradient, and the ReLU mask on dy. */
interface BackwardFilterForm {
  bias: boolean;
  masked: boolean;
}

/** out[i] = Σ_k part[k][i] for i < total, then (with `outChannels`) bias[o] = Σ_k biasPart[k][o]. */
function backwardFilterSumShader(total: number, outChannels: number, used: number, stride: number): string {
  const bias = outChannels > 0;
  return `
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;${
    bias
      ? `
@group(0) @binding(2) var<storage, read> biasPart: array<f32>;
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;`
      : ''
  }
${flatIndex(total + outChannels, stride)}
  var acc = 0.0;${
    bias
      ? `
  if (i >= ${total}u) {
    let o = i - ${total}u;
    for (var k = 0u; k < ${used}u; k++) { acc += biasPart[k * ${outChannels}u + o]; }
    bias[o] = acc;
    return;
  }`
      : ''
  }
  for (var k = 0u; k < ${used}u; k++) { acc += part[k * ${total}u + i]; }
  out[i] = acc;
}`;
}

// WGSL names: o{i} the clamped out channel of row i, c the in channel; acc{i}_{t} the sum of row i at tap
// t = kh·KW + kw; in a step of output columns, g{i}_{j} dy of row i at the step's column j, and x{kh}_{col}
// the input at kernel row kh, column col from the step's first window.
/** The weight gradient's WGSL: workgroup layer z sums images [z·perChunk, (z + 1)·perChunk) into part[z]. */
function backwardFilterShader(s: Conv2dShape, plan: BackwardFilterPlan, form: BackwardFilterForm): string {
  const {
    batch: B,
    inChannels: C,
    inHeight: H,
    inWidth: W,
    outChannels: O,
    outHeight: OH,
    outWidth: OW,
    kernelHeight: KH,
    kernelWidth: KW,
    stride: S,
    padding: P,
  } = s;
  const { tm, wx, wy, tw, perChunk, subgroup } = plan;
  const KK = KH * KW;
  const full = Math.floor(OW / tw) * tw;
  const lines = [
    ...range(tm).map((i) => `  let o${i} = min(row0 + ${i}u, ${O - 1}u);`),
    `  let c = min(col0, ${C - 1}u);`,
    ...range(tm).flatMap((i) => range(KK).map((t) => `  var acc${i}_${t} = 0.0;`)),
    // The bias sums: in the first workgroup column only (the same for every workgroup of it).
    ...(form.bias ? ['  let sumsBias = wg.x == 0u;', ...range(tm).map((i) => `  var bacc${i} = 0.0;`)] : []),
    `  let nEnd = min((wg.z + 1u) * ${perChunk}u, ${B}u);`,
    `  for (var n = wg.z * ${perChunk}u; n < nEnd; n++) {`,
    `    let xPlane = (n * ${C}u + c) * ${H * W}u;`,
    ...range(tm).map((i) => `    let dyPlane${i} = (n * ${O}u + o${i}) * ${OH * OW}u;`),
    `    for (var oh = 0; oh < ${OH}; oh++) {`,
    `      let h = oh * ${S} - ${P};`,
    ...range(KH).map((kh) => `      let rowOk${kh} = u32(h + ${kh}) < ${H}u;`),
    // Steps of tw output columns, then the columns left over.
    ...(full > 0
      ? [
          `      for (var ow0 = 0; ow0 < ${full}; ow0 += ${tw}) {`,
          ...columnStep(s, plan, form, 'ow0', tw, '        '),
          '      }',
        ]
      : []),
    ...(OW > full ? ['      {', ...columnStep(s, plan, form, `${full}`, OW - full, '        '), '      }'] : []),
    '    }',
    '  }',
    ...range(tm).flatMap((i) =>
      range(KK).map(
        (t) =>
          `  if (row0 + ${i}u < ${O}u && col0 < ${C}u) { part[wg.z * ${O * C * KK}u + ((row0 + ${i}u) * ${C}u + col0) * ${KK}u + ${t}u] = acc${i}_${t}; }`,
      ),
    ),
    ...(form.bias
      ? range(tm).map(
          (i) => `  if (row0 + ${i}u < ${O}u && col0 == 0u) { biasPart[wg.z * ${O}u + row0 + ${i}u] = bacc${i}; }`,
        )
      : []),
  ];
  const extra = [
    ...(form.masked ? ['var<storage, read> m: array<f32>;'] : []),
    ...(form.bias ? ['var<storage, read_write> biasPart: array<f32>;'] : []),
  ].map((decl, k) => `\n@group(0) @binding(${3 + k}) ${decl}`);
  return `${subgroup ? 'enable subgroups;' : ''}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;${extra.join('')}
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u${subgroup ? ', @builtin(subgroup_invocation_id) sid: u32' : ''}) {
  let row0 = (wg.y * ${wy}u + lid.y) * ${tm}u;
  let col0 = wg.x * ${wx}u + lid.x;
${lines.join('\n')}
}`;
}

/** One step of `count` output columns from `ow0` (a WGSL expression) of output row oh: the dy values g{i}_{j}
 *  (with a subgroup, lane j loads column j and broadcasts it), the inputs x{kh}_{col} their windows cover
 *  (0 outside the image when padded), and each accumulator's update. */
function columnStep(
  s: Conv2dShape,
  plan: BackwardFilterPlan,
  form: BackwardFilterForm,
  ow0: string,
  count: number,
  indent: string,
): string[] {
  const { inWidth: W, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const { tm, subgroup } = plan;
  const lines = [`let v = ${ow0} * ${S} - ${P};`, `let pix = u32(oh * ${OW} + ${ow0});`];
  // dy at index k, zero where the ReLU mask is not positive (as passIfPositive(mask, dy) gives it).
  const load = (name: string, k: string) =>
    form.masked
      ? [`let k${name} = ${k};`, `let ${name} = select(0.0, dy[k${name}], m[k${name}] > 0.0);`]
      : [`let ${name} = dy[${k}];`];
  if (subgroup) {
    for (let i = 0; i < tm; i++) lines.push(...load(`d${i}`, `dyPlane${i} + pix + min(sid, ${count - 1}u)`));
    for (let i = 0; i < tm; i++)
      for (let j = 0; j < count; j++) lines.push(`let g${i}_${j} = subgroupBroadcast(d${i}, ${j}u);`);
  } else {
    for (let i = 0; i < tm; i++)
      for (let j = 0; j < count; j++) lines.push(...load(`g${i}_${j}`, `dyPlane${i} + pix + ${j}u`));
  }
  if (form.bias) {
    const sums = range(tm).map(
      (i) =>
        `bacc${i} += ${range(count)
          .map((j) => `g${i}_${j}`)
          .join(' + ')};`,
    );
    lines.push('if (sumsBias) {', ...sums.map((line) => `  ${line}`), '}');
  }
  for (let kh = 0; kh < KH; kh++) {
    for (let col = 0; col < (count - 1) * S + KW; col++) {
      const at = `(h + ${kh}) * ${W} + v + ${col}`;
      const ok = `ok${kh}_${col}`;
      if (P === 0) lines.push(`let x${kh}_${col} = x[xPlane + u32(${at})];`);
      else
        lines.push(
          `let ${ok} = rowOk${kh} && u32(v + ${col}) < ${W}u;`,
          `let x${kh}_${col} = select(0.0, x[xPlane + u32(select(0, ${at}, ${ok}))], ${ok});`,
        );
    }
  }
  for (let i = 0; i < tm; i++) {
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++)
        lines.push(
          `acc${i}_${kh * KW + kw} += ${fmaChain(range(count).map((j) => [`g${i}_${j}`, `x${kh}_${j * S + kw}`]))};`,
        );
    }
  }
  return lines.map((line) => indent + line);
}

// ---- The tuner's view: which tile variant each conv shape runs (kernels/tune.ts, `yopo tune`). ----

/** The variant the device's tuner picks for shape `s` (the built-in default without a tuner). Convs under
 *  SUBGROUP_MIN_FLOPS keep the plain tiles without asking: a choice measured at a bigger batch would
 *  compile a large tile for a call that takes well under a millisecond. */
function chosenVariant(gpu: Gpu, op: TunableOp<Conv2dShape>, s: Conv2dShape): ConvVariant {
  if (convFlops(s) < SUBGROUP_MIN_FLOPS) return 'plain';
  return (tunerOf(gpu)?.choose(op, s) as ConvVariant | undefined) ?? defaultConvVariant(s, gpu.subgroupSize);
}

/** A shape as the tuning cache names it: C×H×W → O, kernel, stride, padding, without the batch. The tile
 *  that wins at one batch size is the one to run at the others, so `yopo tune` at the training batch
 *  also serves the evaluation's and the attacks' batches. */
export function convShapeKey(s: Conv2dShape): string {
  return `${s.inChannels}x${s.inHeight}x${s.inWidth}→${s.outChannels} k${s.kernelHeight}x${s.kernelWidth} s${s.stride} p${s.padding}`;
}

type ConvPass = 'forward' | 'backward_input' | 'backward_filter';

/** One conv pass as a TunableOp. The forward is timed without a bias or ReLU and its choice serves
 *  all four forms: they only change the kernel's first and last lines, not its loop. */
function convTunable(pass: ConvPass): TunableOp<Conv2dShape> {
  return {
    op: `conv2d_${pass}`,
    key: convShapeKey,
    variants: (gpu) => convVariants(gpu.subgroupSize, pass === 'backward_filter' ? 'filter' : 'row'),
    defaultVariant: (gpu, s) => defaultConvVariant(s, gpu.subgroupSize),
    workload(gpu, s) {
      const x = scratchOperand(gpu, s.batch * s.inChannels * s.inHeight * s.inWidth);
      const w = scratchOperand(gpu, s.outChannels * s.inChannels * s.kernelHeight * s.kernelWidth);
      const dy = scratchOperand(gpu, s.batch * s.outChannels * s.outHeight * s.outWidth);
      const sg = gpu.subgroupSize;
      const run = (variant: ConvVariant): GpuBuffer => {
        if (pass === 'forward') return conv2d(gpu, x, w, null, s, rowTileConfigOf(variant, sg));
        if (pass === 'backward_input') return conv2dBackwardInput(gpu, dy, w, s, rowTileConfigOf(variant, sg));
        return conv2dBackwardFilter(gpu, x, dy, s, backwardFilterConfigOf(variant, sg)).weight;
      };
      return {
        run: (variant) => gpu.release(run(variant as ConvVariant)),
        dispose: () => [x, w, dy].forEach((buf) => gpu.release(buf)),
      };
    },
  };
}

export const forwardTunable = convTunable('forward');
export const backwardInputTunable = convTunable('backward_input');
export const backwardFilterTunable = convTunable('backward_filter');
