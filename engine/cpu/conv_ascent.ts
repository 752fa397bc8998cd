// Reference of YOPO's fused first-layer step (Backend.convAscent), written as the op-by-op path it
// replaces: a = clip(x + η, 0, 1); z = conv(a) + b; dz = p where z > 0 (ReLU) else 0; g = conv's
// input-VJP of dz, zero where x + η is outside [0, 1]; then, for 'linfStep', Π(η + σ·sign(g)).
// Every intermediate is stored in an array of the backend's float type, so it rounds as the ops do.

import type { Conv2dShape, ConvAscentOptions } from '../backend.js';
import { conv2d, conv2dBackwardInput } from './conv2d.js';
import type { FloatArray } from './storage.js';

const clip = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);

/** Writes g or the stepped η (see ConvAscentOptions) into out, shaped as x. */
export function convAscent(x: FloatArray, eta: FloatArray, p: FloatArray, w: FloatArray, bias: FloatArray | null, s: Conv2dShape, o: ConvAscentOptions, out: FloatArray): void {
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
  // The clip's VJP passes where clip(v) = v (0 ≤ v ≤ 1, inclusive).
  for (let i = 0; i < n; i++) if (a[i] !== sum[i]) g[i] = 0;
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
