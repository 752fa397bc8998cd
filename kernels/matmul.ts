// Batched matrix product out[p] = op(A[p])·op(B[p]) (see MatmulShape), register-blocked for lavapipe.

import type { MatmulShape } from '../engine/backend.js';
import type { Gpu, GpuBuffer } from '../engine/webgpu/gpu.js';
import { flatIndex, grid } from './wgsl.js';

/** How one shader splits the output; exported for experiments and benchmarks. */
export interface MatmulConfig {
  /** 'uniformA': a workgroup shares its rows (A reads are the same for all lanes); 'uniformB': shares
   *  its columns; 'plain': 2-D workgroup, every lane its own rows and columns. */
  mode: 'uniformA' | 'uniformB' | 'plain';
  /** Output rows and columns per invocation. */
  tm: number;
  tn: number;
  /** Invocations per workgroup along x (columns) and y (rows). */
  wx: number;
  wy: number;
  /** k steps unrolled per loop iteration. */
  unroll: number;
  /** Lanes' tiles interleaved (lane + j·lanes) rather than blocked (lane·t + j) along the divergent axis. */
  interleave: boolean;
}

export const DEFAULT_CONFIG: MatmulConfig = { mode: 'uniformA', tm: 4, tn: 2, wx: 64, wy: 1, unroll: 4, interleave: true };

export function matmul(gpu: Gpu, a: GpuBuffer, b: GpuBuffer, s: MatmulShape): GpuBuffer {
  return matmulWith(gpu, a, b, s, DEFAULT_CONFIG);
}

export function matmulWith(gpu: Gpu, a: GpuBuffer, b: GpuBuffer, s: MatmulShape, c: MatmulConfig): GpuBuffer {
  const { batch, m, n, k } = s;
  const out = gpu.acquire(batch * m * n * 4);
  if (batch * m * n === 0) return out;
  if (k === 0) return zeros(gpu, out, batch * m * n);
  const { code, workgroups } = shader(s, c);
  gpu.dispatch(gpu.pipeline(`matmul_${c.mode}_${c.tm}x${c.tn}`, code), [a, b, out], workgroups);
  return out;
}

/** An empty sum: pooled buffers are not zeroed, so write the zeros. */
function zeros(gpu: Gpu, out: GpuBuffer, size: number): GpuBuffer {
  const { workgroups, stride } = grid(size);
  const code = `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
${flatIndex(size, stride)}
  out[i] = 0.0;
}`;
  gpu.dispatch(gpu.pipeline('matmul_zeros', code), [out], workgroups);
  return out;
}

function shader(s: MatmulShape, c: MatmulConfig): { code: string; workgroups: [number, number, number] } {
  const { batch, m, n, k, transA, transB } = s;
  const { tm, tn, wx, wy, unroll } = c;
  let rowBase: string, rowStride: number, colBase: string, colStride: number, rowsPerGroup: number, colsPerGroup: number, wgSize: string;
  if (c.mode === 'uniformA') {
    rowsPerGroup = tm;
    colsPerGroup = wx * tn;
    wgSize = `${wx}`;
    rowBase = `wg.y * ${tm}u`;
    rowStride = 1;
    [colBase, colStride] = c.interleave ? [`wg.x * ${colsPerGroup}u + lid.x`, wx] : [`(wg.x * ${wx}u + lid.x) * ${tn}u`, 1];
  } else if (c.mode === 'uniformB') {
    rowsPerGroup = wy * tm;
    colsPerGroup = tn;
    wgSize = `${wy}`;
    colBase = `wg.x * ${tn}u`;
    colStride = 1;
    [rowBase, rowStride] = c.interleave ? [`wg.y * ${rowsPerGroup}u + lid.x`, wy] : [`(wg.y * ${wy}u + lid.x) * ${tm}u`, 1];
  } else {
    rowsPerGroup = wy * tm;
    colsPerGroup = wx * tn;
    wgSize = `${wx}, ${wy}`;
    [rowBase, rowStride] = c.interleave ? [`wg.y * ${rowsPerGroup}u + lid.y`, wy] : [`(wg.y * ${wy}u + lid.y) * ${tm}u`, 1];
    [colBase, colStride] = c.interleave ? [`wg.x * ${colsPerGroup}u + lid.x`, wx] : [`(wg.x * ${wx}u + lid.x) * ${tn}u`, 1];
  }
  const workgroups: [number, number, number] = [Math.ceil(n / colsPerGroup), Math.ceil(m / rowsPerGroup), batch];
  for (const w of workgroups) if (w > 65535) throw new Error(`matmul: ${JSON.stringify(s)} needs ${w} workgroups along one axis (limit 65535)`);

  const L: string[] = [];
  const I = (i: number) => `r${i}`;
  const J = (j: number) => `c${j}`;
  for (let i = 0; i < tm; i++) L.push(`  let ${I(i)} = min(rowBase + ${i * rowStride}u, ${m - 1}u);`);
  for (let j = 0; j < tn; j++) L.push(`  let ${J(j)} = min(colBase + ${j * colStride}u, ${n - 1}u);`);
  // Element offsets without the k term.
  for (let i = 0; i < tm; i++) L.push(`  let ao${i} = aBase + ${transA ? I(i) : `${I(i)} * ${k}u`};`);
  for (let j = 0; j < tn; j++) L.push(`  let bo${j} = bBase + ${transB ? `${J(j)} * ${k}u` : J(j)};`);
  for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) L.push(`  var acc${i}_${j} = 0.0;`);
  const aAt = (i: number, t: string) => `a[ao${i} + ${transA ? `(${t}) * ${m}u` : t}]`;
  const bAt = (j: number, t: string) => `b[bo${j} + ${transB ? t : `(${t}) * ${n}u`}]`;
  const step = (t: string, ind: string) => {
    const out: string[] = [];
    for (let i = 0; i < tm; i++) out.push(`${ind}let a${i} = ${aAt(i, t)};`);
    for (let j = 0; j < tn; j++) out.push(`${ind}let b${j} = ${bAt(j, t)};`);
    for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) out.push(`${ind}acc${i}_${j} = fma(a${i}, b${j}, acc${i}_${j});`);
    return out;
  };
  const full = Math.floor(k / unroll) * unroll;
  if (full > 0) {
    L.push(`  for (var t = 0u; t < ${full}u; t += ${unroll}u) {`);
    for (let u = 0; u < unroll; u++) L.push(`    {`, ...step(u ? `t + ${u}u` : 't', '      '), `    }`);
    L.push(`  }`);
  }
  for (let t = full; t < k; t++) L.push(`  {`, ...step(`${t}u`, '    '), `  }`);
  for (let i = 0; i < tm; i++) {
    for (let j = 0; j < tn; j++) {
      const row = `rowBase + ${i * rowStride}u`;
      const col = `colBase + ${j * colStride}u`;
      L.push(`  if (${row} < ${m}u && ${col} < ${n}u) { out[oBase + (${row}) * ${n}u + ${col}] = acc${i}_${j}; }`);
    }
  }
  const code = `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(${wgSize})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let aBase = wg.z * ${m * k}u;
  let bBase = wg.z * ${k * n}u;
  let oBase = wg.z * ${m * n}u;
  let rowBase = ${rowBase};
  let colBase = ${colBase};
${L.join('\n')}
}`;
  return { code, workgroups };
}
