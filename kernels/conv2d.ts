// NCHW convolution with weights [out, in, kh, kw]: forward, backward-input and backward-filter, each
// an implicit GEMM (the im2col matrix is never written to memory; its entries are gathered in the
// inner loop).
//
// Forward and backward-input share one kernel, "gather conv": every output element is
//   out[n, r, q] = Σ_{c, kh, kw} A(r, c, kh, kw) · src[n, c, tap(q, kh, kw)]
// forward:        r = out channel o, c = in channel,  A = w[o, c, kh, kw],  src = x,  q = output pixel
// backward-input: r = in channel c,  c = out channel, A = w[o, c, kh, kw],  src = dy, q = input pixel
// (the tap is where the window of q reads; for backward-input it is the output pixel whose window
// covered q through (kh, kw), present only where the stride divides the offset).
//
// Register blocking: an invocation computes TM rows × TN pixels. On lavapipe the 8 lanes of one SIMD
// vector are consecutive invocations along x, so rows go along y: every lane of a vector reads the
// same weights (a scalar broadcast), and only the src reads are gathers. The reduction loop runs over
// channels with the KH·KW taps unrolled, and each accumulator is written once per channel (on lavapipe
// every write to a loop-carried variable costs a blend).
//
// Backward-filter is a GEMM with a long reduction (dw[o, c, kh, kw] = Σ_{n, pixel} dy · x): the batch is
// split into chunks, each workgroup sums one chunk, and a second pass adds the chunks (split-K).

import type { Conv2dShape } from '../engine/backend.js';
import type { Gpu, GpuBuffer } from '../engine/webgpu/gpu.js';
import { flatIndex, grid } from './wgsl.js';

const LANES = 64;

// Generated WGSL by kernel and shape: the unrolled sources take a fraction of a millisecond to build,
// and the first-layer kernels run dozens of times per YOPO step.
const sources = new Map<string, string>();
function generated(key: string, build: () => string): string {
  let code = sources.get(key);
  if (code === undefined) sources.set(key, (code = build()));
  return code;
}

/** Most output pixels per row tile (12 measured best on lavapipe among 6, 8, 12 and 16). */
const TN_MAX = 12;

/** Rows per invocation and the workgroup's shape for `rows` output rows (few rows: all lanes on pixels). */
function blocking(rows: number): { tm: number; wx: number; wy: number } {
  const tm = Math.min(4, rows);
  const wy = Math.min(8, 2 ** Math.ceil(Math.log2(Math.ceil(rows / tm))));
  return { tm, wy, wx: LANES / wy };
}

interface GatherPlan {
  name: string;
  /** Output rows (r), reduction channels (c), output pixels per image (q = qh·QW + qw). */
  rows: number;
  channels: number;
  QH: number;
  QW: number;
  /** WGSL: index of A(r, c, kh, kw) given `r` (a u32 expression) and the loop variable c. */
  weightIndex: (r: string, kh: number, kw: number) => string;
  /** WGSL statements defining, for pixel j, `sb{j}` (i32 base of image n's channel 0 plus the tap
   *  offset origin) from n{j}, qh{j}, qw{j}; and per tap, the offset and validity. */
  srcPlane: number;
  srcPerImage: number;
  /** Per pixel j and tap: [i32 offset expression from the pixel's base, validity expression or null]. */
  tap: (j: number, kh: number, kw: number) => [string, string | null];
  /** WGSL lines computing per-pixel values used by `tap`, given n{j}, qh{j}, qw{j}. */
  pixelSetup: (j: number) => string[];
}

function gatherConv(gpu: Gpu, src: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, s: Conv2dShape, p: GatherPlan): GpuBuffer {
  const { batch: B, kernelHeight: KH, kernelWidth: KW } = s;
  const { rows: R, channels: CR, QH, QW } = p;
  const Q = QH * QW;
  const cols = B * Q;
  const out = gpu.acquire(B * R * Q * 4);
  if (B * R * Q === 0) return out;
  if (CR === 0) {
    gpu.dispatch(gpu.pipeline('conv_zero', zeroCode(B * R * Q)), [out], grid(B * R * Q).workgroups);
    return out;
  }
  const { tm, wx, wy } = blocking(R);
  const tn = 4;
  const workgroups: [number, number, number] = [Math.ceil(cols / (wx * tn)), Math.ceil(R / (wy * tm)), 1];
  const code = generated(`${p.name}|${JSON.stringify(s)}|${bias !== null}`, () => {
    const L: string[] = [];
    for (let i = 0; i < tm; i++) L.push(`  let r${i} = min(row0 + ${i}u, ${R - 1}u);`);
    for (let j = 0; j < tn; j++) {
      L.push(`  let q${j} = min(col0 + ${j}u, ${cols - 1}u);`);
      L.push(`  let n${j} = q${j} / ${Q}u;`, `  let qh${j} = i32((q${j} % ${Q}u) / ${QW}u);`, `  let qw${j} = i32(q${j} % ${QW}u);`);
      L.push(`  let sb${j} = i32(n${j} * ${p.srcPerImage}u);`);
      L.push(...p.pixelSetup(j).map((l) => `  ${l}`));
    }
    // Validity of each (pixel, tap) does not depend on the channel: computed once, outside the loop.
    const taps: [number, number][] = [];
    for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) taps.push([kh, kw]);
    const srcAt: string[][] = [];
    for (let j = 0; j < tn; j++) {
      srcAt[j] = [];
      for (const [kh, kw] of taps) {
        const [offset, valid] = p.tap(j, kh, kw);
        const t = `${kh}_${kw}`;
        if (valid) {
          L.push(`  let ok${j}_${t} = ${valid};`);
          // An invalid tap reads a safe address and is zeroed by select.
          L.push(`  let o${j}_${t} = select(0, sb${j} + ${offset}, ok${j}_${t});`);
          srcAt[j].push(`select(0.0, src[u32(o${j}_${t}) + plane], ok${j}_${t})`);
        } else {
          L.push(`  let o${j}_${t} = u32(sb${j} + ${offset});`);
          srcAt[j].push(`src[o${j}_${t} + plane]`);
        }
      }
    }
    for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) L.push(`  var acc${i}_${j} = 0.0;`);
    L.push(`  for (var c = 0u; c < ${CR}u; c++) {`, `    let plane = c * ${p.srcPlane}u;`);
    taps.forEach(([kh, kw], t) => {
      for (let i = 0; i < tm; i++) L.push(`    let a${i}_${t} = w[${p.weightIndex(`r${i}`, kh, kw)}];`);
      for (let j = 0; j < tn; j++) L.push(`    let b${j}_${t} = ${srcAt[j][t]};`);
    });
    for (let i = 0; i < tm; i++) {
      for (let j = 0; j < tn; j++) {
        let sum = `a${i}_${taps.length - 1} * b${j}_${taps.length - 1}`;
        for (let t = taps.length - 2; t >= 0; t--) sum = `fma(a${i}_${t}, b${j}_${t}, ${sum})`;
        L.push(`    acc${i}_${j} += ${sum};`);
      }
    }
    L.push('  }');
    for (let i = 0; i < tm; i++) {
      for (let j = 0; j < tn; j++) {
        const value = bias ? `acc${i}_${j} + bias[r${i}]` : `acc${i}_${j}`;
        L.push(`  if (row0 + ${i}u < ${R}u && col0 + ${j}u < ${cols}u) { out[(n${j} * ${R}u + row0 + ${i}u) * ${Q}u + q${j} % ${Q}u] = ${value}; }`);
      }
    }
    return `
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : ''}
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = (wg.y * ${wy}u + lid.y) * ${tm}u;
  let col0 = (wg.x * ${wx}u + lid.x) * ${tn}u;
${L.join('\n')}
}`;
  });
  gpu.dispatch(gpu.pipeline(p.name, code), bias ? [src, w, out, bias] : [src, w, out], workgroups);
  return out;
}

function zeroCode(total: number): string {
  const { stride } = grid(total);
  return `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
${flatIndex(total, stride)}
  out[i] = 0.0;
}`;
}

/** The row-tile kernel: what a stride-S convolution (padding PAD) of `src` computes, with weights read
 *  through `weightIndex`. Used by the forward pass and, with the kernel flipped, by backward-input at
 *  stride 1. */
interface RowTilePlan {
  name: string;
  rows: number;
  channels: number;
  /** src spatial size and output spatial size. */
  SH: number;
  SW: number;
  QH: number;
  QW: number;
  stride: number;
  pad: number;
  /** Read the input with this many pixels between neighbours (zeros between): strided backward-input. */
  dilation?: number;
  /** WGSL: index of the weight for output row `r`, loop channel `c` and tap (kh, kw). */
  weightIndex: (r: string, kh: number, kw: number) => string;
}

// An invocation computes TM rows × a TH × TN block of output pixels. Neighbouring pixels share most
// of their window, so per channel it loads ((TH−1)·S + KH)·((TN−1)·S + KW) inputs instead of
// KH·KW·TH·TN. TH > 1 only where few rows leave registers free (a first layer's input gradient).
function rowTileConv(gpu: Gpu, input: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, s: Conv2dShape, p: RowTilePlan): GpuBuffer {
  const { batch: B, kernelHeight: KH, kernelWidth: KW } = s;
  const { rows: R, channels: CR, QH, QW, stride: S, pad: PAD } = p;
  // A zero-padded (and, for dilation d, zero-spread) copy of the input, made in one cheap pass, keeps
  // bounds checks out of the inner loop. Spread, it is sized for a stride-1 output of QH × QW.
  const d = p.dilation ?? 1;
  const SH = d > 1 ? QH + KH - 1 : p.SH + 2 * PAD;
  const SW = d > 1 ? QW + KW - 1 : p.SW + 2 * PAD;
  const total = B * R * QH * QW;
  const out = gpu.acquire(total * 4);
  if (total === 0) return out;
  if (CR === 0) {
    gpu.dispatch(gpu.pipeline('conv_zero', zeroCode(total)), [out], grid(total).workgroups);
    return out;
  }
  const { tm, wx, wy } = blocking(R);
  // Tiles of at most TN_MAX pixels that split the row evenly (26 → 3 × 9, 10 → 1 × 10), and as many
  // rows as keep the accumulators at 32 or fewer.
  const tn = Math.ceil(QW / Math.ceil(QW / TN_MAX));
  const thMax = Math.max(1, Math.min(QH, Math.floor(32 / (tm * tn))));
  const th = Math.ceil(QH / Math.ceil(QH / thMax));
  const tilesPerRow = Math.ceil(QW / tn);
  const tileRows = Math.ceil(QH / th);
  const tiles = B * tileRows * tilesPerRow;
  const U = (tn - 1) * S + KW;
  const V = (th - 1) * S + KH;
  const workgroups: [number, number, number] = [Math.ceil(tiles / wx), Math.ceil(R / (wy * tm)), 1];
  if (workgroups[0] > 65535) throw new Error(`conv2d: ${tiles} pixel tiles exceed one dispatch (limit ${65535 * wx})`);
  const src = PAD > 0 || d > 1 ? spread(gpu, input, B * CR, p.SH, p.SW, PAD, d, SH, SW) : input;
  // Weights as [channel, tap, row] so that the TM = 4 rows of one tap are one aligned vec4 load.
  const vecRows = tm === 4 && R % 4 === 0;
  const weights = vecRows ? rowsInnermost(gpu, w, p, KH, KW) : w;
  const code = generated(`${p.name}|${JSON.stringify(s)}|${bias !== null}`, () => {
    const L: string[] = [];
    for (let i = 0; i < tm; i++) L.push(`  let r${i} = min(row0 + ${i}u, ${R - 1}u);`);
    L.push(`  let tile = min(wg.x * ${wx}u + lid.x, ${tiles - 1}u);`);
    L.push(`  let n = tile / ${tileRows * tilesPerRow}u;`);
    L.push(`  let qh0 = (tile % ${tileRows * tilesPerRow}u) / ${tilesPerRow}u * ${th}u;`);
    L.push(`  let qw0 = (tile % ${tilesPerRow}u) * ${tn}u;`);
    // Where each (v, u) input of the tile's window sits in its channel plane.
    L.push(`  let corner = qh0 * ${S * SW}u + qw0 * ${S}u;`);
    for (let v = 0; v < V; v++) for (let u = 0; u < U; u++) L.push(`  let at${v}_${u} = corner + ${v * SW + u}u;`);
    const px: [number, number][] = [];
    for (let a = 0; a < th; a++) for (let b = 0; b < tn; b++) px.push([a, b]);
    for (let i = 0; i < tm; i++) for (let j = 0; j < px.length; j++) L.push(`  var acc${i}_${j} = 0.0;`);
    L.push(`  for (var c = 0u; c < ${CR}u; c++) {`, `    let plane = (n * ${CR}u + c) * ${SH * SW}u;`);
    for (let v = 0; v < V; v++) for (let u = 0; u < U; u++) L.push(`    let x${v}_${u} = src[plane + at${v}_${u}];`);
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        if (vecRows) {
          L.push(`    let a_${kh}_${kw} = w4[(c * ${KH * KW}u + ${kh * KW + kw}u) * ${R / 4}u + rowGroup];`);
          for (let i = 0; i < tm; i++) L.push(`    let a${i}_${kh}_${kw} = a_${kh}_${kw}.${'xyzw'[i]};`);
        } else {
          for (let i = 0; i < tm; i++) L.push(`    let a${i}_${kh}_${kw} = w[${p.weightIndex(`r${i}`, kh, kw)}];`);
        }
      }
    }
    for (let i = 0; i < tm; i++) {
      px.forEach(([a, b], j) => {
        const terms: [string, string][] = [];
        for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) terms.push([`a${i}_${kh}_${kw}`, `x${a * S + kh}_${b * S + kw}`]);
        let sum = `${terms[terms.length - 1][0]} * ${terms[terms.length - 1][1]}`;
        for (let t = terms.length - 2; t >= 0; t--) sum = `fma(${terms[t][0]}, ${terms[t][1]}, ${sum})`;
        L.push(`    acc${i}_${j} += ${sum};`);
      });
    }
    L.push('  }');
    L.push(`  let live = wg.x * ${wx}u + lid.x < ${tiles}u;`);
    for (let i = 0; i < tm; i++) {
      px.forEach(([a, b], j) => {
        const value = bias ? `acc${i}_${j} + bias[r${i}]` : `acc${i}_${j}`;
        const guard = `live && row0 + ${i}u < ${R}u${QH % th ? ` && qh0 + ${a}u < ${QH}u` : ''}${QW % tn ? ` && qw0 + ${b}u < ${QW}u` : ''}`;
        L.push(`  if (${guard}) { out[((n * ${R}u + row0 + ${i}u) * ${QH}u + qh0 + ${a}u) * ${QW}u + qw0 + ${b}u] = ${value}; }`);
      });
    }
    return `
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> ${vecRows ? 'w4: array<vec4f>' : 'w: array<f32>'};
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : ''}
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = (wg.y * ${wy}u + lid.y) * ${tm}u;
${vecRows ? `  let rowGroup = min(row0, ${R - 4}u) / 4u;` : ''}
${L.join('\n')}
}`;
  });
  gpu.dispatch(gpu.pipeline(p.name, code), bias ? [src, weights, out, bias] : [src, weights, out], workgroups);
  if (src !== input) gpu.release(src);
  if (weights !== w) gpu.release(weights);
  return out;
}

/** The plan's weights rearranged to [channel, kh, kw, row]: entry ((c·KH + kh)·KW + kw)·R + r. */
function rowsInnermost(gpu: Gpu, w: GpuBuffer, p: RowTilePlan, KH: number, KW: number): GpuBuffer {
  const total = p.channels * p.rows;
  const out = gpu.acquire(total * KH * KW * 4);
  const { workgroups, stride } = grid(total);
  const code = generated(`${p.name}_weights|${p.channels}|${p.rows}|${KH}|${KW}`, () => {
    const lines: string[] = [];
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) lines.push(`  out[(c * ${KH * KW}u + ${kh * KW + kw}u) * ${p.rows}u + r] = w[${p.weightIndex('r', kh, kw)}];`);
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
  gpu.dispatch(gpu.pipeline(`${p.name}_weights`, code), [w, out], workgroups);
  return out;
}

/** planes × PH × PW: each H × W plane of x placed at (pad, pad) with d − 1 zeros between neighbours,
 *  in zeros. */
function spread(gpu: Gpu, x: GpuBuffer, planes: number, H: number, W: number, pad: number, d: number, PH: number, PW: number): GpuBuffer {
  const total = planes * PH * PW;
  const out = gpu.acquire(total * 4);
  const { workgroups, stride } = grid(total);
  const code = `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${flatIndex(total, stride)}
  let v = i32(i % ${PW}u) - ${pad};
  let h = i32((i / ${PW}u) % ${PH}u) - ${pad};
  let plane = i / ${PH * PW}u;
  let inside = h >= 0 && v >= 0 && h % ${d} == 0 && v % ${d} == 0 && h / ${d} < ${H} && v / ${d} < ${W};
  out[i] = select(0.0, x[plane * ${H * W}u + u32(select(0, (h / ${d}) * ${W} + v / ${d}, inside))], inside);
}`;
  gpu.dispatch(gpu.pipeline('conv2d_spread', code), [x, out], workgroups);
  return out;
}

export function conv2d(gpu: Gpu, x: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, s: Conv2dShape): GpuBuffer {
  const { inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  return rowTileConv(gpu, x, w, bias, s, {
    name: 'conv2d_forward',
    rows: O,
    channels: C,
    SH: H,
    SW: W,
    QH: OH,
    QW: OW,
    stride: S,
    pad: P,
    weightIndex: (r, kh, kw) => `(${r} * ${C}u + c) * ${KH * KW}u + ${kh * KW + kw}u`,
  });
}

export function conv2dBackwardInput(gpu: Gpu, dy: GpuBuffer, w: GpuBuffer, s: Conv2dShape): GpuBuffer {
  const { inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  // 1x1 strided kernels stay on the gather kernel: spreading would make 3/4 of their work zeros, and
  // it measured slower for two of PreAct-ResNet18's three shortcut shapes.
  if (KH === KW && P < KH && (S === 1 || KH > 1)) {
    // The input gradient is a stride-1 convolution with the flipped kernel of dy spread out by the
    // stride (S − 1 zeros between neighbours) and padded by K − 1 − P.
    return rowTileConv(gpu, dy, w, null, s, {
      name: 'conv2d_backward_input',
      rows: C,
      channels: O,
      SH: OH,
      SW: OW,
      QH: H,
      QW: W,
      stride: 1,
      pad: KH - 1 - P,
      dilation: S,
      weightIndex: (r, kh, kw) => `(c * ${C}u + ${r}) * ${KH * KW}u + ${(KH - 1 - kh) * KW + (KW - 1 - kw)}u`,
    });
  }
  return gatherConv(gpu, dy, w, null, s, {
    name: 'conv2d_backward_input_strided',
    rows: C,
    channels: O,
    QH: H,
    QW: W,
    // A(r = in channel, c = out channel) = w[c, r, kh, kw].
    weightIndex: (r, kh, kw) => `(c * ${C}u + ${r}) * ${KH * KW}u + ${kh * KW + kw}u`,
    srcPlane: OH * OW,
    srcPerImage: O * OH * OW,
    // Input pixel (h, v) is read by output pixel ((h + P − kh)/S, (v + P − kw)/S) when S divides both.
    pixelSetup: (j) => [`let h${j} = qh${j} + ${P};`, `let v${j} = qw${j} + ${P};`],
    tap: (j, kh, kw) => {
      const th = `(h${j} - ${kh})`;
      const tw = `(v${j} - ${kw})`;
      if (S === 1) return [`${th} * ${OW} + ${tw}`, `u32${th} < ${OH}u && u32${tw} < ${OW}u`];
      // Non-negative before dividing (so / and % are exact), then in range.
      const valid = `${th} >= 0 && ${tw} >= 0 && ${th} % ${S} == 0 && ${tw} % ${S} == 0 && ${th} / ${S} < ${OH} && ${tw} / ${S} < ${OW}`;
      return [`(${th} / ${S}) * ${OW} + ${tw} / ${S}`, valid];
    },
  });
}

/** Batch chunks for split-K: enough workgroups to keep every core busy, each chunk at least 1 image. */
function chunksFor(batch: number, workgroups: number): number {
  return Math.max(1, Math.min(batch, Math.ceil(64 / workgroups)));
}

export function conv2dBackwardFilter(gpu: Gpu, x: GpuBuffer, dy: GpuBuffer, s: Conv2dShape): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const KK = KH * KW;
  const total = O * C * KK;
  const out = gpu.acquire(total * 4);
  if (total === 0) return out;
  if (B * OH * OW === 0) {
    gpu.dispatch(gpu.pipeline('conv_zero', zeroCode(total)), [out], grid(total).workgroups);
    return out;
  }
  // Rows are out channels (TM per invocation, along y); columns are in channels (one per invocation,
  // all KH·KW taps of it, along x).
  const tm = Math.min(4, O);
  const wx = Math.min(8, 2 ** Math.ceil(Math.log2(C)));
  const wy = Math.min(LANES / wx, 2 ** Math.ceil(Math.log2(Math.ceil(O / tm))));
  const groupsX = Math.ceil(C / wx);
  const groupsY = Math.ceil(O / (wy * tm));
  const chunks = chunksFor(B, groupsX * groupsY);
  const perChunk = Math.ceil(B / chunks);
  const used = Math.ceil(B / perChunk);
  const partial = used === 1 ? out : gpu.acquire(used * total * 4);

  const code = generated(`backward_filter|${JSON.stringify(s)}`, () => {
    const L: string[] = [];
    for (let i = 0; i < tm; i++) L.push(`  let o${i} = min(row0 + ${i}u, ${O - 1}u);`);
    L.push(`  let c = min(col0, ${C - 1}u);`);
    for (let i = 0; i < tm; i++) for (let t = 0; t < KK; t++) L.push(`  var acc${i}_${t} = 0.0;`);
    L.push(`  let nEnd = min((wg.z + 1u) * ${perChunk}u, ${B}u);`);
    L.push(`  for (var n = wg.z * ${perChunk}u; n < nEnd; n++) {`);
    L.push(`    let xPlane = (n * ${C}u + c) * ${H * W}u;`);
    for (let i = 0; i < tm; i++) L.push(`    let dyPlane${i} = (n * ${O}u + o${i}) * ${OH * OW}u;`);
    L.push(`    for (var oh = 0; oh < ${OH}; oh++) {`);
    L.push(`      let h = oh * ${S} - ${P};`);
    for (let kh = 0; kh < KH; kh++) L.push(`      let rowOk${kh} = u32(h + ${kh}) < ${H}u;`);
    L.push(`      for (var ow = 0; ow < ${OW}; ow++) {`);
    L.push(`        let v = ow * ${S} - ${P};`);
    L.push(`        let pix = u32(oh * ${OW} + ow);`);
    for (let i = 0; i < tm; i++) L.push(`        let g${i} = dy[dyPlane${i} + pix];`);
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        const t = kh * KW + kw;
        const at = `(h + ${kh}) * ${W} + v + ${kw}`;
        if (P === 0) L.push(`        let x${t} = x[xPlane + u32(${at})];`);
        else L.push(`        let ok${t} = rowOk${kh} && u32(v + ${kw}) < ${W}u;`, `        let x${t} = select(0.0, x[xPlane + u32(select(0, ${at}, ok${t}))], ok${t});`);
      }
    }
    for (let i = 0; i < tm; i++) for (let t = 0; t < KK; t++) L.push(`        acc${i}_${t} = fma(g${i}, x${t}, acc${i}_${t});`);
    L.push('      }', '    }', '  }');
    for (let i = 0; i < tm; i++) {
      for (let t = 0; t < KK; t++) {
        L.push(`  if (row0 + ${i}u < ${O}u && col0 < ${C}u) { part[wg.z * ${total}u + ((row0 + ${i}u) * ${C}u + col0) * ${KK}u + ${t}u] = acc${i}_${t}; }`);
      }
    }
    return `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = (wg.y * ${wy}u + lid.y) * ${tm}u;
  let col0 = wg.x * ${wx}u + lid.x;
${L.join('\n')}
}`;
  });
  gpu.dispatch(gpu.pipeline('conv2d_backward_filter', code), [x, dy, partial], [groupsX, groupsY, used]);
  if (partial === out) return out;
  // Second pass: add the chunks' partial sums in a fixed order (deterministic).
  const { workgroups, stride } = grid(total);
  const sum = `
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${flatIndex(total, stride)}
  var acc = 0.0;
  for (var k = 0u; k < ${used}u; k++) { acc += part[k * ${total}u + i]; }
  out[i] = acc;
}`;
  gpu.dispatch(gpu.pipeline('conv2d_backward_filter_sum', sum), [partial, out], workgroups);
  gpu.release(partial);
  return out;
}
