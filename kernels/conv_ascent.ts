// YOPO's inner step on a conv (+bias)(+ReLU) first layer, fused (Backend.convAscent; reference in
// engine/cpu/conv_ascent.ts). The op-by-op path runs about fifteen kernels per step (add, clamp, pad,
// conv, ReLU mask, weight layout, transposed conv, clip mask, sign, scale, add, clamp, add, clamp, sub);
// here it is two dispatches, or one for a first layer without ReLU:
//   1. (ReLU only) per output pixel: z = b + Σ w·clip(x + η, 0, 1) over its window, read straight from
//      x and η (no padded copy), and dz = p where z > 0 else 0.
//   2. per input pixel: g = Σ_{o, taps that reach it} w·dz (the conv's input-VJP as a gather, so no
//      atomics), zero where x + η is outside [0, 1]; then either g, or η + σ·sign(g) projected onto
//      the ε-ball and onto x + η ∈ [0, 1].
// Shapes are baked into the WGSL as constants; σ and ε come in a uniform, so a new ε (or a schedule of
// σ) compiles nothing new.

import type { Conv2dShape, ConvAscentOptions } from '../engine/backend.js';
import type { Gpu, GpuBuffer } from '../engine/webgpu/gpu.js';
import { flatIndex, grid } from './wgsl.js';

// Generated WGSL by kernel and shape: YOPO runs these n times per full pass.
const sources = new Map<string, string>();
function generated(key: string, build: () => string): string {
  let code = sources.get(key);
  if (code === undefined) sources.set(key, (code = build()));
  return code;
}

/** dz [batch, O, OH, OW] = p where b + conv(clip(x + η, 0, 1)) > 0, else 0: the cotangent behind f0's ReLU. */
function reluMaskedCotangent(gpu: Gpu, x: GpuBuffer, eta: GpuBuffer, p: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, s: Conv2dShape): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const total = B * O * OH * OW;
  const out = gpu.acquire(total * 4);
  const { workgroups, stride } = grid(total);
  const code = generated(`relu_mask|${JSON.stringify(s)}|${bias !== null}`, () => {
    const L: string[] = [];
    // Window rows and columns inside the image (only padding can put them outside).
    for (let kh = 0; kh < KH; kh++) L.push(`  let h${kh} = i32(oi * ${S}u) + ${kh - P};`, P > 0 ? `  let rowOk${kh} = u32(h${kh}) < ${H}u;` : '');
    for (let kw = 0; kw < KW; kw++) L.push(`  let v${kw} = i32(oj * ${S}u) + ${kw - P};`, P > 0 ? `  let colOk${kw} = u32(v${kw}) < ${W}u;` : '');
    L.push(`  var z = ${bias ? 'bias[o]' : '0.0'};`);
    L.push(`  for (var c = 0u; c < ${C}u; c++) {`, `    let plane = (n * ${C}u + c) * ${H * W}u;`, `    let wrow = (o * ${C}u + c) * ${KH * KW}u;`);
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        const t = kh * KW + kw;
        if (P > 0) {
          L.push(`    let ok${t} = rowOk${kh} && colOk${kw};`);
          L.push(`    let k${t} = plane + u32(select(0, h${kh} * ${W} + v${kw}, ok${t}));`);
          L.push(`    z = fma(w[wrow + ${t}u], select(0.0, clamp(x[k${t}] + eta[k${t}], 0.0, 1.0), ok${t}), z);`);
        } else {
          L.push(`    let k${t} = plane + u32(h${kh} * ${W} + v${kw});`);
          L.push(`    z = fma(w[wrow + ${t}u], clamp(x[k${t}] + eta[k${t}], 0.0, 1.0), z);`);
        }
      }
    }
    L.push('  }');
    return `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> eta: array<f32>;
@group(0) @binding(2) var<storage, read> p: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
${bias ? '@group(0) @binding(5) var<storage, read> bias: array<f32>;' : ''}
${flatIndex(total, stride)}
  let oj = i % ${OW}u;
  let oi = (i / ${OW}u) % ${OH}u;
  let o = (i / ${OH * OW}u) % ${O}u;
  let n = i / ${O * OH * OW}u;
${L.filter((l) => l).join('\n')}
  out[i] = select(0.0, p[i], z > 0.0);
}`;
  });
  gpu.dispatch(gpu.pipeline('conv_ascent_relu_mask', code), bias ? [x, eta, p, w, out, bias] : [x, eta, p, w, out], workgroups);
  return out;
}

/** Along one axis, the WGSL that finds which output position tap k of input position `at` comes from:
 *  at + P − k = S·q with 0 ≤ q < size. Declares `${name}${k}` (the position) and `${name}Ok${k}`. */
function tapSources(name: string, at: string, K: number, S: number, P: number, size: number): string[] {
  const L: string[] = [];
  for (let k = 0; k < K; k++) {
    L.push(`  let ${name}Raw${k} = i32(${at}) + ${P - k};`);
    if (S === 1) {
      L.push(`  let ${name}${k} = u32(${name}Raw${k});`, `  let ${name}Ok${k} = ${name}${k} < ${size}u;`);
    } else {
      L.push(`  let ${name}${k} = u32(max(${name}Raw${k}, 0)) / ${S}u;`);
      L.push(`  let ${name}Ok${k} = ${name}Raw${k} >= 0 && u32(${name}Raw${k}) % ${S}u == 0u && ${name}${k} < ${size}u;`);
    }
  }
  return L;
}

/** The input-gradient pass (with the clip mask), then g or the L∞ step and projection; out shaped as x. */
function inputGradientStep(gpu: Gpu, x: GpuBuffer, eta: GpuBuffer, dz: GpuBuffer, w: GpuBuffer, s: Conv2dShape, o: ConvAscentOptions): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const total = B * C * H * W;
  const out = gpu.acquire(total * 4);
  const { workgroups, stride } = grid(total);
  const stepping = o.output === 'linfStep';
  const code = generated(`input_step|${JSON.stringify(s)}|${o.output}`, () => {
    const L: string[] = [...tapSources('row', 'h', KH, S, P, OH), ...tapSources('col', 'v', KW, S, P, OW)];
    const taps: number[][] = [];
    for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) taps.push([kh, kw]);
    for (const [kh, kw] of taps) {
      const t = kh * KW + kw;
      L.push(`  let ok${t} = rowOk${kh} && colOk${kw};`, `  let at${t} = select(0u, row${kh} * ${OW}u + col${kw}, ok${t});`);
    }
    L.push('  var g = 0.0;', `  for (var o = 0u; o < ${O}u; o++) {`, `    let plane = (n * ${O}u + o) * ${OH * OW}u;`, `    let wrow = (o * ${C}u + c) * ${KH * KW}u;`);
    for (const [kh, kw] of taps) {
      const t = kh * KW + kw;
      L.push(`    g = fma(w[wrow + ${t}u], select(0.0, dz[plane + at${t}], ok${t}), g);`);
    }
    L.push('  }');
    return `
${stepping ? 'struct Step { sigma: f32, eps: f32 }' : ''}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> eta: array<f32>;
@group(0) @binding(2) var<storage, read> dz: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
${stepping ? '@group(0) @binding(5) var<uniform> u: Step;' : ''}
${flatIndex(total, stride)}
  let v = i % ${W}u;
  let h = (i / ${W}u) % ${H}u;
  let c = (i / ${H * W}u) % ${C}u;
  let n = i / ${C * H * W}u;
${L.join('\n')}
  let e = eta[i];
  let xi = x[i];
  let sum = xi + e;
  // The clip's VJP passes where clip(x + η) = x + η (0 ≤ x + η ≤ 1, inclusive).
  let masked = select(0.0, g, clamp(sum, 0.0, 1.0) == sum);
${stepping
  ? `  let inBall = clamp(e + u.sigma * sign(masked), -u.eps, u.eps);
  out[i] = clamp(xi + inBall, 0.0, 1.0) - xi;`
  : '  out[i] = masked;'}
}`;
  });
  const pipeline = gpu.pipeline(`conv_ascent_${o.output}`, code);
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
