// Batched matrix product out[p] = op(A[p])·op(B[p]) (see MatmulShape), register-blocked for lavapipe.

import type { MatmulShape } from '../engine/backend.js';
import type { Binding, Gpu, GpuBuffer } from '../engine/webgpu/gpu.js';
import { chunkTarget, forRowChunks } from './chunks.js';
import { flatIndex, grid } from './wgsl.js';

/** How one shader splits the output; exported for experiments and benchmarks. */
export interface MatmulConfig {
  /** Output rows and columns per invocation (multiples of 4 for vec4 loads along m or n). */
  tm: number;
  tn: number;
  /** Invocations per workgroup along x (columns) and y (rows; 1 in subgroup mode). */
  wx: number;
  wy: number;
  /** Use vec4 loads where the layout allows (contiguous, 16-byte aligned). */
  vec4: boolean;
  /** Subgroup size to share A through subgroupBroadcast (0: every invocation loads its own A). */
  subgroup: number;
}

/** The plain register-blocked matmul kernel: 4×4 outputs per invocation, 8×8 invocations per workgroup, vec4 loads. */
export const DEFAULT_CONFIG: MatmulConfig = { tm: 4, tn: 4, wx: 8, wy: 8, vec4: true, subgroup: 0 };

/** With subgroups of a fixed size: 16 rows per invocation, their A values loaded once per subgroup
 *  and shared by broadcast, instead of every lane gathering the same rows. */
export function subgroupConfig(size: number): MatmulConfig {
  return { tm: 16, tn: 4, wx: Math.max(16, size), wy: 1, vec4: true, subgroup: size };
}

/** Batched matmul ([batch, m, n]) with the kernel configuration the device suits (subgroups when available). */
export function matmul(gpu: Gpu, a: Binding, b: Binding, s: MatmulShape): GpuBuffer {
  return matmulWith(gpu, a, b, s, gpu.subgroupSize ? subgroupConfig(gpu.subgroupSize) : DEFAULT_CONFIG);
}

/**
 * Batched matmul with a given kernel configuration (benchmarks and tests compare them). Operands over
 * the binding limit run in chunks: of the batch; of A's rows (x·W, one matrix); or of the shared
 * k rows of Aᵀ·B (a weight gradient: the chunks' products add up).
 */
export function matmulWith(gpu: Gpu, a: Binding, b: Binding, s: MatmulShape, c: MatmulConfig): GpuBuffer {
  const { batch, m, n, k } = s;
  const out = gpu.acquire(batch * m * n * 4);
  if (batch * m * n === 0) return out;
  if (k === 0) return zeros(gpu, out, batch * m * n);
  if (batch > 1) {
    const operands = [{ buffer: a, rowBytes: m * k * 4, access: 'read' }, { buffer: b, rowBytes: k * n * 4, access: 'read' }, { buffer: out, rowBytes: m * n * 4, access: 'write' }] as const;
    forRowChunks(gpu, batch, operands, ({ count, windows: [aw, bw, ow] }) => matmulInto(gpu, aw, bw, ow, { ...s, batch: count }, c));
  } else if (!s.transA) {
    const operands = [{ buffer: a, rowBytes: k * 4, access: 'read' }, { buffer: out, rowBytes: n * 4, access: 'write' }] as const;
    forRowChunks(gpu, m, operands, ({ count, windows: [aw, ow] }) => matmulInto(gpu, aw, b, ow, { ...s, m: count }, c));
  } else if (!s.transB) {
    const operands = [{ buffer: a, rowBytes: m * 4, access: 'read' }, { buffer: b, rowBytes: n * 4, access: 'read' }] as const;
    forRowChunks(gpu, k, operands, ({ count, index, windows: [aw, bw] }) => {
      const { target, done } = chunkTarget(gpu, out, m * n, index);
      matmulInto(gpu, aw, bw, target, { ...s, k: count }, c);
      done();
    });
  } else {
    matmulInto(gpu, a, b, out, s, c);
  }
  return out;
}

function matmulInto(gpu: Gpu, a: Binding, b: Binding, out: Binding, s: MatmulShape, c: MatmulConfig): void {
  const { code, workgroups } = cachedShader(s, c);
  gpu.dispatch(gpu.pipeline(`matmul_${c.tm}x${c.tn}${c.subgroup ? '_sg' : ''}`, code), [a, b, out], workgroups);
}

// Generated WGSL by shape and configuration: building the unrolled source costs more than a dispatch.
const shaders = new Map<string, ReturnType<typeof shader>>();
function cachedShader(s: MatmulShape, c: MatmulConfig): ReturnType<typeof shader> {
  const key = JSON.stringify([s, c]);
  let entry = shaders.get(key);
  if (!entry) shaders.set(key, (entry = shader(s, c)));
  return entry;
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

/**
 * How one operand is read. 'k4': vec4 along k (A untransposed, B transposed); 'mn4': vec4 along the
 * output axis (A transposed, B untransposed); 'scalar': one float at a time (unaligned sizes).
 */
type LoadMode = 'k4' | 'mn4' | 'scalar';

const XYZW = 'xyzw';

/** The WGSL code and workgroup grid of one matmul shape and configuration. */
export function shader(s: MatmulShape, c: MatmulConfig): { code: string; workgroups: [number, number, number] } {
  const { batch, m, n, k, transA, transB } = s;
  const { tm, tn, wx } = c;
  const sg = c.subgroup;
  const wy = sg ? 1 : c.wy;
  const workgroups: [number, number, number] = [Math.ceil(n / (wx * tn)), Math.ceil(m / (wy * tm)), batch];
  for (const w of workgroups) if (w > 65535) throw new Error(`matmul: ${JSON.stringify(s)} needs ${w} workgroups along one axis (limit 65535)`);

  // A is [m, k] (k contiguous) or, transposed, [k, m] (m contiguous); B is [k, n] or [n, k].
  const aMode: LoadMode = !c.vec4 ? 'scalar' : !transA ? (k % 4 === 0 ? 'k4' : 'scalar') : m % 4 === 0 && tm % 4 === 0 ? 'mn4' : 'scalar';
  const bMode: LoadMode = !c.vec4 ? 'scalar' : transB ? (k % 4 === 0 ? 'k4' : 'scalar') : n % 4 === 0 && tn % 4 === 0 ? 'mn4' : 'scalar';
  const aLoad = (index: string) => (aMode === 'scalar' ? `a[${index}]` : `a4[(${index}) / 4u]`);
  const bLoad = (index: string) => (bMode === 'scalar' ? `b[${index}]` : `b4[(${index}) / 4u]`);

  const L: string[] = [];
  // Row and column indices of this invocation's tile, clamped so every load stays in the matrix;
  // stores are guarded by the unclamped indices. A vec4 group along m (or n) starts at a multiple of 4
  // and m % 4 == 0 there, so clamping its start to m − 4 only moves groups lying wholly outside.
  const row = (i: number | string) => `min(row0 + ${typeof i === 'number' ? `${i}u` : i}, ${m - 1}u)`;
  const rowGroup = (g: number | string) => `min(row0 + ${typeof g === 'number' ? `${4 * g}u` : `4u * (${g})`}, ${m - 4}u)`;
  if (!sg) {
    if (aMode === 'mn4') for (let g = 0; g < tm / 4; g++) L.push(`  let rg${g} = ${rowGroup(g)};`);
    else for (let i = 0; i < tm; i++) L.push(`  let r${i} = ${row(i)};`);
  }
  for (let j = 0; j < tn; j++) L.push(`  let c${j} = min(col0 + ${j}u, ${n - 1}u);`);
  if (bMode === 'mn4') for (let g = 0; g < tn / 4; g++) L.push(`  let cg${g} = min(col0 + ${4 * g}u, ${n - 4}u);`);
  for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) L.push(`  var acc${i}_${j} = 0.0;`);

  /** A's values for k-steps t0 + 0..steps-1: aVal[i][u]. */
  const aBlock = (t0: string, steps: number, out: string[], ind: string, pre: string): string[][] => {
    const aVal: string[][] = Array.from({ length: tm }, () => []);
    const tk = (u: number | string) => (u === 0 ? t0 : `${t0} + ${typeof u === 'number' ? `${u}u` : u}`);
    if (!sg) {
      // Every invocation loads the A values of its own rows.
      if (aMode === 'k4' && steps === 4) {
        for (let i = 0; i < tm; i++) {
          out.push(`${ind}let ${pre}av${i} = ${aLoad(`aBase + r${i} * ${k}u + ${t0}`)};`);
          for (let u = 0; u < 4; u++) aVal[i][u] = `${pre}av${i}.${XYZW[u]}`;
        }
      } else if (aMode === 'mn4') {
        for (let u = 0; u < steps; u++) {
          for (let g = 0; g < tm / 4; g++) {
            out.push(`${ind}let ${pre}av${u}_${g} = ${aLoad(`aBase + (${tk(u)}) * ${m}u + rg${g}`)};`);
            for (let r = 0; r < 4; r++) aVal[4 * g + r][u] = `${pre}av${u}_${g}.${XYZW[r]}`;
          }
        }
      } else {
        for (let u = 0; u < steps; u++) {
          for (let i = 0; i < tm; i++) {
            out.push(`${ind}let ${pre}av${u}_${i} = ${aLoad(transA ? `aBase + (${tk(u)}) * ${m}u + r${i}` : `aBase + r${i} * ${k}u + ${tk(u)}`)};`);
            aVal[i][u] = `${pre}av${u}_${i}`;
          }
        }
      }
      return aVal;
    }
    // Subgroup mode: the subgroup's invocations share rows, so the block's A values are split into
    // units (vec4s or floats), unit v is loaded by lane v % sg into slot v / sg, and every value is
    // then read from its lane with subgroupBroadcast (a register extract on lavapipe).
    const units = aMode === 'k4' && steps === 4 ? tm : aMode === 'mn4' ? (steps * tm) / 4 : steps * tm;
    const slots = Math.ceil(units / sg);
    for (let q = 0; q < slots; q++) {
      const v = `min(sid + ${q * sg}u, ${units - 1}u)`;
      let index: string;
      if (aMode === 'k4' && steps === 4) index = `aBase + ${row(v)} * ${k}u + ${t0}`;
      else if (aMode === 'mn4') index = `aBase + (${tk(`${v} / ${tm / 4}u`)}) * ${m}u + ${rowGroup(`${v} % ${tm / 4}u`)}`;
      else {
        const i = row(`${v} % ${tm}u`);
        const u = `${v} / ${tm}u`;
        index = transA ? `aBase + (${tk(u)}) * ${m}u + ${i}` : `aBase + ${i} * ${k}u + ${tk(u)}`;
      }
      out.push(`${ind}let ${pre}as${q} = ${aLoad(index)};`);
    }
    const shared = new Map<number, string>();
    const unit = (v: number): string => {
      let name = shared.get(v);
      if (!name) {
        name = `${pre}au${v}`;
        shared.set(v, name);
        out.push(`${ind}let ${name} = subgroupBroadcast(${pre}as${Math.floor(v / sg)}, ${v % sg}u);`);
      }
      return name;
    };
    for (let i = 0; i < tm; i++) {
      for (let u = 0; u < steps; u++) {
        if (aMode === 'k4' && steps === 4) aVal[i][u] = `${unit(i)}.${XYZW[u]}`;
        else if (aMode === 'mn4') aVal[i][u] = `${unit(u * (tm / 4) + (i >> 2))}.${XYZW[i % 4]}`;
        else aVal[i][u] = unit(u * tm + i);
      }
    }
    return aVal;
  };

  /** B's values for k-steps t0 + 0..steps-1: bVal[j][u]; every invocation loads its own columns. */
  const bBlock = (t0: string, steps: number, out: string[], ind: string, pre: string): string[][] => {
    const bVal: string[][] = Array.from({ length: tn }, () => []);
    const tk = (u: number) => (u ? `${t0} + ${u}u` : t0);
    if (bMode === 'k4' && steps === 4) {
      for (let j = 0; j < tn; j++) {
        out.push(`${ind}let ${pre}bv${j} = ${bLoad(`bBase + c${j} * ${k}u + ${t0}`)};`);
        for (let u = 0; u < 4; u++) bVal[j][u] = `${pre}bv${j}.${XYZW[u]}`;
      }
    } else if (bMode === 'mn4') {
      for (let u = 0; u < steps; u++) {
        for (let g = 0; g < tn / 4; g++) {
          out.push(`${ind}let ${pre}bv${u}_${g} = ${bLoad(`bBase + (${tk(u)}) * ${n}u + cg${g}`)};`);
          for (let r = 0; r < 4; r++) bVal[4 * g + r][u] = `${pre}bv${u}_${g}.${XYZW[r]}`;
        }
      }
    } else {
      for (let u = 0; u < steps; u++) {
        for (let j = 0; j < tn; j++) {
          out.push(`${ind}let ${pre}bv${u}_${j} = ${bLoad(transB ? `bBase + c${j} * ${k}u + ${tk(u)}` : `bBase + (${tk(u)}) * ${n}u + c${j}`)};`);
          bVal[j][u] = `${pre}bv${u}_${j}`;
        }
      }
    }
    return bVal;
  };

  /** One block of k-steps: loads, then each accumulator gets the block's partial dot product in one
   *  update (on lavapipe every write to a loop-carried variable costs a masked blend). */
  const block = (t0: string, steps: number, ind: string): string[] => {
    const out: string[] = [];
    const aVal: string[][] = Array.from({ length: tm }, () => []);
    const bVal: string[][] = Array.from({ length: tn }, () => []);
    for (let u0 = 0; u0 < steps; u0 += 4) {
      const sub = Math.min(4, steps - u0);
      const t = u0 ? `${t0} + ${u0}u` : t0;
      const pre = steps > 4 ? `q${u0 / 4}` : '';
      aBlock(t, sub, out, ind, pre).forEach((row, i) => aVal[i].push(...row));
      bBlock(t, sub, out, ind, pre).forEach((col, j) => bVal[j].push(...col));
    }
    for (let i = 0; i < tm; i++) {
      for (let j = 0; j < tn; j++) {
        let sum = `${aVal[i][steps - 1]} * ${bVal[j][steps - 1]}`;
        for (let u = steps - 2; u >= 0; u--) sum = `fma(${aVal[i][u]}, ${bVal[j][u]}, ${sum})`;
        out.push(`${ind}acc${i}_${j} += ${sum};`);
      }
    }
    return out;
  };

  const full = Math.floor(k / 4) * 4;
  if (full > 0) L.push(`  for (var t = 0u; t < ${full}u; t += 4u) {`, ...block('t', 4, '    '), `  }`);
  if (k > full) L.push(`  {`, `    let t = ${full}u;`, ...block('t', k - full, '    '), `  }`);

  for (let i = 0; i < tm; i++) {
    for (let j = 0; j < tn; j++) {
      L.push(`  if (row0 + ${i}u < ${m}u && col0 + ${j}u < ${n}u) { out[oBase + (row0 + ${i}u) * ${n}u + col0 + ${j}u] = acc${i}_${j}; }`);
    }
  }
  const code = `${sg ? 'enable subgroups;\n' : ''}
@group(0) @binding(0) var<storage, read> ${aMode === 'scalar' ? 'a: array<f32>' : 'a4: array<vec4f>'};
@group(0) @binding(1) var<storage, read> ${bMode === 'scalar' ? 'b: array<f32>' : 'b4: array<vec4f>'};
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u${sg ? ', @builtin(subgroup_invocation_id) sid: u32' : ''}) {
  let aBase = wg.z * ${m * k}u;
  let bBase = wg.z * ${k * n}u;
  let oBase = wg.z * ${m * n}u;
  let row0 = (wg.y * ${wy}u + lid.y) * ${tm}u;
  let col0 = (wg.x * ${wx}u + lid.x) * ${tn}u;
${L.join('\n')}
}`;
  return { code, workgroups };
}
