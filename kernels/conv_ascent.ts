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

/** Most pixels per row of an invocation of the ReLU-mask kernel: on lavapipe at SmallCNN batch 128, 14 ran an earlier version of it in about 0.6 of the time of 8, and 28 spilled registers. */
const MASK_TN_MAX = 14;

/** Output rows per invocation of the ReLU-mask kernel, which share each weight load and the window rows
 *  between them: on lavapipe (SmallCNN's first layer, batch 128, 2026-12-02) the kernel took 2.0–2.5 ms
 *  with 2 rows against 2.7–3.3 ms with 1 and 1.3–2.7 ms with 3, and LLVM 1.5 s over it against 0.9 and 2.1 s. */
const MASK_TR = 2;

/** Most clipped inputs an invocation of the ReLU-mask kernel keeps in registers across output channels. */
const WINDOW_IN_REGISTERS = 64;

/** Most accumulators (C · TR · TN) of a kernel-2 tile: a bigger tile gathers fewer p per FMA, but compile time grows fast (lavapipe, SmallCNN, loaded machine: 28 (4 × 7) about 4 s cold, 56 (4 × 14) 12–17 s for about 10% less time). */
const ACCUMULATORS = 28;

/** Chromium's SwiftShader compiles the 28-accumulator tile for minutes (its browser page made no
 *  training step in 2 minutes, 2026-12-01; 14 the same), and 7 (one row of 7 for one input channel) in
 *  seconds, as fast as before the 2-D tiles: it gets 7. */
const ACCUMULATORS_SWIFTSHADER = 7;

/** The kernel-2 accumulator budget on this device. */
function accumulatorBudget(gpu: Gpu): number {
  return /swiftshader/.test(gpu.adapterText) ? ACCUMULATORS_SWIFTSHADER : ACCUMULATORS;
}

/** Pixels per invocation along a row of `width`: at most `max`, splitting the row evenly (28 → 2 × 14, 17 → 2 × 9), a multiple of `multiple`. */
function rowTile(width: number, max: number, multiple: number): { tn: number; tilesPerRow: number } {
  const tn = multiple * Math.ceil(Math.ceil(width / Math.ceil(width / max)) / multiple);
  return { tn, tilesPerRow: Math.ceil(width / tn) };
}

/** The offsets (from the tile's first pixel / S) of the dz rows or columns a tile of `t` pixels reads, and which pixel each tap of each offset reaches. */
function taps(t: number, k: number, S: number, P: number): { offsets: number[]; reads: { pixel: number; tap: number; off: number }[] } {
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

type GradientTile = { tr: number; tn: number; tileRows: number; tilesPerRow: number };

/** Tiles already searched for, by input and kernel shape and budget: YOPO asks for one every inner step,
 *  and the search costs about 0.17 ms (SmallCNN), which is 1–2% of the step it plans. */
const tilesFound = new Map<string, GradientTile>();

/** The kernel-2 tile (TR rows × TN columns, multiples of S, C·TR·TN ≤ accumulators) with the fewest dz gathers per image. */
function gradientTile(s: Conv2dShape, accumulators: number): GradientTile {
  const { inChannels: C, inHeight: H, inWidth: W, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const key = `${C}|${H}|${W}|${KH}|${KW}|${S}|${P}|${accumulators}`;
  const found = tilesFound.get(key);
  if (found) return found;
  let best = { tr: S, tn: S, tileRows: Math.ceil(H / S), tilesPerRow: Math.ceil(W / S), cost: Infinity };
  for (let tr = S; tr <= Math.min(H + S - 1, accumulators); tr += S) {
    for (let tn = S; tn <= Math.min(W + S - 1, accumulators); tn += S) {
      if (C * tr * tn > accumulators && !(tr === S && tn === S)) continue;
      const tileRows = Math.ceil(H / tr);
      const tilesPerRow = Math.ceil(W / tn);
      const cost = tileRows * tilesPerRow * taps(tr, KH, S, P).offsets.length * taps(tn, KW, S, P).offsets.length;
      if (cost < best.cost) best = { tr, tn, tileRows, tilesPerRow, cost };
    }
  }
  tilesFound.set(key, best);
  return best;
}

// An invocation computes TN consecutive output pixels of TR rows for every output channel: the clipped
// window ((TR−1)·S + KH rows × (TN−1)·S + KW columns per input channel) is loaded once for all of them.
// The weights depend only on the loop's o, so each weight load is one scalar load for all lanes; images
// are flattened into the invocation index (SmallCNN's 52 tiles an image would leave 12 of 64 lanes idle).
/** mask [batch, ⌈O/32⌉, OH, OW]: bit o % 32 of word o / 32 set where b + conv(clip(x + η, 0, 1)) > 0 at channel o. */
function reluMask(gpu: Gpu, x: GpuBuffer, eta: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, s: Conv2dShape): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const KK = KH * KW;
  const words = Math.ceil(O / 32);
  const out = gpu.acquire(B * words * OH * OW * 4);
  const { tn, tilesPerRow } = rowTile(OW, MASK_TN_MAX, 1);
  const tr = Math.min(MASK_TR, OH);
  const tileRows = Math.ceil(OH / tr);
  const tiles = tileRows * tilesPerRow;
  const { workgroups, stride } = grid(B * tiles);
  const cols = (tn - 1) * S + KW;
  const winRows = (tr - 1) * S + KH;
  const inRegisters = C * winRows * cols <= WINDOW_IN_REGISTERS;
  // Unrolled for one shape (YOPO runs it n times per full pass); the key names what the source depends on.
  const pipeline = gpu.program('conv_ascent_relu_mask', `${JSON.stringify(s)}|${bias !== null}|${tr}x${tn}`, () => {
    const L: string[] = [`  let oi = (q / ${tilesPerRow}u) * ${tr}u;`, `  let oj0 = (q % ${tilesPerRow}u) * ${tn}u;`];
    // Window rows and columns inside the image (only padding can put them outside).
    for (let r = 0; r < winRows; r++) L.push(`  let h${r} = i32(oi * ${S}u) + ${r - P};`, `  let rowOk${r} = u32(h${r}) < ${H}u;`);
    for (let u = 0; u < cols; u++) L.push(`  let v${u} = i32(oj0 * ${S}u) + ${u - P};`, `  let colOk${u} = u32(v${u}) < ${W}u;`);
    const window = (plane: string, c: string, ind: string) => {
      const W2: string[] = [];
      for (let r = 0; r < winRows; r++) {
        for (let u = 0; u < cols; u++) {
          const ok = `rowOk${r} && colOk${u}`;
          W2.push(`${ind}let k${c}_${r}_${u} = ${plane} + u32(select(0, h${r} * ${W} + v${u}, ${ok}));`);
          W2.push(`${ind}let a${c}_${r}_${u} = select(0.0, clamp(x[k${c}_${r}_${u}] + eta[k${c}_${r}_${u}], 0.0, 1.0), ${ok});`);
        }
      }
      return W2;
    };
    const sums = (c: number | string, wIndex: (kh: number, kw: number) => string, ind: string) => {
      const S2: string[] = [];
      for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) S2.push(`${ind}let w${kh}_${kw} = w[${wIndex(kh, kw)}];`);
      for (let rr = 0; rr < tr; rr++) for (let b = 0; b < tn; b++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) S2.push(`${ind}z${rr}_${b} = fma(w${kh}_${kw}, a${c}_${rr * S + kh}_${b * S + kw}, z${rr}_${b});`);
      return S2;
    };
    if (inRegisters) for (let c = 0; c < C; c++) L.push(...window(`${c * H * W}u + n * ${C * H * W}u`, String(c), '  '));
    L.push(`  for (var word = 0u; word < ${words}u; word++) {`);
    for (let rr = 0; rr < tr; rr++) for (let b = 0; b < tn; b++) L.push(`    var bits${rr}_${b} = 0u;`);
    L.push(`    for (var o = word * 32u; o < min(word * 32u + 32u, ${O}u); o++) {`);
    for (let rr = 0; rr < tr; rr++) for (let b = 0; b < tn; b++) L.push(`      var z${rr}_${b} = ${bias ? 'bias[o]' : '0.0'};`);
    if (inRegisters) {
      for (let c = 0; c < C; c++) L.push('      {', ...sums(c, (kh, kw) => `o * ${C * KK}u + ${c * KK + kh * KW + kw}u`, '        '), '      }');
    } else {
      L.push(`      for (var c = 0u; c < ${C}u; c++) {`, ...window(`(n * ${C}u + c) * ${H * W}u`, 'c', '        '), ...sums('c', (kh, kw) => `(o * ${C}u + c) * ${KK}u + ${kh * KW + kw}u`, '        '), '      }');
    }
    for (let rr = 0; rr < tr; rr++) for (let b = 0; b < tn; b++) L.push(`      bits${rr}_${b} |= select(0u, 1u << (o & 31u), z${rr}_${b} > 0.0);`);
    L.push('    }', `    let k = (n * ${words}u + word) * ${OH * OW}u + oi * ${OW}u + oj0;`);
    for (let rr = 0; rr < tr; rr++) {
      for (let b = 0; b < tn; b++) {
        const guards = ['live'];
        if (tilesPerRow * tn > OW) guards.push(`oj0 + ${b}u < ${OW}u`);
        if (tileRows * tr > OH) guards.push(`oi + ${rr}u < ${OH}u`);
        L.push(`    if (${guards.join(' && ')}) { out[k + ${rr * OW + b}u] = bits${rr}_${b}; }`);
      }
    }
    L.push('  }');
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
${L.join('\n')}
}`;
  });
  gpu.dispatch(pipeline, bias ? [x, eta, w, out, bias] : [x, eta, w, out], [...workgroups, 1]);
  return out;
}

/** WGSL that starts a kernel over gradient tiles: the invocation's image n, its tile's first pixel
 *  (h0, v0), and for each dz row and column offset the tile reads, its index and whether it exists. */
function tileHeader(s: Conv2dShape, tile: GradientTile, tiles: number, stride: number, rowOffsets: number[], colOffsets: number[]): string[] {
  const { outHeight: OH, outWidth: OW, stride: S } = s;
  const { tr, tn, tileRows, tilesPerRow } = tile;
  const L: string[] = [
    `  let id = wg.x * ${WORKGROUP}u + lid.x + wg.y * ${stride}u;`,
    `  let live = id < ${tiles}u;`,
    `  let q = min(id, ${tiles - 1}u);`,
    `  let n = q / ${tileRows * tilesPerRow}u;`,
    `  let t = q % ${tileRows * tilesPerRow}u;`,
    `  let h0 = (t / ${tilesPerRow}u) * ${tr}u;`,
    `  let v0 = (t % ${tilesPerRow}u) * ${tn}u;`,
  ];
  for (const off of rowOffsets) {
    L.push(`  let rowRaw${name(off)} = i32(h0 / ${S}u) + ${off};`, `  let rowOk${name(off)} = u32(rowRaw${name(off)}) < ${OH}u;`);
    L.push(`  let row${name(off)} = select(0u, u32(rowRaw${name(off)}), rowOk${name(off)}) * ${OW}u;`);
  }
  for (const off of colOffsets) {
    L.push(`  let colRaw${name(off)} = i32(v0 / ${S}u) + ${off};`, `  let colOk${name(off)} = u32(colRaw${name(off)}) < ${OW}u;`);
    L.push(`  let col${name(off)} = select(0u, u32(colRaw${name(off)}), colOk${name(off)});`);
  }
  return L;
}

/** For pixel (a, b) of a tile at (h0, v0), channel c: its index in x (clamped into the image) and the guard of its store. */
function tilePixel(s: Conv2dShape, tile: GradientTile, c: number, a: number, b: number): { index: string; guard: string } {
  const { inChannels: C, inHeight: H, inWidth: W } = s;
  const guards = ['live'];
  if (tile.tileRows * tile.tr > H) guards.push(`h0 + ${a}u < ${H}u`);
  if (tile.tilesPerRow * tile.tn > W) guards.push(`v0 + ${b}u < ${W}u`);
  return { index: `n * ${C * H * W}u + ${c * H * W}u + min(h0 + ${a}u, ${H - 1}u) * ${W}u + min(v0 + ${b}u, ${W - 1}u)`, guard: guards.join(' && ') };
}

// An invocation computes a tile of TR × TN input pixels of one image, every input channel. TR and TN
// are multiples of the stride S and tiles start at multiples of it, so which taps reach which pixel is
// known when the WGSL is generated: pixel column v0 + b takes tap kw from dz column v0/S + (b + P − kw)/S
// when S divides b + P − kw (rows likewise). Pixels of the tile share their p loads ((TR + KH − 1) ×
// (TN + KW − 1) at stride 1 for C·TR·TN·KH·KW FMAs per output channel).
/** The input-gradient pass (with the ReLU and clip masks), then g or the L∞ step and projection; out shaped as x. */
/** (output 'raw': Wᵀ(p ⊙ m) alone, without x, η and the clip mask.) */
function inputGradientStep(gpu: Gpu, x: GpuBuffer | null, eta: GpuBuffer | null, p: GpuBuffer, mask: GpuBuffer | null, w: GpuBuffer, s: Conv2dShape, o: { output: ConvAscentOptions['output'] | 'raw'; sigma: number; eps: number }): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const KK = KH * KW;
  const out = gpu.acquire(B * C * H * W * 4);
  const stepping = o.output === 'linfStep';
  const raw = o.output === 'raw';
  const words = Math.ceil(O / 32);
  const { tr, tn, tileRows, tilesPerRow } = gradientTile(s, accumulatorBudget(gpu));
  const tiles = B * tileRows * tilesPerRow;
  const { workgroups, stride } = grid(tiles);
  const pipeline = gpu.program(`conv_ascent_${o.output}`, `${JSON.stringify(s)}|${mask !== null}|${tr}x${tn}`, () => {
    const rows = taps(tr, KH, S, P);
    const cols = taps(tn, KW, S, P);
    const L = tileHeader(s, { tr, tn, tileRows, tilesPerRow }, tiles, stride, rows.offsets, cols.offsets);
    for (let c = 0; c < C; c++) for (let a = 0; a < tr; a++) for (let b = 0; b < tn; b++) L.push(`  var g${c}_${a}_${b} = 0.0;`);
    L.push(`  for (var word = 0u; word < ${words}u; word++) {`);
    // With a ReLU: the mask words of the tile's dz pixels, one gather each per 32 output channels.
    if (mask) {
      L.push(`    let wordBase = (n * ${words}u + word) * ${OH * OW}u;`);
      for (const ro of rows.offsets) for (const co of cols.offsets) L.push(`    let m${at(ro, co)} = mask[wordBase + row${name(ro)} + col${name(co)}];`);
    }
    L.push(`    for (var o = word * 32u; o < min(word * 32u + 32u, ${O}u); o++) {`, `      let plane = (n * ${O}u + o) * ${OH * OW}u;`);
    if (mask) L.push('      let bit = 1u << (o & 31u);');
    for (let c = 0; c < C; c++) for (let t = 0; t < KK; t++) L.push(`      let w${c}_${t} = w[o * ${C * KK}u + ${c * KK + t}u];`);
    for (const ro of rows.offsets) {
      for (const co of cols.offsets) {
        const ok = `rowOk${name(ro)} && colOk${name(co)}${mask ? ` && (m${at(ro, co)} & bit) != 0u` : ''}`;
        L.push(`      let d${at(ro, co)} = select(0.0, p[plane + row${name(ro)} + col${name(co)}], ${ok});`);
        for (const rr of rows.reads.filter((r) => r.off === ro)) {
          for (const cr of cols.reads.filter((r) => r.off === co)) {
            for (let c = 0; c < C; c++) L.push(`      g${c}_${rr.pixel}_${cr.pixel} = fma(w${c}_${rr.tap * KW + cr.tap}, d${at(ro, co)}, g${c}_${rr.pixel}_${cr.pixel});`);
          }
        }
      }
    }
    L.push('    }', '  }');
    for (let c = 0; c < C; c++) {
      for (let a = 0; a < tr; a++) {
        for (let b = 0; b < tn; b++) {
          const { index, guard } = tilePixel(s, { tr, tn, tileRows, tilesPerRow }, c, a, b);
          L.push('  {', `    let i = ${index};`);
          if (raw) {
            L.push(`    if (${guard}) { out[i] = g${c}_${a}_${b}; }`, '  }');
            continue;
          }
          L.push(...clipAndStore(`g${c}_${a}_${b}`, 'i', stepping, guard, '    '), '  }');
        }
      }
    }
    const decl = storageDeclarations(bindingNames(raw, mask !== null));
    return `
${stepping ? 'struct Step { sigma: f32, eps: f32 }' : ''}
${decl.join('\n')}
${stepping ? `@group(0) @binding(${decl.length}) var<uniform> u: Step;` : ''}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
${L.join('\n')}
}`;
  });
  const named: Record<string, GpuBuffer | null> = { x, eta, p, w, out, mask };
  const buffers = bindingNames(raw, mask !== null).map((b) => named[b]!);
  if (stepping) gpu.dispatch(pipeline, buffers, [...workgroups, 1], new Float32Array([o.sigma, o.eps]));
  else gpu.dispatch(pipeline, buffers, [...workgroups, 1]);
  return out;
}

/** WGSL that ends both gradient kernels: the clip's VJP on gradient `g` at element `i` (it passes where
 *  clip(x + η) = x + η, 0 ≤ x + η ≤ 1 inclusive), then g or the L∞ step and projection stored to out[i]
 *  where `guard` holds. Reads x, η and, when stepping, the uniform u. */
function clipAndStore(g: string, i: string, stepping: boolean, guard: string, ind: string): string[] {
  const L = [`let e = eta[${i}];`, `let xi = x[${i}];`, 'let sum = xi + e;', `let masked = select(0.0, ${g}, clamp(sum, 0.0, 1.0) == sum);`];
  if (stepping) L.push('let inBall = clamp(e + u.sigma * sign(masked), -u.eps, u.eps);', `if (${guard}) { out[${i}] = clamp(xi + inBall, 0.0, 1.0) - xi; }`);
  else L.push(`if (${guard}) { out[${i}] = masked; }`);
  return L.map((line) => ind + line);
}

/** WGSL declarations of storage bindings 0, 1, … in the order given: `out` writable, the bit words u32, the rest f32. */
function storageDeclarations(names: readonly string[]): string[] {
  const type = (b: string) => (['mask', 'bits', 'bits0'].includes(b) ? 'u32' : 'f32');
  return names.map((b, k) => `@group(0) @binding(${k}) var<storage, ${b === 'out' ? 'read_write' : 'read'}> ${b}: array<${type(b)}>;`);
}

/** The correction step's storage bindings in order (a uniform, when stepping, comes after them). */
const CORRECTION_BINDINGS = ['x', 'eta', 'p', 'w', 'out', 'bits0', 'bits', 'g0'] as const;

/** The gradient pass's storage bindings in order (a uniform, when stepping, comes after them). */
function bindingNames(raw: boolean, mask: boolean): string[] {
  return [...(raw ? [] : ['x', 'eta']), 'p', 'w', 'out', ...(mask ? ['mask'] : [])];
}

/** YOPO's fused first-layer step (see ConvAscentOptions): two dispatches with a ReLU, one without. */
export function convAscent(gpu: Gpu, x: GpuBuffer, eta: GpuBuffer, p: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, s: Conv2dShape, o: ConvAscentOptions): GpuBuffer {
  // The op layer (engine/ops/conv_ascent.ts) refuses empty shapes.
  const mask = o.relu ? reluMask(gpu, x, eta, w, bias, s) : null;
  const out = inputGradientStep(gpu, x, eta, p, mask, w, s, o);
  if (mask) gpu.release(mask);
  return out;
}

// ---- From a base: YOPO's steps within one full pass (Backend.convAscentFrom) ----
// p is frozen for a full pass's n inner steps, and from step to step only a few ReLU bits move (about
// 0.05–0.4% of SmallCNN's, bench/first-layer-notes.md). So the pass computes once the bits m₀ at its η
// and g₀ = Wᵀ(p ⊙ m₀) (the gradient pass above, output 'raw'), and each step computes its own bits and
// corrects g₀ only where they differ: per tile of input pixels, the two mask words of each window
// position that reaches it, and p and w only at the flipped bits. That reads a small share of what the
// dense pass reads (the per-lane reads that bound it on lavapipe).

/** The ReLU bits at η (Backend.convReluBits): the mask kernel's words. */
export function convReluBits(gpu: Gpu, x: GpuBuffer, eta: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, s: Conv2dShape): GpuBuffer {
  return reluMask(gpu, x, eta, w, bias, s);
}

/** Wᵀ(p ⊙ m) for ReLU bits m (Backend.convMaskedInputGradient): the dense gradient pass without x, η or the clip. */
export function convMaskedInputGradient(gpu: Gpu, p: GpuBuffer, bits: GpuBuffer, w: GpuBuffer, s: Conv2dShape): GpuBuffer {
  return inputGradientStep(gpu, null, null, p, bits, w, s, { output: 'raw', sigma: 0, eps: 0 });
}

/** Backend.convAscentFrom: the bits at η, then g₀ corrected at the bits that differ from bits0, the clip mask, and g or the L∞ step. */
export function convAscentFrom(gpu: Gpu, x: GpuBuffer, eta: GpuBuffer, p: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, bits0: GpuBuffer, gradient0: GpuBuffer, s: Conv2dShape, o: Omit<ConvAscentOptions, 'relu'>): GpuBuffer {
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
// short. Unrolled too, LLVM took 21 s over SmallCNN's kernel (this one 5.5 s, one pixel an invocation
// 0.4 s, empty Mesa cache). YOPO's steps on the demo's trained SmallCNN, MNIST, batch 128 (2026-12-02):
// a pass of 10 steps from its base took 47–70 ms against 69–81 ms one pixel an invocation.
function correctedStep(gpu: Gpu, x: GpuBuffer, eta: GpuBuffer, p: GpuBuffer, w: GpuBuffer, bits0: GpuBuffer, bits: GpuBuffer, gradient0: GpuBuffer, s: Conv2dShape, o: Omit<ConvAscentOptions, 'relu'>): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const KK = KH * KW;
  const out = gpu.acquire(B * C * H * W * 4);
  const stepping = o.output === 'linfStep';
  const words = Math.ceil(O / 32);
  const tile = gradientTile(s, accumulatorBudget(gpu));
  const { tr, tn, tileRows, tilesPerRow } = tile;
  const tiles = B * tileRows * tilesPerRow;
  const { workgroups, stride } = grid(tiles);
  const pipeline = gpu.program(`conv_ascent_from_${o.output}`, `${JSON.stringify(s)}|${tr}x${tn}`, () => {
    const rows = taps(tr, KH, S, P);
    const cols = taps(tn, KW, S, P);
    const L = tileHeader(s, tile, tiles, stride, rows.offsets, cols.offsets);
    for (let a = 0; a < tr; a++) for (let b = 0; b < tn; b++) L.push(`  var live${a}_${b} = 0u;`);
    L.push(`  var corr: array<f32, ${C * tr * tn}>;`);
    // Bits past the last channel of the last word are never set by the mask kernel; masked off anyway.
    const valid = O % 32 === 0 ? '0xffffffffu' : `select(0xffffffffu, ${(2 ** (O % 32) - 1) >>> 0}u, word == ${words - 1}u)`;
    L.push(`  for (var word = 0u; word < ${words}u; word++) {`, `    let wordBase = (n * ${words}u + word) * ${OH * OW}u;`, '    var flipped = 0u;');
    for (const ro of rows.offsets) {
      for (const co of cols.offsets) {
        L.push('    {', `      let ok = rowOk${name(ro)} && colOk${name(co)};`, `      let k = wordBase + row${name(ro)} + col${name(co)};`);
        L.push('      let now = select(0u, bits[k], ok);', `      flipped |= select(0u, bits0[k] ^ now, ok);`);
        for (const rr of rows.reads.filter((r) => r.off === ro)) for (const cr of cols.reads.filter((r) => r.off === co)) L.push(`      live${rr.pixel}_${cr.pixel} |= now;`);
        L.push('    }');
      }
    }
    // The flipped bits: dz rows and columns from the tile's first offsets on, every tap that reaches the tile.
    const [r0, c0] = [rows.offsets[0], cols.offsets[0]];
    const [nr, nc] = [rows.offsets[rows.offsets.length - 1] - r0 + 1, cols.offsets[cols.offsets.length - 1] - c0 + 1];
    L.push(
      `    if ((flipped & ${valid}) != 0u) {`,
      `      for (var r = 0; r < ${nr}; r++) {`,
      `        let oy = i32(h0 / ${S}u) + ${r0} + r;`,
      `        if (oy < 0 || oy >= ${OH}) { continue; }`,
      `        for (var q2 = 0; q2 < ${nc}; q2++) {`,
      `          let ox = i32(v0 / ${S}u) + ${c0} + q2;`,
      `          if (ox < 0 || ox >= ${OW}) { continue; }`,
      `          let pos = u32(oy) * ${OW}u + u32(ox);`,
      '          let now = bits[wordBase + pos];',
      `          var f = (bits0[wordBase + pos] ^ now) & ${valid};`,
      '          while (f != 0u) {',
      '            let bit = countTrailingZeros(f);',
      '            f &= f - 1u;',
      '            let oc = word * 32u + bit;',
      `            let d = p[(n * ${O}u + oc) * ${OH * OW}u + pos];`,
      '            let dz = select(-d, d, ((now >> bit) & 1u) != 0u);',
      // Input row oy·S − P + kh, column ox·S − P + kw, relative to the tile's first pixel.
      `            for (var kh = 0; kh < ${KH}; kh++) {`,
      `              let a = oy * ${S} - ${P} + kh - i32(h0);`,
      `              if (a < 0 || a >= ${tr}) { continue; }`,
      `              for (var kw = 0; kw < ${KW}; kw++) {`,
      `                let b = ox * ${S} - ${P} + kw - i32(v0);`,
      `                if (b < 0 || b >= ${tn}) { continue; }`,
      `                for (var c = 0; c < ${C}; c++) {`,
      `                  let ci = (c * ${tr} + a) * ${tn} + b;`,
      `                  corr[ci] = fma(w[(oc * ${C}u + u32(c)) * ${KK}u + u32(kh * ${KW} + kw)], dz, corr[ci]);`,
      '                }', '              }', '            }', '          }', '        }', '      }', '    }');
    L.push('  }');
    for (let c = 0; c < C; c++) {
      for (let a = 0; a < tr; a++) {
        for (let b = 0; b < tn; b++) {
          const { index, guard } = tilePixel(s, tile, c, a, b);
          // No ReLU bit at η reaches this pixel: the gradient is exactly 0, as the direct sum gives, not the
          // rounding left over from removing g₀'s terms.
          L.push('  {', `    let i = ${index};`, `    let g = select(g0[i] + corr[${(c * tr + a) * tn + b}], 0.0, live${a}_${b} == 0u);`, ...clipAndStore('g', 'i', stepping, guard, '    '), '  }');
        }
      }
    }
    return `
${stepping ? 'struct Step { sigma: f32, eps: f32 }' : ''}
${storageDeclarations(CORRECTION_BINDINGS).join('\n')}
${stepping ? `@group(0) @binding(${CORRECTION_BINDINGS.length}) var<uniform> u: Step;` : ''}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
${L.join('\n')}
}`;
  });
  const named = { x, eta, p, w, out, bits0, bits, g0: gradient0 };
  const buffers = CORRECTION_BINDINGS.map((b) => named[b]);
  if (stepping) gpu.dispatch(pipeline, buffers, [...workgroups, 1], new Float32Array([o.sigma, o.eps]));
  else gpu.dispatch(pipeline, buffers, [...workgroups, 1]);
  return out;
}
