// Reference of YOPO's fused first-layer step (Backend.convAscent), written as the op-by-op path it
// replaces: a = clip(x + η, 0, 1); z = conv(a) + b; dz = p where z > 0 (ReLU) else 0; g = conv's
// input-VJP of dz, zero where x + η is outside [0, 1]; then, for 'linfStep', Π(η + σ·sign(g)).
// Every intermediate is stored in an array of the backend's float type, so it rounds as the ops do.

import type { Conv2dShape, ConvAscentOptions } from '../backend.js';
import { conv2d, conv2dBackwardInput } from './conv2d.js';
import type { FloatArray } from './storage.js';

const clip = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);

/** Writes g or the stepped η (see ConvAscentOptions) into out, shaped as x. */
export function convAscent(
  x: FloatArray,
  eta: FloatArray,
  p: FloatArray,
  w: FloatArray,
  bias: FloatArray | null,
  s: Conv2dShape,
  o: ConvAscentOptions,
  out: FloatArray,
): void {
  const make = (n: number): FloatArray => (out instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));
  const n = x.length;
  const sum = make(n);
  for (let i = 0; i < n; i++) sum[i] = x[i] + eta[i];
  const a = make(n);
  for (let i = 0; i < n; i++) a[i] = clip(sum[i], 0, 1);
  let dz = p;
  if (o.relu) {
    const z = make(p.length);
    conv2d(a, w, bias, s, z);
    dz = make(p.length);
    for (let i = 0; i < p.length; i++) dz[i] = z[i] > 0 ? p[i] : 0;
  }
  const g = make(n);
  conv2dBackwardInput(dz, w, s, g);
  finish(x, eta, g, o, out);
}

/** The clip's VJP on g (in place), then g or the L∞ step into out. */
function finish(
  x: FloatArray,
  eta: FloatArray,
  g: FloatArray,
  o: Omit<ConvAscentOptions, 'relu'>,
  out: FloatArray,
): void {
  const make = (n: number): FloatArray => (out instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));
  const n = x.length;
  const sum = make(n);
  for (let i = 0; i < n; i++) sum[i] = x[i] + eta[i];
  // The clip's VJP passes where clip(v) = v (0 ≤ v ≤ 1, inclusive).
  for (let i = 0; i < n; i++) if (clip(sum[i], 0, 1) !== sum[i]) g[i] = 0;
  if (o.output === 'gradient') {
    out.set(g);
    return;
  }
  // σ·sign(g) is stored before the add, as scale() stores it.
  const sigma = out instanceof Float64Array ? o.sigma : Math.fround(o.sigma);
  const step = make(n);
  for (let i = 0; i < n; i++) step[i] = eta[i] + sigma * Math.sign(g[i]);
  for (let i = 0; i < n; i++) step[i] = clip(step[i], -o.eps, o.eps);
  for (let i = 0; i < n; i++) step[i] = x[i] + step[i];
  for (let i = 0; i < n; i++) step[i] = clip(step[i], 0, 1);
  for (let i = 0; i < n; i++) out[i] = step[i] - x[i];
}

/** ReLU bits of conv(clip(x + η, 0, 1)) + b as int32 words [batch, ⌈O/32⌉, H′, W′] (Backend.convReluBits). */
export function convReluBits(
  x: FloatArray,
  eta: FloatArray,
  w: FloatArray,
  bias: FloatArray | null,
  s: Conv2dShape,
  out: Int32Array,
): void {
  const make = (n: number): FloatArray => (x instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));
  const a = make(x.length);
  for (let i = 0; i < x.length; i++) a[i] = clip(x[i] + eta[i], 0, 1);
  const z = make(s.batch * s.outChannels * s.outHeight * s.outWidth);
  conv2d(a, w, bias, s, z);
  const plane = s.outHeight * s.outWidth;
  const words = Math.ceil(s.outChannels / 32);
  out.fill(0);
  for (let n = 0; n < s.batch; n++) {
    for (let o = 0; o < s.outChannels; o++) {
      for (let i = 0; i < plane; i++)
        if (z[(n * s.outChannels + o) * plane + i] > 0) out[(n * words + (o >> 5)) * plane + i] |= 1 << (o & 31);
    }
  }
}

/** Whether bit o is set at output position i of image n in `bits` (words as convReluBits). */
function bitAt(bits: Int32Array, s: Conv2dShape, n: number, o: number, i: number): boolean {
  const plane = s.outHeight * s.outWidth;
  return ((bits[(n * Math.ceil(s.outChannels / 32) + (o >> 5)) * plane + i] >>> (o & 31)) & 1) === 1;
}

/** Wᵀ(p ⊙ m) for the ReLU bits m (Backend.convMaskedInputGradient). */
export function convMaskedInputGradient(
  p: FloatArray,
  bits: Int32Array,
  w: FloatArray,
  s: Conv2dShape,
  out: FloatArray,
): void {
  const plane = s.outHeight * s.outWidth;
  const dz = p instanceof Float64Array ? new Float64Array(p.length) : new Float32Array(p.length);
  for (let n = 0; n < s.batch; n++)
    for (let o = 0; o < s.outChannels; o++)
      for (let i = 0; i < plane; i++) {
        const k = (n * s.outChannels + o) * plane + i;
        dz[k] = bitAt(bits, s, n, o, i) ? p[k] : 0;
      }
  conv2dBackwardInput(dz, w, s, out);
}

/** convAscent from a base (Backend.convAscentFrom): the bits at η against bits0, each differing bit adding or removing its ±W·p. */
export function convAscentFrom(
  x: FloatArray,
  eta: FloatArray,
  p: FloatArray,
  w: FloatArray,
  bias: FloatArray | null,
  bits0: Int32Array,
  gradient0: FloatArray,
  s: Conv2dShape,
  o: Omit<ConvAscentOptions, 'relu'>,
  out: FloatArray,
): void {
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
  const now = new Int32Array(bits0.length);
  convReluBits(x, eta, w, bias, s, now);
  const make = (n: number): FloatArray => (out instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));
  const g = make(x.length);
  g.set(gradient0);
  // Whether any ReLU bit at η reaches each input pixel (where none does, g is exactly 0).
  const reached = new Uint8Array(x.length);
  // The change of Wᵀ(p ⊙ m): a scatter of ±p·w from every flipped bit to the inputs its window reads.
  for (let n = 0; n < B; n++)
    for (let oc = 0; oc < O; oc++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          const i = oy * OW + ox;
          const set = bitAt(now, s, n, oc, i);
          if (set) {
            for (let c = 0; c < C; c++)
              for (let kh = 0; kh < KH; kh++)
                for (let kw = 0; kw < KW; kw++) {
                  const v = oy * S - P + kh;
                  const u = ox * S - P + kw;
                  if (v >= 0 && v < H && u >= 0 && u < W) reached[((n * C + c) * H + v) * W + u] = 1;
                }
          }
          if (set === bitAt(bits0, s, n, oc, i)) continue;
          const d = p[(n * O + oc) * OH * OW + i];
          for (let c = 0; c < C; c++)
            for (let kh = 0; kh < KH; kh++)
              for (let kw = 0; kw < KW; kw++) {
                const v = oy * S - P + kh;
                const u = ox * S - P + kw;
                if (v < 0 || v >= H || u < 0 || u >= W) continue;
                const term = w[((oc * C + c) * KH + kh) * KW + kw] * d;
                g[((n * C + c) * H + v) * W + u] += set ? term : -term;
              }
        }
  for (let i = 0; i < g.length; i++) if (!reached[i]) g[i] = 0;
  finish(x, eta, g, o, out);
}
