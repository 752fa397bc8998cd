// YOPO's inner step on a conv (+bias)(+ReLU) first layer, fused (Backend.convAscent; reference in
// engine/cpu/conv_ascent.ts). The op-by-op path runs 16–17 dispatches per L∞ step (add, clamp, pad,
// conv, ReLU mask, weight layout, transposed conv, clip mask, sign, scale, add, clamp, add, clamp, sub);
// here it is two dispatches, or one for a first layer without ReLU:
//   1. (ReLU only) per output pixel: z = b + Σ w·clip(x + η, 0, 1) over its window for every output
//      channel, read straight from x and η (no padded copy), stored as bits (z > 0), 32 channels a word.
//   2. per tile of input pixels (all input channels): g = Σ_{o, taps that reach it} w·dz with dz = p
//      (where the ReLU bit is set), a gather, so no atomics; zero where x + η is outside [0, 1]; then
//      either g, or η + σ·sign(g) projected onto the ε-ball and onto x + η ∈ [0, 1].
// Why (lavapipe, where a storage load or store whose index differs across lanes is a gather or scatter,
// about one scalar access per lane, and one whose index is uniform is one scalar load for all lanes):
// weights are uniform loads (the o loop is the same for every lane); kernel 1 writes one word per 32
// channels of a pixel instead of a float per channel, and kernel 2 reads p itself; kernel 2's tile is
// 2-D and covers all input channels, so each gathered p feeds up to C·KH·KW FMAs; images are flattened
// into the invocation index, so no lanes idle at the end of each image's tiles.
// Shapes are baked into the WGSL as constants; σ and ε come in a uniform, so a new ε (or a schedule of
// σ) compiles nothing new.

import type { Conv2dShape, ConvAscentOptions } from '../engine/backend.js';
import type { Gpu, GpuBuffer } from './webgpu/gpu.js';
import { WORKGROUP, grid } from './wgsl.js';

/** Most pixels per row of an invocation of the ReLU-mask kernel: on lavapipe 14 ran faster than 8, and 28 spilled registers (docs/notes/kernels.md). */
const MASK_TN_MAX = 14;

/** Output rows per invocation of the ReLU-mask kernel, which share each weight load and the window rows
 *  between them: on lavapipe 2 ran faster than 1, and 3 gained nothing clear for a longer compile
 *  (docs/notes/kernels.md). */
const MASK_TR = 2;

/** Most clipped inputs an invocation of the ReLU-mask kernel keeps in registers across output channels. */
const WINDOW_IN_REGISTERS = 64;

/** Most accumulators (C · TR · TN) of a kernel-2 tile: a bigger tile gathers fewer p per FMA, but compile time grows fast: twice this compiled three to four times as long on lavapipe for a small gain (docs/notes/kernels.md). */
const ACCUMULATORS = 28;

/** Chromium's SwiftShader compiles the 28-accumulator tile (and 14) for minutes, and 7 (one row of 7
 *  for one input channel) in seconds, as fast as before the 2-D tiles (docs/notes/kernels.md): it gets 7. */
const ACCUMULATORS_SWIFTSHADER = 7;

/** The kernel-2 accumulator budget on this device. */
function accumulatorBudget(gpu: Gpu): number {
  return /swiftshader/.test(gpu.adapterText) ? ACCUMULATORS_SWIFTSHADER : ACCUMULATORS;
}

/** Pixels per invocation along a row of `width`: at most `max`, splitting the row evenly (28 → 2 × 14, 17 → 2 × 9), a multiple of `multiple`. */
function rowTile(width: number, max: number, multiple: number): { cols: number; tilesPerRow: number } {
  const cols = multiple * Math.ceil(Math.ceil(width / Math.ceil(width / max)) / multiple);
  return { cols, tilesPerRow: Math.ceil(width / cols) };
}

/** The offsets (from the tile's first pixel / S) of the dz rows or columns a tile of `t` pixels reads, and which pixel each tap of each offset reaches. */
function taps(
  t: number,
  k: number,
  S: number,
  P: number,
): { offsets: number[]; reads: { pixel: number; tap: number; off: number }[] } {
  const reads: { pixel: number; tap: number; off: number }[] = [];
  for (let pixel = 0; pixel < t; pixel++) {
    for (let tap = 0; tap < k; tap++) {
      const d = pixel + P - tap;
      if (((d % S) + S) % S === 0) reads.push({ pixel, tap, off: d / S });
    }
  }
  return { offsets: [...new Set(reads.map((r) => r.off))].sort((a, b) => a - b), reads };
}

/** A WGSL name for a signed offset. */
const name = (off: number) => (off < 0 ? `m${-off}` : `${off}`);

/** A WGSL name for the dz pixel at row offset `ro` and column offset `co`. */
const at = (ro: number, co: number) => `${name(ro)}_${name(co)}`;

/** A kernel-2 tile: `rows` × `cols` input pixels of one image (multiples of the stride), and how many
 *  tiles cover an image down and across. */
interface GradientTile {
  rows: number;
  cols: number;
  tileRows: number;
  tilesPerRow: number;
}

/** Tiles already searched for, by input and kernel shape and budget: YOPO asks for one every inner step,
 *  and the search costs a share of the step it plans (docs/notes/kernels.md). */
const tilesFound = new Map<string, GradientTile>();

/** The kernel-2 tile (rows × cols, multiples of S, C·rows·cols ≤ accumulators) with the fewest dz gathers per image. */
function gradientTile(s: Conv2dShape, accumulators: number): GradientTile {
  const { inChannels: C, inHeight: H, inWidth: W, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const key = `${C}|${H}|${W}|${KH}|${KW}|${S}|${P}|${accumulators}`;
  const found = tilesFound.get(key);
  if (found) return found;
  let best: GradientTile = { rows: S, cols: S, tileRows: Math.ceil(H / S), tilesPerRow: Math.ceil(W / S) };
  let bestCost = Infinity;
  for (let rows = S; rows <= Math.min(H + S - 1, accumulators); rows += S) {
    for (let cols = S; cols <= Math.min(W + S - 1, accumulators); cols += S) {
      if (C * rows * cols > accumulators && !(rows === S && cols === S)) continue;
      const tileRows = Math.ceil(H / rows);
      const tilesPerRow = Math.ceil(W / cols);
      const cost = tileRows * tilesPerRow * taps(rows, KH, S, P).offsets.length * taps(cols, KW, S, P).offsets.length;
      if (cost < bestCost) [best, bestCost] = [{ rows, cols, tileRows, tilesPerRow }, cost];
    }
  }
  tilesFound.set(key, best);
  return best;
}

// An invocation computes TN consecutive output pixels of TR rows for every output channel: the clipped
// window ((TR−1)·S + KH rows × (TN−1)·S + KW columns per input channel) is loaded once for all of them.
// The weights depend only on the loop's o, so each weight load is one scalar load for all lanes; images
// are flattened into the invocation index (SmallCNN's 52 tiles an image would leave 12 of 64 lanes idle).

/** How the ReLU-mask kernel covers the output: tiles of `rows` × `cols` output pixels, one an invocation. */
interface MaskTile {
  rows: number;
  cols: number;
  tileRows: number;
  tilesPerRow: number;
  /** The input window of a tile: (rows − 1)·S + KH rows × (cols − 1)·S + KW columns per input channel. */
  windowRows: number;
  windowCols: number;
  /** Whether every input channel's clipped window is loaded once, before the output-channel loop
   *  (else once per output channel, inside it). */
  windowInRegisters: boolean;
}

function maskTile(s: Conv2dShape): MaskTile {
  const { cols, tilesPerRow } = rowTile(s.outWidth, MASK_TN_MAX, 1);
  const rows = Math.min(MASK_TR, s.outHeight);
  const windowRows = (rows - 1) * s.stride + s.kernelHeight;
  const windowCols = (cols - 1) * s.stride + s.kernelWidth;
  return {
    rows,
    cols,
    tileRows: Math.ceil(s.outHeight / rows),
    tilesPerRow,
    windowRows,
    windowCols,
    windowInRegisters: s.inChannels * windowRows * windowCols <= WINDOW_IN_REGISTERS,
  };
}

/** mask [batch, ⌈O/32⌉, OH, OW]: bit o % 32 of word o / 32 set where b + conv(clip(x + η, 0, 1)) > 0 at channel o. */
function reluMask(
  gpu: Gpu,
  x: GpuBuffer,
  eta: GpuBuffer,
  w: GpuBuffer,
  bias: GpuBuffer | null,
  s: Conv2dShape,
): GpuBuffer {
  const out = gpu.acquire(s.batch * Math.ceil(s.outChannels / 32) * s.outHeight * s.outWidth * 4);
  const tile = maskTile(s);
  const { workgroups, stride } = grid(s.batch * tile.tileRows * tile.tilesPerRow);
  // Unrolled for one shape (YOPO runs it n times per full pass); the key names what the source depends on.
  const pipeline = gpu.program(
    'conv_ascent_relu_mask',
    `${JSON.stringify(s)}|${bias !== null}|${tile.rows}x${tile.cols}`,
    () => reluMaskShader(s, tile, stride, bias !== null),
  );
  gpu.dispatch(pipeline, bias ? [x, eta, w, out, bias] : [x, eta, w, out], [...workgroups, 1]);
  return out;
}

// WGSL names: (oi, oj0) the tile's first output pixel; h{r} / v{u} the input row / column of window row r /
// column u, rowOk / colOk whether it is inside the image; a{c}_{r}_{u} the clipped input of channel c at
// window (r, u) (c a number, or 'c' inside the channel loop); w{kh}_{kw} output channel o's weight;
// z{rr}_{b} the sum at tile pixel (rr, b); bits{rr}_{b} its word of bits.
/** The ReLU-mask kernel's WGSL (workgroup row stride `stride`). */
function reluMaskShader(s: Conv2dShape, tile: MaskTile, stride: number, bias: boolean): string {
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
  const KK = KH * KW;
  const words = Math.ceil(O / 32);
  const tiles = tile.tileRows * tile.tilesPerRow;
  const lines = [
    `  let oi = (q / ${tile.tilesPerRow}u) * ${tile.rows}u;`,
    `  let oj0 = (q % ${tile.tilesPerRow}u) * ${tile.cols}u;`,
    ...maskWindowBounds(s, tile),
    ...(tile.windowInRegisters
      ? range(C).flatMap((c) => clippedWindow(s, tile, `${c * H * W}u + n * ${C * H * W}u`, String(c), '  '))
      : []),
    `  for (var word = 0u; word < ${words}u; word++) {`,
    ...forEachMaskPixel(tile, (rr, b) => `    var bits${rr}_${b} = 0u;`),
    `    for (var o = word * 32u; o < min(word * 32u + 32u, ${O}u); o++) {`,
    ...forEachMaskPixel(tile, (rr, b) => `      var z${rr}_${b} = ${bias ? 'bias[o]' : '0.0'};`),
    ...(tile.windowInRegisters
      ? range(C).flatMap((c) => [
          '      {',
          ...channelSums(s, tile, c, (kh, kw) => `o * ${C * KK}u + ${c * KK + kh * KW + kw}u`, '        '),
          '      }',
        ])
      : [
          `      for (var c = 0u; c < ${C}u; c++) {`,
          ...clippedWindow(s, tile, `(n * ${C}u + c) * ${H * W}u`, 'c', '        '),
          ...channelSums(s, tile, 'c', (kh, kw) => `(o * ${C}u + c) * ${KK}u + ${kh * KW + kw}u`, '        '),
          '      }',
        ]),
    ...forEachMaskPixel(tile, (rr, b) => `      bits${rr}_${b} |= select(0u, 1u << (o & 31u), z${rr}_${b} > 0.0);`),
    '    }',
    `    let k = (n * ${words}u + word) * ${OH * OW}u + oi * ${OW}u + oj0;`,
    ...forEachMaskPixel(tile, (rr, b) => {
      const guards = ['live'];
      if (tile.tilesPerRow * tile.cols > OW) guards.push(`oj0 + ${b}u < ${OW}u`);
      if (tile.tileRows * tile.rows > OH) guards.push(`oi + ${rr}u < ${OH}u`);
      return `    if (${guards.join(' && ')}) { out[k + ${rr * OW + b}u] = bits${rr}_${b}; }`;
    }),
    '  }',
  ];
  return `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> eta: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;
${bias ? '@group(0) @binding(4) var<storage, read> bias: array<f32>;' : ''}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let id = wg.x * ${WORKGROUP}u + lid.x + wg.y * ${stride}u;
  let live = id < ${B * tiles}u;
  let flat = min(id, ${B * tiles - 1}u);
  let n = flat / ${tiles}u;
  let q = flat % ${tiles}u;
${lines.join('\n')}
}`;
}

/** 0, 1, …, count − 1. */
const range = (count: number) => Array.from({ length: count }, (_, i) => i);

/** One line per pixel (rr, b) of a mask tile, rows outermost. */
function forEachMaskPixel(tile: MaskTile, line: (rr: number, b: number) => string): string[] {
  return range(tile.rows).flatMap((rr) => range(tile.cols).map((b) => line(rr, b)));
}

/** The window's rows and columns, and whether each is inside the image (only padding can put them outside). */
function maskWindowBounds(s: Conv2dShape, tile: MaskTile): string[] {
  const { inHeight: H, inWidth: W, stride: S, padding: P } = s;
  return [
    ...range(tile.windowRows).flatMap((r) => [
      `  let h${r} = i32(oi * ${S}u) + ${r - P};`,
      `  let rowOk${r} = u32(h${r}) < ${H}u;`,
    ]),
    ...range(tile.windowCols).flatMap((u) => [
      `  let v${u} = i32(oj0 * ${S}u) + ${u - P};`,
      `  let colOk${u} = u32(v${u}) < ${W}u;`,
    ]),
  ];
}

/** The clipped inputs a{c}_{r}_{u} = clip(x + η, 0, 1) of channel `c`'s window (0 outside the image), from the plane at `plane`. */
function clippedWindow(s: Conv2dShape, tile: MaskTile, plane: string, c: string, indent: string): string[] {
  const lines: string[] = [];
  for (let r = 0; r < tile.windowRows; r++) {
    for (let u = 0; u < tile.windowCols; u++) {
      const ok = `rowOk${r} && colOk${u}`;
      lines.push(`${indent}let k${c}_${r}_${u} = ${plane} + u32(select(0, h${r} * ${s.inWidth} + v${u}, ${ok}));`);
      lines.push(
        `${indent}let a${c}_${r}_${u} = select(0.0, clamp(x[k${c}_${r}_${u}] + eta[k${c}_${r}_${u}], 0.0, 1.0), ${ok});`,
      );
    }
  }
  return lines;
}

/** Channel `c`'s share of every tile pixel's sum: its KH × KW weights (at WGSL index `weightIndex(kh, kw)`) times the window. */
function channelSums(
  s: Conv2dShape,
  tile: MaskTile,
  c: number | string,
  weightIndex: (kh: number, kw: number) => string,
  indent: string,
): string[] {
  const { kernelHeight: KH, kernelWidth: KW, stride: S } = s;
  const lines: string[] = [];
  for (let kh = 0; kh < KH; kh++)
    for (let kw = 0; kw < KW; kw++) lines.push(`${indent}let w${kh}_${kw} = w[${weightIndex(kh, kw)}];`);
  for (let rr = 0; rr < tile.rows; rr++) {
    for (let b = 0; b < tile.cols; b++) {
      for (let kh = 0; kh < KH; kh++)
        for (let kw = 0; kw < KW; kw++)
          lines.push(`${indent}z${rr}_${b} = fma(w${kh}_${kw}, a${c}_${rr * S + kh}_${b * S + kw}, z${rr}_${b});`);
    }
  }
  return lines;
}

/** Which dz rows and columns a gradient tile reads, and which of its pixels each tap of each reaches. */
interface TileReach {
  rows: ReturnType<typeof taps>;
  cols: ReturnType<typeof taps>;
}

function tileReach(s: Conv2dShape, tile: GradientTile): TileReach {
  return {
    rows: taps(tile.rows, s.kernelHeight, s.stride, s.padding),
    cols: taps(tile.cols, s.kernelWidth, s.stride, s.padding),
  };
}

/** The taps of the tile that dz pixel (row offset ro, column offset co) reaches: pixel (a, b) through kernel tap (kh, kw). */
function tapsAt(reach: TileReach, ro: number, co: number): { a: number; b: number; kh: number; kw: number }[] {
  const found: { a: number; b: number; kh: number; kw: number }[] = [];
  for (const rr of reach.rows.reads.filter((r) => r.off === ro)) {
    for (const cr of reach.cols.reads.filter((r) => r.off === co))
      found.push({ a: rr.pixel, b: cr.pixel, kh: rr.tap, kw: cr.tap });
  }
  return found;
}

/** WGSL that starts a kernel over gradient tiles: the invocation's image n, its tile's first pixel
 *  (h0, v0), and for each dz row and column offset the tile reads, its index and whether it exists. */
function tileHeader(s: Conv2dShape, tile: GradientTile, tiles: number, stride: number, reach: TileReach): string[] {
  const { outHeight: OH, outWidth: OW, stride: S } = s;
  const { tileRows, tilesPerRow } = tile;
  const L: string[] = [
    `  let id = wg.x * ${WORKGROUP}u + lid.x + wg.y * ${stride}u;`,
    `  let live = id < ${tiles}u;`,
    `  let q = min(id, ${tiles - 1}u);`,
    `  let n = q / ${tileRows * tilesPerRow}u;`,
    `  let t = q % ${tileRows * tilesPerRow}u;`,
    `  let h0 = (t / ${tilesPerRow}u) * ${tile.rows}u;`,
    `  let v0 = (t % ${tilesPerRow}u) * ${tile.cols}u;`,
  ];
  for (const off of reach.rows.offsets) {
    L.push(
      `  let rowRaw${name(off)} = i32(h0 / ${S}u) + ${off};`,
      `  let rowOk${name(off)} = u32(rowRaw${name(off)}) < ${OH}u;`,
    );
    L.push(`  let row${name(off)} = select(0u, u32(rowRaw${name(off)}), rowOk${name(off)}) * ${OW}u;`);
  }
  for (const off of reach.cols.offsets) {
    L.push(
      `  let colRaw${name(off)} = i32(v0 / ${S}u) + ${off};`,
      `  let colOk${name(off)} = u32(colRaw${name(off)}) < ${OW}u;`,
    );
    L.push(`  let col${name(off)} = select(0u, u32(colRaw${name(off)}), colOk${name(off)});`);
  }
  return L;
}

/** For pixel (a, b) of a tile at (h0, v0), channel c: its index in x (clamped into the image) and the guard of its store. */
function tilePixel(
  s: Conv2dShape,
  tile: GradientTile,
  c: number,
  a: number,
  b: number,
): { index: string; guard: string } {
  const { inChannels: C, inHeight: H, inWidth: W } = s;
  const guards = ['live'];
  if (tile.tileRows * tile.rows > H) guards.push(`h0 + ${a}u < ${H}u`);
  if (tile.tilesPerRow * tile.cols > W) guards.push(`v0 + ${b}u < ${W}u`);
  return {
    index: `n * ${C * H * W}u + ${c * H * W}u + min(h0 + ${a}u, ${H - 1}u) * ${W}u + min(v0 + ${b}u, ${W - 1}u)`,
    guard: guards.join(' && '),
  };
}

/** One line per (channel c, tile pixel (a, b)), channels outermost. */
function forEachTilePixel(
  s: Conv2dShape,
  tile: GradientTile,
  line: (c: number, a: number, b: number) => string[],
): string[] {
  const lines: string[] = [];
  for (let c = 0; c < s.inChannels; c++)
    for (let a = 0; a < tile.rows; a++) for (let b = 0; b < tile.cols; b++) lines.push(...line(c, a, b));
  return lines;
}

/** What the gradient pass outputs: g, the L∞ step, or ('raw') Wᵀ(p ⊙ m) alone, without x, η and the clip mask. */
type GradientOutput = ConvAscentOptions['output'] | 'raw';

// An invocation computes a tile of TR × TN input pixels of one image, every input channel. TR and TN
// are multiples of the stride S and tiles start at multiples of it, so which taps reach which pixel is
// known when the WGSL is generated: pixel column v0 + b takes tap kw from dz column v0/S + (b + P − kw)/S
// when S divides b + P − kw (rows likewise). Pixels of the tile share their p loads ((TR + KH − 1) ×
// (TN + KW − 1) at stride 1 for C·TR·TN·KH·KW FMAs per output channel).
/** The input-gradient pass (with the ReLU and clip masks), then g or the L∞ step and projection; out shaped as x. */
function inputGradientStep(
  gpu: Gpu,
  x: GpuBuffer | null,
  eta: GpuBuffer | null,
  p: GpuBuffer,
  mask: GpuBuffer | null,
  w: GpuBuffer,
  s: Conv2dShape,
  o: { output: GradientOutput; sigma: number; eps: number },
): GpuBuffer {
  const out = gpu.acquire(s.batch * s.inChannels * s.inHeight * s.inWidth * 4);
  const tile = gradientTile(s, accumulatorBudget(gpu));
  const { workgroups, stride } = grid(s.batch * tile.tileRows * tile.tilesPerRow);
  const pipeline = gpu.program(
    `conv_ascent_${o.output}`,
    `${JSON.stringify(s)}|${mask !== null}|${tile.rows}x${tile.cols}`,
    () => inputGradientShader(s, tile, stride, o.output, mask !== null),
  );
  const named: Record<string, GpuBuffer | null> = { x, eta, p, w, out, mask };
  const buffers = bindingNames(o.output === 'raw', mask !== null).map((b) => named[b]!);
  if (o.output === 'linfStep') gpu.dispatch(pipeline, buffers, [...workgroups, 1], new Float32Array([o.sigma, o.eps]));
  else gpu.dispatch(pipeline, buffers, [...workgroups, 1]);
  return out;
}

// WGSL names: g{c}_{a}_{b} the gradient at channel c, tile pixel (a, b); w{c}_{t} output channel o's
// weight at channel c, tap t; for dz pixel at offsets (ro, co), named {ro}_{co} (m for minus): m… its
// mask word, d… its p where the bit is set.
/** The gradient pass's WGSL (workgroup row stride `stride`; with the ReLU mask binding when `mask`). */
function inputGradientShader(
  s: Conv2dShape,
  tile: GradientTile,
  stride: number,
  output: GradientOutput,
  mask: boolean,
): string {
  const { batch: B, inChannels: C, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW } = s;
  const KK = KH * KW;
  const words = Math.ceil(O / 32);
  const stepping = output === 'linfStep';
  const reach = tileReach(s, tile);
  const dzPixels = reach.rows.offsets.flatMap((ro) => reach.cols.offsets.map((co) => [ro, co] as const));
  const L = [
    ...tileHeader(s, tile, B * tile.tileRows * tile.tilesPerRow, stride, reach),
    ...forEachTilePixel(s, tile, (c, a, b) => [`  var g${c}_${a}_${b} = 0.0;`]),
    `  for (var word = 0u; word < ${words}u; word++) {`,
    // With a ReLU: the mask words of the tile's dz pixels, one gather each per 32 output channels.
    ...(mask
      ? [
          `    let wordBase = (n * ${words}u + word) * ${OH * OW}u;`,
          ...dzPixels.map(([ro, co]) => `    let m${at(ro, co)} = mask[wordBase + row${name(ro)} + col${name(co)}];`),
        ]
      : []),
    `    for (var o = word * 32u; o < min(word * 32u + 32u, ${O}u); o++) {`,
    `      let plane = (n * ${O}u + o) * ${OH * OW}u;`,
    ...(mask ? ['      let bit = 1u << (o & 31u);'] : []),
    ...range(C).flatMap((c) => range(KK).map((t) => `      let w${c}_${t} = w[o * ${C * KK}u + ${c * KK + t}u];`)),
    ...dzPixels.flatMap(([ro, co]) => {
      const ok = `rowOk${name(ro)} && colOk${name(co)}${mask ? ` && (m${at(ro, co)} & bit) != 0u` : ''}`;
      return [
        `      let d${at(ro, co)} = select(0.0, p[plane + row${name(ro)} + col${name(co)}], ${ok});`,
        ...tapsAt(reach, ro, co).flatMap(({ a, b, kh, kw }) =>
          range(C).map((c) => `      g${c}_${a}_${b} = fma(w${c}_${kh * KW + kw}, d${at(ro, co)}, g${c}_${a}_${b});`),
        ),
      ];
    }),
    '    }',
    '  }',
    ...forEachTilePixel(s, tile, (c, a, b) => {
      const { index, guard } = tilePixel(s, tile, c, a, b);
      const store =
        output === 'raw'
          ? [`    if (${guard}) { out[i] = g${c}_${a}_${b}; }`]
          : clipAndStore(`g${c}_${a}_${b}`, 'i', stepping, guard, '    ');
      return ['  {', `    let i = ${index};`, ...store, '  }'];
    }),
  ];
  const decl = storageDeclarations(bindingNames(output === 'raw', mask));
  return `
${stepping ? 'struct Step { sigma: f32, eps: f32 }' : ''}
${decl.join('\n')}
${stepping ? `@group(0) @binding(${decl.length}) var<uniform> u: Step;` : ''}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
${L.join('\n')}
}`;
}

/** WGSL that ends both gradient kernels: the clip's VJP on gradient `g` at element `i` (it passes where
 *  clip(x + η) = x + η, 0 ≤ x + η ≤ 1 inclusive), then g or the L∞ step and projection stored to out[i]
 *  where `guard` holds. Reads x, η and, when stepping, the uniform u. */
function clipAndStore(g: string, i: string, stepping: boolean, guard: string, ind: string): string[] {
  const L = [
    `let e = eta[${i}];`,
    `let xi = x[${i}];`,
    'let sum = xi + e;',
    `let masked = select(0.0, ${g}, clamp(sum, 0.0, 1.0) == sum);`,
  ];
  if (stepping)
    L.push(
      'let inBall = clamp(e + u.sigma * sign(masked), -u.eps, u.eps);',
      `if (${guard}) { out[${i}] = clamp(xi + inBall, 0.0, 1.0) - xi; }`,
    );
  else L.push(`if (${guard}) { out[${i}] = masked; }`);
  return L.map((line) => ind + line);
}

/** WGSL declarations of storage bindings 0, 1, … in the order given: `out` writable, the bit words u32, the rest f32. */
function storageDeclarations(names: readonly string[]): string[] {
  const type = (b: string) => (['mask', 'bits', 'bits0'].includes(b) ? 'u32' : 'f32');
  return names.map(
    (b, k) => `@group(0) @binding(${k}) var<storage, ${b === 'out' ? 'read_write' : 'read'}> ${b}: array<${type(b)}>;`,
  );
}

/** The correction step's storage bindings in order (a uniform, when stepping, comes after them). */
const CORRECTION_BINDINGS = ['x', 'eta', 'p', 'w', 'out', 'bits0', 'bits', 'g0'] as const;

/** The gradient pass's storage bindings in order (a uniform, when stepping, comes after them). */
function bindingNames(raw: boolean, mask: boolean): string[] {
  return [...(raw ? [] : ['x', 'eta']), 'p', 'w', 'out', ...(mask ? ['mask'] : [])];
}

/** YOPO's fused first-layer step (see ConvAscentOptions): two dispatches with a ReLU, one without. */
export function convAscent(
  gpu: Gpu,
  x: GpuBuffer,
  eta: GpuBuffer,
  p: GpuBuffer,
  w: GpuBuffer,
  bias: GpuBuffer | null,
  s: Conv2dShape,
  o: ConvAscentOptions,
): GpuBuffer {
  // The op layer (engine/ops/conv_ascent.ts) refuses empty shapes.
  const mask = o.relu ? reluMask(gpu, x, eta, w, bias, s) : null;
  const out = inputGradientStep(gpu, x, eta, p, mask, w, s, o);
  if (mask) gpu.release(mask);
  return out;
}

// ---- From a base: YOPO's steps within one full pass (Backend.convAscentFrom) ----
// p is frozen for a full pass's n inner steps, and from step to step only a few ReLU bits move (under 1%
// of SmallCNN's, docs/notes/kernels.md). So the pass computes once the bits m₀ at its η
// and g₀ = Wᵀ(p ⊙ m₀) (the gradient pass above, output 'raw'), and each step computes its own bits and
// corrects g₀ only where they differ: per tile of input pixels, the two mask words of each window
// position that reaches it, and p and w only at the flipped bits. That reads a small share of what the
// dense pass reads (the per-lane reads that bound it on lavapipe).

/** The ReLU bits at η (Backend.convReluBits): the mask kernel's words. */
export function convReluBits(
  gpu: Gpu,
  x: GpuBuffer,
  eta: GpuBuffer,
  w: GpuBuffer,
  bias: GpuBuffer | null,
  s: Conv2dShape,
): GpuBuffer {
  return reluMask(gpu, x, eta, w, bias, s);
}

/** Wᵀ(p ⊙ m) for ReLU bits m (Backend.convMaskedInputGradient): the dense gradient pass without x, η or the clip. */
export function convMaskedInputGradient(
  gpu: Gpu,
  p: GpuBuffer,
  bits: GpuBuffer,
  w: GpuBuffer,
  s: Conv2dShape,
): GpuBuffer {
  return inputGradientStep(gpu, null, null, p, bits, w, s, { output: 'raw', sigma: 0, eps: 0 });
}

/** Backend.convAscentFrom: the bits at η, then g₀ corrected at the bits that differ from bits0, the clip mask, and g or the L∞ step. */
export function convAscentFrom(
  gpu: Gpu,
  x: GpuBuffer,
  eta: GpuBuffer,
  p: GpuBuffer,
  w: GpuBuffer,
  bias: GpuBuffer | null,
  bits0: GpuBuffer,
  gradient0: GpuBuffer,
  s: Conv2dShape,
  o: Omit<ConvAscentOptions, 'relu'>,
): GpuBuffer {
  const bits = reluMask(gpu, x, eta, w, bias, s);
  const out = correctedStep(gpu, x, eta, p, w, bits0, bits, gradient0, s, o);
  gpu.release(bits);
  return out;
}

// One tile an invocation, the gradient pass's (TR × TN input pixels of one image, every input channel).
// It reads the two mask words of each dz pixel that reaches the tile once for all its pixels (SmallCNN's
// 4 × 7 tile: 54 pairs for 28 pixels, where one pixel an invocation read 9 pairs for each pixel).
// Unrolled, those reads give each pixel's `live` (whether any bit at η reaches it) and whether any bit
// flipped; then loops walk the dz pixels again and, at each flipped bit, read p once and add ±w·p to the
// tile's pixels it reaches, in a private array. The loops diverge between lanes; with few flips they are
// short, and kept as loops they compile several times faster than unrolled, and the pass runs faster
// than with one pixel an invocation (measurements: docs/notes/kernels.md).
/** The L∞ step (or g) from a base: g₀ corrected at the ReLU bits that flipped between bits0 and bits. */
function correctedStep(
  gpu: Gpu,
  x: GpuBuffer,
  eta: GpuBuffer,
  p: GpuBuffer,
  w: GpuBuffer,
  bits0: GpuBuffer,
  bits: GpuBuffer,
  gradient0: GpuBuffer,
  s: Conv2dShape,
  o: Omit<ConvAscentOptions, 'relu'>,
): GpuBuffer {
  const out = gpu.acquire(s.batch * s.inChannels * s.inHeight * s.inWidth * 4);
  const stepping = o.output === 'linfStep';
  const tile = gradientTile(s, accumulatorBudget(gpu));
  const { workgroups, stride } = grid(s.batch * tile.tileRows * tile.tilesPerRow);
  const pipeline = gpu.program(`conv_ascent_from_${o.output}`, `${JSON.stringify(s)}|${tile.rows}x${tile.cols}`, () =>
    correctedStepShader(s, tile, stride, stepping),
  );
  const named = { x, eta, p, w, out, bits0, bits, g0: gradient0 };
  const buffers = CORRECTION_BINDINGS.map((b) => named[b]);
  if (stepping) gpu.dispatch(pipeline, buffers, [...workgroups, 1], new Float32Array([o.sigma, o.eps]));
  else gpu.dispatch(pipeline, buffers, [...workgroups, 1]);
  return out;
}

// WGSL names: live{a}_{b} the bits at η of every dz pixel that reaches tile pixel (a, b) (0: none does);
// corr the corrections, (c · rows + a) · cols + b; flipped the bits that differ in any dz pixel of the tile.
/** The correction step's WGSL (workgroup row stride `stride`). */
function correctedStepShader(s: Conv2dShape, tile: GradientTile, stride: number, stepping: boolean): string {
  const { batch: B, inChannels: C, outChannels: O, outHeight: OH, outWidth: OW } = s;
  const words = Math.ceil(O / 32);
  const reach = tileReach(s, tile);
  // Bits past the last channel of the last word are never set by the mask kernel; masked off anyway.
  const valid =
    O % 32 === 0 ? '0xffffffffu' : `select(0xffffffffu, ${(2 ** (O % 32) - 1) >>> 0}u, word == ${words - 1}u)`;
  const L = [
    ...tileHeader(s, tile, B * tile.tileRows * tile.tilesPerRow, stride, reach),
    ...range(tile.rows).flatMap((a) => range(tile.cols).map((b) => `  var live${a}_${b} = 0u;`)),
    `  var corr: array<f32, ${C * tile.rows * tile.cols}>;`,
    `  for (var word = 0u; word < ${words}u; word++) {`,
    `    let wordBase = (n * ${words}u + word) * ${OH * OW}u;`,
    '    var flipped = 0u;',
    ...reach.rows.offsets.flatMap((ro) => reach.cols.offsets.flatMap((co) => bitWords(reach, ro, co))),
    ...flippedBitCorrections(s, tile, reach, valid),
    '  }',
    ...forEachTilePixel(s, tile, (c, a, b) => {
      const { index, guard } = tilePixel(s, tile, c, a, b);
      // No ReLU bit at η reaches this pixel: the gradient is exactly 0, as the direct sum gives, not the
      // rounding left over from removing g₀'s terms.
      const g = `select(g0[i] + corr[${(c * tile.rows + a) * tile.cols + b}], 0.0, live${a}_${b} == 0u)`;
      return [
        '  {',
        `    let i = ${index};`,
        `    let g = ${g};`,
        ...clipAndStore('g', 'i', stepping, guard, '    '),
        '  }',
      ];
    }),
  ];
  return `
${stepping ? 'struct Step { sigma: f32, eps: f32 }' : ''}
${storageDeclarations(CORRECTION_BINDINGS).join('\n')}
${stepping ? `@group(0) @binding(${CORRECTION_BINDINGS.length}) var<uniform> u: Step;` : ''}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
${L.join('\n')}
}`;
}

/** The bit words at dz pixel (ro, co), read once: its bits at η go to the live bits of the tile pixels it
 *  reaches, and the bits that differ from bits0 to `flipped`. */
function bitWords(reach: TileReach, ro: number, co: number): string[] {
  return [
    '    {',
    `      let ok = rowOk${name(ro)} && colOk${name(co)};`,
    `      let k = wordBase + row${name(ro)} + col${name(co)};`,
    '      let now = select(0u, bits[k], ok);',
    `      flipped |= select(0u, bits0[k] ^ now, ok);`,
    ...tapsAt(reach, ro, co).map(({ a, b }) => `      live${a}_${b} |= now;`),
    '    }',
  ];
}

/** Where a bit of this word flipped: over the dz rows and columns from the tile's first offsets on, at each
 *  flipped bit (output channel oc), ±p (+ where the bit is now set) times every weight that reaches a pixel
 *  of the tile, added to corr. Input row oy·S − P + kh and column ox·S − P + kw, relative to the tile's
 *  first pixel (h0, v0), are its (a, b). */
function flippedBitCorrections(s: Conv2dShape, tile: GradientTile, reach: TileReach, valid: string): string[] {
  const {
    inChannels: C,
    outChannels: O,
    outHeight: OH,
    outWidth: OW,
    kernelHeight: KH,
    kernelWidth: KW,
    stride: S,
    padding: P,
  } = s;
  const [r0, c0] = [reach.rows.offsets[0], reach.cols.offsets[0]];
  const rows = reach.rows.offsets[reach.rows.offsets.length - 1] - r0 + 1;
  const cols = reach.cols.offsets[reach.cols.offsets.length - 1] - c0 + 1;
  return `\
    if ((flipped & ${valid}) != 0u) {
      for (var r = 0; r < ${rows}; r++) {
        let oy = i32(h0 / ${S}u) + ${r0} + r;
        if (oy < 0 || oy >= ${OH}) { continue; }
        for (var q2 = 0; q2 < ${cols}; q2++) {
          let ox = i32(v0 / ${S}u) + ${c0} + q2;
          if (ox < 0 || ox >= ${OW}) { continue; }
          let pos = u32(oy) * ${OW}u + u32(ox);
          let now = bits[wordBase + pos];
          var f = (bits0[wordBase + pos] ^ now) & ${valid};
          while (f != 0u) {
            let bit = countTrailingZeros(f);
            f &= f - 1u;
            let oc = word * 32u + bit;
            let d = p[(n * ${O}u + oc) * ${OH * OW}u + pos];
            let dz = select(-d, d, ((now >> bit) & 1u) != 0u);
            for (var kh = 0; kh < ${KH}; kh++) {
              let a = oy * ${S} - ${P} + kh - i32(h0);
              if (a < 0 || a >= ${tile.rows}) { continue; }
              for (var kw = 0; kw < ${KW}; kw++) {
                let b = ox * ${S} - ${P} + kw - i32(v0);
                if (b < 0 || b >= ${tile.cols}) { continue; }
                for (var c = 0; c < ${C}; c++) {
                  let ci = (c * ${tile.rows} + a) * ${tile.cols} + b;
                  corr[ci] = fma(w[(oc * ${C}u + u32(c)) * ${KH * KW}u + u32(kh * ${KW} + kw)], dz, corr[ci]);
                }
              }
            }
          }
        }
      }
    }`.split('\n');
}
