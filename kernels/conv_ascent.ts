// YOPO's inner step on a conv (+bias)(+ReLU) first layer, fused (Backend.convAscent; reference in
// engine/cpu/conv_ascent.ts). The op-by-op path runs 16–17 dispatches per L∞ step (add, clamp, pad,
// conv, ReLU mask, weight layout, transposed conv, clip mask, sign, scale, add, clamp, add, clamp, sub);
// here it is two dispatches, or one for a first layer without ReLU (each over row tiles of pixels):
//   1. (ReLU only) per output pixel: z = b + Σ w·clip(x + η, 0, 1) over its window, read straight from
//      x and η (no padded copy), and dz = p where z > 0 else 0.
//   2. per input pixel: g = Σ_{o, taps that reach it} w·dz (the conv's input-VJP as a gather, so no
//      atomics), zero where x + η is outside [0, 1]; then either g, or η + σ·sign(g) projected onto
//      the ε-ball and onto x + η ∈ [0, 1].
// Shapes are baked into the WGSL as constants; σ and ε come in a uniform, so a new ε (or a schedule of
// σ) compiles nothing new.

import type { Conv2dShape, ConvAscentOptions } from '../engine/backend.js';
import type { Gpu, GpuBuffer } from './webgpu/gpu.js';
import { WORKGROUP } from './wgsl.js';

/** Most pixels per invocation of either kernel: on lavapipe at SmallCNN batch 128, 14 (two tiles a 28-pixel row) ran the input-gradient pass in about 0.6 of the time of 8, and 28 spilled registers (several times slower). */
const TN_MAX = 14;

/** Most clipped inputs an invocation of the ReLU-mask kernel keeps in registers across output channels. */
const WINDOW_IN_REGISTERS = 64;

/** Pixels per invocation along a row of `width`: at most TN_MAX, splitting the row evenly (28 → 2 × 14, 17 → 2 × 9), a multiple of `multiple`. */
function rowTile(width: number, multiple: number): { tn: number; tilesPerRow: number } {
  const tn = multiple * Math.ceil(Math.ceil(width / Math.ceil(width / TN_MAX)) / multiple);
  return { tn, tilesPerRow: Math.ceil(width / tn) };
}

/** The header of a kernel over the pixel tiles of one plane: workgroup (x: tile block, y: image, z: channel),
 *  `q` the tile (clamped in range, so loads stay safe) and `live` whether it is a real one. */
function planeMain(tiles: number): string {
  return `@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let n = wg.y;
  let live = wg.x * ${WORKGROUP}u + lid.x < ${tiles}u;
  let q = min(wg.x * ${WORKGROUP}u + lid.x, ${tiles - 1}u);`;
}

// An invocation computes TN consecutive output pixels of one row for every output channel: the
// clipped window (KH rows × (TN−1)·S + KW columns per input channel) is loaded once for all of them,
// and the image comes from the workgroup id, so each weight load is one scalar load for all lanes.
/** dz [batch, O, OH, OW] = p where b + conv(clip(x + η, 0, 1)) > 0, else 0: the cotangent behind f0's ReLU. */
function reluMaskedCotangent(gpu: Gpu, x: GpuBuffer, eta: GpuBuffer, p: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, s: Conv2dShape): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const KK = KH * KW;
  const out = gpu.acquire(B * O * OH * OW * 4);
  const { tn, tilesPerRow } = rowTile(OW, 1);
  const cols = (tn - 1) * S + KW;
  const inRegisters = C * KH * cols <= WINDOW_IN_REGISTERS;
  // Unrolled for one shape (YOPO runs it n times per full pass); the key names what the source depends on.
  const pipeline = gpu.program('conv_ascent_relu_mask', `${JSON.stringify(s)}|${bias !== null}`, () => {
    const L: string[] = [`  let oi = q / ${tilesPerRow}u;`, `  let oj0 = (q % ${tilesPerRow}u) * ${tn}u;`];
    // Window rows and columns inside the image (only padding can put them outside).
    for (let kh = 0; kh < KH; kh++) L.push(`  let h${kh} = i32(oi * ${S}u) + ${kh - P};`, `  let rowOk${kh} = u32(h${kh}) < ${H}u;`);
    for (let u = 0; u < cols; u++) L.push(`  let v${u} = i32(oj0 * ${S}u) + ${u - P};`, `  let colOk${u} = u32(v${u}) < ${W}u;`);
    const window = (plane: string, c: string, ind: string) => {
      const W2: string[] = [];
      for (let kh = 0; kh < KH; kh++) {
        for (let u = 0; u < cols; u++) {
          const ok = `rowOk${kh} && colOk${u}`;
          W2.push(`${ind}let k${c}_${kh}_${u} = ${plane} + u32(select(0, h${kh} * ${W} + v${u}, ${ok}));`);
          W2.push(`${ind}let a${c}_${kh}_${u} = select(0.0, clamp(x[k${c}_${kh}_${u}] + eta[k${c}_${kh}_${u}], 0.0, 1.0), ${ok});`);
        }
      }
      return W2;
    };
    const sums = (c: number | string, wIndex: (kh: number, kw: number) => string, ind: string) => {
      const S2: string[] = [];
      for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) S2.push(`${ind}let w${kh}_${kw} = w[${wIndex(kh, kw)}];`);
      for (let b = 0; b < tn; b++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) S2.push(`${ind}z${b} = fma(w${kh}_${kw}, a${c}_${kh}_${b * S + kw}, z${b});`);
      return S2;
    };
    if (inRegisters) for (let c = 0; c < C; c++) L.push(...window(`${(c * H * W)}u + n * ${C * H * W}u`, String(c), '  '));
    L.push(`  for (var o = 0u; o < ${O}u; o++) {`);
    for (let b = 0; b < tn; b++) L.push(`    var z${b} = ${bias ? 'bias[o]' : '0.0'};`);
    if (inRegisters) {
      for (let c = 0; c < C; c++) L.push('    {', ...sums(c, (kh, kw) => `o * ${C * KK}u + ${c * KK + kh * KW + kw}u`, '      '), '    }');
    } else {
      L.push(`    for (var c = 0u; c < ${C}u; c++) {`, ...window(`(n * ${C}u + c) * ${H * W}u`, 'c', '      '), ...sums('c', (kh, kw) => `(o * ${C}u + c) * ${KK}u + ${kh * KW + kw}u`, '      '), '    }');
    }
    L.push(`    let k = (n * ${O}u + o) * ${OH * OW}u + oi * ${OW}u + oj0;`);
    for (let b = 0; b < tn; b++) {
      const guard = tilesPerRow * tn > OW ? `live && oj0 + ${b}u < ${OW}u` : 'live';
      L.push(`    if (${guard}) { out[k + ${b}u] = select(0.0, p[k + ${b}u], z${b} > 0.0); }`);
    }
    L.push('  }');
    return `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> eta: array<f32>;
@group(0) @binding(2) var<storage, read> p: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
${bias ? '@group(0) @binding(5) var<storage, read> bias: array<f32>;' : ''}
${planeMain(OH * tilesPerRow)}
${L.join('\n')}
}`;
  });
  gpu.dispatch(pipeline, bias ? [x, eta, p, w, out, bias] : [x, eta, p, w, out], [Math.ceil((OH * tilesPerRow) / WORKGROUP), B, 1]);
  return out;
}


// An invocation computes TN consecutive input pixels of one row (n, c, h), TN a multiple of the
// stride S and tiles starting at multiples of it, so which taps reach which pixel is known when the
// WGSL is generated: pixel v0 + b takes tap kw from dy column v0/S + (b + P − kw)/S when S divides
// b + P − kw. Neighbouring pixels share their dz loads (3 rows × 16 columns for 14 pixels of a 3x3
// kernel, against 126 one pixel at a time). Image and channel come from the workgroup id, so each
// weight load is one scalar load for all lanes.
/** The input-gradient pass (with the clip mask), then g or the L∞ step and projection; out shaped as x. */
function inputGradientStep(gpu: Gpu, x: GpuBuffer, eta: GpuBuffer, dz: GpuBuffer, w: GpuBuffer, s: Conv2dShape, o: ConvAscentOptions): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const out = gpu.acquire(B * C * H * W * 4);
  const stepping = o.output === 'linfStep';
  const { tn, tilesPerRow } = rowTile(W, S);
  const pipeline = gpu.program(`conv_ascent_${o.output}`, JSON.stringify(s), () => {
    const L: string[] = [`  let h = q / ${tilesPerRow}u;`, `  let v0 = (q % ${tilesPerRow}u) * ${tn}u;`];
    // The dy row of each kernel row kh (shared by the tile), and whether it exists.
    for (let kh = 0; kh < KH; kh++) {
      L.push(`  let rowRaw${kh} = i32(h) + ${P - kh};`);
      const ok = S === 1 ? `u32(rowRaw${kh}) < ${OH}u` : `rowRaw${kh} >= 0 && u32(rowRaw${kh}) % ${S}u == 0u && u32(rowRaw${kh}) / ${S}u < ${OH}u`;
      L.push(`  let rowOk${kh} = ${ok};`, `  let row${kh} = select(0u, u32(rowRaw${kh}) / ${S}u, rowOk${kh}) * ${OW}u;`);
    }
    // The dy column offsets (from v0/S) the tile reads: pixel b, tap kw reads offset (b + P − kw)/S.
    const name = (off: number) => (off < 0 ? `m${-off}` : `${off}`);
    const reads: { b: number; kw: number; off: number }[] = [];
    for (let b = 0; b < tn; b++) {
      for (let kw = 0; kw < KW; kw++) {
        const d = b + P - kw;
        if (((d % S) + S) % S === 0) reads.push({ b, kw, off: d / S });
      }
    }
    const offsets = [...new Set(reads.map((r) => r.off))].sort((a, b) => a - b);
    for (const off of offsets) {
      L.push(`  let colRaw${name(off)} = i32(v0 / ${S}u) + ${off};`, `  let colOk${name(off)} = u32(colRaw${name(off)}) < ${OW}u;`);
      L.push(`  let col${name(off)} = select(0u, u32(colRaw${name(off)}), colOk${name(off)});`);
    }
    for (let b = 0; b < tn; b++) L.push(`  var g${b} = 0.0;`);
    L.push(`  for (var o = 0u; o < ${O}u; o++) {`, `    let plane = (n * ${O}u + o) * ${OH * OW}u;`, `    let wrow = (o * ${C}u + c) * ${KH * KW}u;`);
    for (let t = 0; t < KH * KW; t++) L.push(`    let w${t} = w[wrow + ${t}u];`);
    for (let kh = 0; kh < KH; kh++) {
      for (const off of offsets) L.push(`    let d${kh}_${name(off)} = select(0.0, dz[plane + row${kh} + col${name(off)}], rowOk${kh} && colOk${name(off)});`);
    }
    for (const { b, kw, off } of reads) for (let kh = 0; kh < KH; kh++) L.push(`    g${b} = fma(w${kh * KW + kw}, d${kh}_${name(off)}, g${b});`);
    L.push('  }');
    L.push(`  let rowStart = (n * ${C}u + c) * ${H * W}u + h * ${W}u;`);
    for (let b = 0; b < tn; b++) {
      const guard = tilesPerRow * tn > W ? `live && v0 + ${b}u < ${W}u` : 'live';
      L.push(`  {`, `    let i = rowStart + min(v0 + ${b}u, ${W - 1}u);`, '    let e = eta[i];', '    let xi = x[i];', '    let sum = xi + e;');
      // The clip's VJP passes where clip(x + η) = x + η (0 ≤ x + η ≤ 1, inclusive).
      L.push(`    let masked = select(0.0, g${b}, clamp(sum, 0.0, 1.0) == sum);`);
      if (stepping) L.push('    let inBall = clamp(e + u.sigma * sign(masked), -u.eps, u.eps);', `    if (${guard}) { out[i] = clamp(xi + inBall, 0.0, 1.0) - xi; }`);
      else L.push(`    if (${guard}) { out[i] = masked; }`);
      L.push('  }');
    }
    return `
${stepping ? 'struct Step { sigma: f32, eps: f32 }' : ''}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> eta: array<f32>;
@group(0) @binding(2) var<storage, read> dz: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
${stepping ? '@group(0) @binding(5) var<uniform> u: Step;' : ''}
${planeMain(H * tilesPerRow)}
  let c = wg.z;
${L.join('\n')}
}`;
  });
  const workgroups: [number, number, number] = [Math.ceil((H * tilesPerRow) / WORKGROUP), B, C];
  if (stepping) gpu.dispatch(pipeline, [x, eta, dz, w, out], workgroups, new Float32Array([o.sigma, o.eps]));
  else gpu.dispatch(pipeline, [x, eta, dz, w, out], workgroups);
  return out;
}

/** YOPO's fused first-layer step (see ConvAscentOptions): two dispatches with a ReLU, one without. */
export function convAscent(gpu: Gpu, x: GpuBuffer, eta: GpuBuffer, p: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, s: Conv2dShape, o: ConvAscentOptions): GpuBuffer {
  // The op layer (engine/ops/conv_ascent.ts) refuses empty shapes.
  const dz = o.relu ? reluMaskedCotangent(gpu, x, eta, p, w, bias, s) : p;
  const out = inputGradientStep(gpu, x, eta, dz, w, s, o);
  if (dz !== p) gpu.release(dz);
  return out;
}
