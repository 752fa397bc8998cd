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
// every write to a loop-carried variable costs a blend).
//
// Backward-filter is a GEMM with a long reduction (dw[o, c, kh, kw] = Σ_{n, pixel} dy · x): the batch is
// split into chunks, each workgroup sums one chunk, and a second pass adds the chunks (split-K).
//
// A batch whose tensors are over the binding limit runs in chunks of images (kernels/chunks.ts): each
// chunk is the same pass at a smaller batch, on windows of x, dy and the output; the weight gradient
// adds the chunks' sums.

import type { Conv2dShape } from '../engine/backend.js';
import type { Binding, Gpu, GpuBuffer } from '../engine/webgpu/gpu.js';
import { chunkTarget, forElementChunks, forRowChunks } from './chunks.js';
import { flatIndex, grid, vec4Main } from './wgsl.js';

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

/** A multiply of the row-tile kernel: weight (kh, kw) times the source at window position (v, u). */
interface Tap {
  kh: number;
  kw: number;
  v: number;
  u: number;
}

/** One row-tile pass: a stride-S correlation of a source stored already padded (no read needs a bounds
 *  check), computing a QH × QW grid of pixels and storing it, possibly strided, into an output plane. */
interface RowTilePass {
  name: string;
  rows: number;
  channels: number;
  /** The stored source plane. */
  SH: number;
  SW: number;
  /** Computed pixel (a, b), a < QH and b < QW, has its window at source (originH + S·a, originW + S·b). */
  QH: number;
  QW: number;
  stride: number;
  originH: number;
  originW: number;
  taps: Tap[];
  /** The weight tensor's kernel size, and WGSL for the index of weight (kh, kw) of row `r` (a u32
   *  expression) and the loop channel c. */
  KH: number;
  KW: number;
  weightIndex: (r: string, kh: number, kw: number) => string;
  /** Pixel (a, b) is stored at (h0 + step·a, w0 + step·b) of an OH × OW plane. */
  out: { OH: number; OW: number; step: number; h0: number; w0: number };
}

type RowTileWeights = Pick<RowTilePass, 'name' | 'rows' | 'channels' | 'KH' | 'KW' | 'weightIndex'>;

/** Whether the row-tile kernel reads the TM = 4 rows of one tap as one vec4 (weights in `rowsInnermost` order). */
function vectorRows(rows: number): boolean {
  return blocking(rows).tm === 4 && rows % 4 === 0;
}

/** The weights as the row-tile kernel reads them. The caller releases the result if it is not `w`. */
function rowTileWeights(gpu: Gpu, w: Binding, p: RowTileWeights): Binding {
  return vectorRows(p.rows) ? rowsInnermost(gpu, w, p) : w;
}

// An invocation computes TM rows × a TH × TN block of output pixels. Neighbouring pixels share most
// of their window, so per channel it loads ((TH−1)·S + KH)·((TN−1)·S + KW) inputs instead of
// KH·KW·TH·TN. TH > 1 only where few rows leave registers free (a first layer's input gradient).
function rowTilePass(gpu: Gpu, src: Binding, weights: Binding, out: Binding, bias: Binding | null, s: Conv2dShape, p: RowTilePass): void {
  const { batch: B } = s;
  const { rows: R, channels: CR, SH, SW, QH, QW, stride: S, taps } = p;
  const { OH, OW, step } = p.out;
  const { tm, wx, wy } = blocking(R);
  // Tiles of at most TN_MAX pixels that split the row evenly (26 → 3 × 9, 10 → 1 × 10), and as many
  // rows as keep the accumulators at 32 or fewer.
  const tn = Math.ceil(QW / Math.ceil(QW / TN_MAX));
  const thMax = Math.max(1, Math.min(QH, Math.floor(32 / (tm * tn))));
  const th = Math.ceil(QH / Math.ceil(QH / thMax));
  const tilesPerRow = Math.ceil(QW / tn);
  const tileRows = Math.ceil(QH / th);
  const tiles = B * tileRows * tilesPerRow;
  const workgroups: [number, number, number] = [Math.ceil(tiles / wx), Math.ceil(R / (wy * tm)), 1];
  if (workgroups[0] > 65535) throw new Error(`conv2d: ${tiles} pixel tiles exceed one dispatch (limit ${65535 * wx})`);
  const vecRows = vectorRows(R);
  const code = generated(`${p.name}|${JSON.stringify(s)}|${JSON.stringify(p)}|${bias !== null}`, () => {
    const L: string[] = [];
    for (let i = 0; i < tm; i++) L.push(`  let r${i} = min(row0 + ${i}u, ${R - 1}u);`);
    L.push(`  let tile = min(wg.x * ${wx}u + lid.x, ${tiles - 1}u);`);
    L.push(`  let n = tile / ${tileRows * tilesPerRow}u;`);
    L.push(`  let qh0 = (tile % ${tileRows * tilesPerRow}u) / ${tilesPerRow}u * ${th}u;`);
    L.push(`  let qw0 = (tile % ${tilesPerRow}u) * ${tn}u;`);
    const px: [number, number][] = [];
    for (let a = 0; a < th; a++) for (let b = 0; b < tn; b++) px.push([a, b]);
    // The source positions the tile reads, relative to its window corner, in load order.
    const at = (a: number, b: number, t: Tap) => `${a * S + t.v}_${b * S + t.u}`;
    const reads = new Map<string, number>();
    for (const [a, b] of px) for (const t of taps) reads.set(at(a, b, t), (a * S + t.v) * SW + b * S + t.u);
    const sorted = [...reads].sort((x, y) => x[1] - y[1]);
    L.push(`  let corner = (qh0 * ${S}u + ${p.originH}u) * ${SW}u + qw0 * ${S}u + ${p.originW}u;`);
    for (const [name, offset] of sorted) L.push(`  let at${name} = corner + ${offset}u;`);
    for (let i = 0; i < tm; i++) for (let j = 0; j < px.length; j++) L.push(`  var acc${i}_${j} = 0.0;`);
    L.push(`  for (var c = 0u; c < ${CR}u; c++) {`, `    let plane = (n * ${CR}u + c) * ${SH * SW}u;`);
    for (const [name] of sorted) L.push(`    let x${name} = src[plane + at${name}];`);
    taps.forEach((t, k) => {
      if (vecRows) {
        L.push(`    let a_${k} = w4[(c * ${p.KH * p.KW}u + ${t.kh * p.KW + t.kw}u) * ${R / 4}u + rowGroup];`);
        for (let i = 0; i < tm; i++) L.push(`    let a${i}_${k} = a_${k}.${'xyzw'[i]};`);
      } else {
        for (let i = 0; i < tm; i++) L.push(`    let a${i}_${k} = w[${p.weightIndex(`r${i}`, t.kh, t.kw)}];`);
      }
    });
    for (let i = 0; i < tm; i++) {
      px.forEach(([a, b], j) => {
        const terms = taps.map((t, k) => `a${i}_${k}, x${at(a, b, t)}`);
        let sum = terms[terms.length - 1].replace(', ', ' * ');
        for (let k = terms.length - 2; k >= 0; k--) sum = `fma(${terms[k]}, ${sum})`;
        L.push(`    acc${i}_${j} += ${sum};`);
      });
    }
    L.push('  }');
    L.push(`  let live = wg.x * ${wx}u + lid.x < ${tiles}u;`);
    // Where the tile's first pixel goes in its output plane.
    L.push(`  let dst = (qh0 * ${step}u + ${p.out.h0}u) * ${OW}u + qw0 * ${step}u + ${p.out.w0}u;`);
    for (let i = 0; i < tm; i++) {
      px.forEach(([a, b], j) => {
        const value = bias ? `acc${i}_${j} + bias[r${i}]` : `acc${i}_${j}`;
        const guard = `live && row0 + ${i}u < ${R}u${QH % th ? ` && qh0 + ${a}u < ${QH}u` : ''}${QW % tn ? ` && qw0 + ${b}u < ${QW}u` : ''}`;
        L.push(`  if (${guard}) { out[(n * ${R}u + row0 + ${i}u) * ${OH * OW}u + dst + ${a * step * OW + b * step}u] = ${value}; }`);
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
}

/** The weights rearranged to [channel, kh, kw, row]: entry ((c·KH + kh)·KW + kw)·R + r. */
function rowsInnermost(gpu: Gpu, w: Binding, p: RowTileWeights): GpuBuffer {
  const { KH, KW } = p;
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

/** planes × PH × PW: each H × W plane of x placed at (pad, pad), in zeros. A zero-padded copy, made in
 *  one cheap pass, keeps bounds checks out of the row-tile kernel's inner loop. An invocation writes
 *  one padded row (unrolled): on lavapipe five times faster than an invocation per element. */
function padded(gpu: Gpu, x: Binding, planes: number, H: number, W: number, pad: number, PH: number, PW: number): GpuBuffer {
  const rows = planes * PH;
  const out = gpu.acquire(rows * PW * 4);
  const { workgroups, stride } = grid(rows);
  const code = generated(`conv2d_pad|${planes}|${H}|${W}|${pad}|${PH}|${PW}`, () => {
    const L: string[] = [];
    for (let v = 0; v < PW; v++) {
      const col = v - pad;
      L.push(`  out[i * ${PW}u + ${v}u] = ${col >= 0 && col < W ? `select(0.0, x[row + ${col}u], inside)` : '0.0'};`);
    }
    return `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${flatIndex(rows, stride)}
  let h = i32(i % ${PH}u) - ${pad};
  let inside = u32(h) < ${H}u;
  // Outside the plane's rows: a safe address, zeroed by select.
  let row = (i / ${PH}u) * ${H * W}u + u32(select(0, h * ${W}, inside));
${L.join('\n')}
}`;
  });
  gpu.dispatch(gpu.pipeline('conv2d_pad', code), [x, out], workgroups);
  return out;
}

/** Zeros all of `out`, four vec4 stores per invocation where its size allows. */
function zeroFill(gpu: Gpu, out: Binding): void {
  forElementChunks(gpu, out.bytes / 4, [{ buffer: out, access: 'write' }], ({ count, windows: [o] }) => {
    if (count % 4 === 0) {
      const { main, workgroups } = vec4Main(count, '    out[j] = vec4f(0.0);');
      gpu.dispatch(gpu.pipeline('conv_zero', `@group(0) @binding(0) var<storage, read_write> out: array<vec4f>;\n${main}`), [o], workgroups);
    } else {
      const { workgroups, stride } = grid(count);
      gpu.dispatch(gpu.pipeline('conv_zero', `@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n${flatIndex(count, stride)}\n  out[i] = 0.0;\n}`), [o], workgroups);
    }
  });
}

/** NCHW convolution forward (with optional bias): y [batch, outChannels, outHeight, outWidth]. */
export function conv2d(gpu: Gpu, x: Binding, w: Binding, bias: Binding | null, s: Conv2dShape): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const total = B * O * OH * OW;
  const out = gpu.acquire(total * 4);
  if (total === 0) return out;
  if (C === 0) {
    zeroFill(gpu, out);
    return out;
  }
  const taps: Tap[] = [];
  for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) taps.push({ kh, kw, v: kh, u: kw });
  const p: RowTilePass = {
    name: 'conv2d_forward',
    rows: O,
    channels: C,
    SH: H + 2 * P,
    SW: W + 2 * P,
    QH: OH,
    QW: OW,
    stride: S,
    originH: 0,
    originW: 0,
    taps,
    KH,
    KW,
    weightIndex: (r, kh, kw) => `(${r} * ${C}u + c) * ${KH * KW}u + ${kh * KW + kw}u`,
    out: { OH, OW, step: 1, h0: 0, w0: 0 },
  };
  const weights = rowTileWeights(gpu, w, p);
  const operands = [{ buffer: x, rowBytes: C * H * W * 4, access: 'read' }, { buffer: out, rowBytes: O * OH * OW * 4, access: 'write' }] as const;
  const paddedBytes = P > 0 ? C * p.SH * p.SW * 4 : 0;
  forRowChunks(gpu, B, operands, ({ count, windows: [xw, ow] }) => {
    const src = P > 0 ? padded(gpu, xw, count * C, H, W, P, p.SH, p.SW) : xw;
    rowTilePass(gpu, src, weights, ow, bias, { ...s, batch: count }, p);
    if (src !== xw) gpu.release(src.owner);
  }, paddedBytes);
  if (weights !== w) gpu.release(weights.owner);
  return out;
}

/** Along one axis, the input positions q + S·a (a < pixels) of phase q: kernel taps first + S·j
 *  (j < taps) reach them, from dy position a + base − j. */
interface AxisPhase {
  q: number;
  pixels: number;
  first: number;
  taps: number;
  base: number;
}

// Input position h is reached by tap k from dy position (h + P − k)/S where S divides h + P − k: for
// h = q + S·a that is k ≡ q + P (mod S), so k = first + S·j and the dy position is a + base − j.
function axisPhases(size: number, K: number, S: number, P: number): AxisPhase[] {
  const phases: AxisPhase[] = [];
  for (let q = 0; q < S; q++) {
    const first = (q + P) % S;
    phases.push({
      q,
      pixels: q < size ? Math.ceil((size - q) / S) : 0,
      first,
      taps: first < K ? Math.ceil((K - first) / S) : 0,
      base: (q + P - first) / S,
    });
  }
  return phases.filter((ph) => ph.pixels > 0);
}

// The input gradient by phases (sub-pixel decomposition): the input pixels of one phase (h mod S,
// v mod S) each take the same subset of the kernel taps, from a dense stride-1 neighbourhood of dy.
// So each phase is a stride-1 convolution of dy (not spread out by the stride: no multiply hits a
// zero) with a flipped sub-kernel, stored to every S-th input pixel. At stride 1 it is one phase: the
// whole flipped kernel over dy padded by K − 1 − P.
/** Gradient of the convolution w.r.t. its input: dx [batch, inChannels, inHeight, inWidth] from dy and w. */
export function conv2dBackwardInput(gpu: Gpu, dy: Binding, w: Binding, s: Conv2dShape): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const total = B * C * H * W;
  const out = gpu.acquire(total * 4);
  if (total === 0) return out;
  const rowPhases = axisPhases(H, KH, S, P);
  const colPhases = axisPhases(W, KW, S, P);
  const rowsUsed = rowPhases.filter((ph) => ph.taps > 0);
  const colsUsed = colPhases.filter((ph) => ph.taps > 0);
  if (O === 0 || rowsUsed.length === 0 || colsUsed.length === 0) {
    zeroFill(gpu, out);
    return out;
  }
  // One zero-padded copy of dy serves every phase: enough zeros before the first and after the last
  // dy position any phase reads (0 before and 1 after for 3x3 stride 2 padding 1).
  const before = (phases: AxisPhase[]) => Math.max(0, ...phases.map((ph) => ph.taps - 1 - ph.base));
  const after = (phases: AxisPhase[], size: number) => Math.max(0, ...phases.map((ph) => ph.pixels - 1 + ph.base - (size - 1)));
  const pad = Math.max(before(rowsUsed), before(colsUsed));
  const PH = pad + OH + after(rowsUsed, OH);
  const PW = pad + OW + after(colsUsed, OW);
  const layout: RowTileWeights = {
    name: 'conv2d_backward_input',
    rows: C,
    channels: O,
    KH,
    KW,
    // The flipped kernel, rows r = in channels, loop channel c = out channel: w[c, r, KH − 1 − kh, KW − 1 − kw].
    weightIndex: (r, kh, kw) => `(c * ${C}u + ${r}) * ${KH * KW}u + ${(KH - 1 - kh) * KW + (KW - 1 - kw)}u`,
  };
  const weights = rowTileWeights(gpu, w, layout);
  const operands = [{ buffer: dy, rowBytes: O * OH * OW * 4, access: 'read' }, { buffer: out, rowBytes: C * H * W * 4, access: 'write' }] as const;
  forRowChunks(gpu, B, operands, ({ count, windows: [dyw, ow] }) => {
    // Phases no tap reaches (a 1x1 kernel's at stride 2: 3 of 4) are zeros, and pooled buffers are not.
    if (rowsUsed.length < rowPhases.length || colsUsed.length < colPhases.length) zeroFill(gpu, ow);
    const src = PH > OH || PW > OW ? padded(gpu, dyw, count * O, OH, OW, pad, PH, PW) : dyw;
    // One dispatch per phase: a dispatch costs ~0.1 ms on lavapipe, against 60–500 ms per phase pass at
    // PreAct-ResNet18's shapes, so one launch over all phases would gain nothing measurable.
    for (const rp of rowsUsed) {
      for (const cp of colsUsed) {
        // Window position v reads dy position (a + base − taps + 1) + v, through kernel tap j = taps − 1 − v:
        // k = first + S·j, at index KH − 1 − k of the flipped kernel.
        const taps: Tap[] = [];
        for (let v = 0; v < rp.taps; v++) {
          for (let u = 0; u < cp.taps; u++) {
            taps.push({ kh: KH - 1 - (rp.first + S * (rp.taps - 1 - v)), kw: KW - 1 - (cp.first + S * (cp.taps - 1 - u)), v, u });
          }
        }
        rowTilePass(gpu, src, weights, ow, null, { ...s, batch: count }, {
          ...layout,
          SH: PH,
          SW: PW,
          QH: rp.pixels,
          QW: cp.pixels,
          stride: 1,
          originH: pad + rp.base - rp.taps + 1,
          originW: pad + cp.base - cp.taps + 1,
          taps,
          out: { OH: H, OW: W, step: S, h0: rp.q, w0: cp.q },
        });
      }
    }
    if (src !== dyw) gpu.release(src.owner);
  }, O * PH * PW * 4);
  if (weights !== w) gpu.release(weights.owner);
  return out;
}

/** Batch chunks for split-K: enough workgroups to keep every core busy, each chunk at least 1 image. */
function chunksFor(batch: number, workgroups: number): number {
  return Math.max(1, Math.min(batch, Math.ceil(64 / workgroups)));
}

/** Gradient of the convolution w.r.t. its weight: dw [outChannels, inChannels, kh, kw] from x and dy (a big batch in chunks, whose sums add up). */
export function conv2dBackwardFilter(gpu: Gpu, x: Binding, dy: Binding, s: Conv2dShape): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW } = s;
  const total = O * C * KH * KW;
  const out = gpu.acquire(total * 4);
  if (total === 0) return out;
  if (B * OH * OW === 0) {
    zeroFill(gpu, out);
    return out;
  }
  const operands = [{ buffer: x, rowBytes: C * H * W * 4, access: 'read' }, { buffer: dy, rowBytes: O * OH * OW * 4, access: 'read' }] as const;
  forRowChunks(gpu, B, operands, ({ count, index, windows: [xw, dyw] }) => {
    const { target, done } = chunkTarget(gpu, out, total, index);
    backwardFilterInto(gpu, xw, dyw, target, { ...s, batch: count });
    done();
  });
  return out;
}

function backwardFilterInto(gpu: Gpu, x: Binding, dy: Binding, out: Binding, s: Conv2dShape): void {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const KK = KH * KW;
  const total = O * C * KK;
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
  if (partial === out) return;
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
  gpu.release(partial.owner);
}
