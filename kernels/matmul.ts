// Batched matrix product out[p] = op(A[p])·op(B[p]) (see MatmulShape) in several kernel variants
// (kernels/matmul_plan.ts plans each; this file emits their WGSL). Which variant a shape runs is the
// tuner's choice on this adapter (kernels/tune.ts), or the built-in default tuned for lavapipe.
// m, n and k come in a uniform, not in the WGSL: a kernel compiles once per variant, transposes, load
// modes and k mod 4 (matmulProgramKey), and serves every size that shares them. On lavapipe, which
// compiles a pipeline at its first dispatch (about 0.5 s for a subgroup matmul), SmallCNN's nine matmul
// shapes then compile four pipelines instead of nine; a new batch size compiles none.

import type { MatmulShape } from '../engine/backend.js';
import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { chunkTarget, forRowChunks } from './chunks.js';
import { fillBinding } from './fill.js';
import { type MatmulPlan, type MatmulVariant, type RegisterPlan, type TiledPlan, defaultMatmulVariant, matmulPlan, matmulVariants } from './matmul_plan.js';
import { type TunableOp, scratchOperand, tunerOf } from './tune.js';

/** Batched matmul ([batch, m, n]) with the variant the tuner chose for this shape on this device (the built-in default without one). */
export function matmul(gpu: Gpu, a: Binding, b: Binding, s: MatmulShape): GpuBuffer {
  return matmulWith(gpu, a, b, s, null);
}

/**
 * Batched matmul with a given kernel variant (null: the tuner's choice per dispatched shape). Operands
 * over the binding limit run in chunks: of the batch; of A's rows (x·W, one matrix); or of the shared
 * k rows of Aᵀ·B (a weight gradient: the chunks' products add up).
 */
export function matmulWith(gpu: Gpu, a: Binding, b: Binding, s: MatmulShape, variant: MatmulVariant | null): GpuBuffer {
  const { batch, m, n, k } = s;
  const out = gpu.acquire(batch * m * n * 4);
  if (batch * m * n === 0) return out;
  if (k === 0) return zeros(gpu, out, batch * m * n);
  if (batch > 1) {
    const operands = [{ buffer: a, rowBytes: m * k * 4, access: 'read' }, { buffer: b, rowBytes: k * n * 4, access: 'read' }, { buffer: out, rowBytes: m * n * 4, access: 'write' }] as const;
    forRowChunks(gpu, batch, operands, ({ count, windows: [aw, bw, ow] }) => matmulInto(gpu, aw, bw, ow, { ...s, batch: count }, variant));
  } else if (!s.transA) {
    const operands = [{ buffer: a, rowBytes: k * 4, access: 'read' }, { buffer: out, rowBytes: n * 4, access: 'write' }] as const;
    forRowChunks(gpu, m, operands, ({ count, windows: [aw, ow] }) => matmulInto(gpu, aw, b, ow, { ...s, m: count }, variant));
  } else if (!s.transB) {
    const operands = [{ buffer: a, rowBytes: m * 4, access: 'read' }, { buffer: b, rowBytes: n * 4, access: 'read' }] as const;
    forRowChunks(gpu, k, operands, ({ count, index, windows: [aw, bw] }) => {
      const { target, done } = chunkTarget(gpu, out, m * n, index);
      matmulInto(gpu, aw, bw, target, { ...s, k: count }, variant);
      done();
    });
  } else {
    matmulInto(gpu, a, b, out, s, variant);
  }
  return out;
}

/** One dispatch of one shape (k > 0, within the binding limit). */
function matmulInto(gpu: Gpu, a: Binding, b: Binding, out: Binding, s: MatmulShape, variant: MatmulVariant | null): void {
  const chosen = variant ?? ((tunerOf(gpu)?.choose(matmulTunable, s) as MatmulVariant | undefined) ?? defaultMatmulVariant(gpu.subgroupSize));
  const plan = matmulPlan(s, chosen, gpu.subgroupSize);
  const pipeline = gpu.program(`matmul_${chosen}`, matmulProgramKey(s, plan), () => shader(s, plan).code);
  gpu.dispatch(pipeline, [a, b, out], plan.workgroups, new Uint32Array([s.m, s.n, s.k, 0]));
}

/** What a matmul kernel's WGSL depends on besides its variant (the program's name): the transposes, the
 *  tile and load modes of its plan and the k-steps past the last multiple of 4, not the sizes. */
export function matmulProgramKey(s: MatmulShape, plan: MatmulPlan): string {
  const tile = `${plan.tm}x${plan.tn} on ${plan.wx}x${plan.wy}`;
  const loads = plan.kind === 'register' ? ` ${plan.aMode}/${plan.bMode} subgroup ${plan.subgroup} tail ${s.k % 4}` : ` tileK ${plan.tileK}`;
  return `${s.transA ? 'Aᵀ' : 'A'}${s.transB ? 'Bᵀ' : 'B'} ${tile}${loads}`;
}

/** matmul as the tuner sees it: its variants on a device, and a workload that times one of them on scratch operands. */
export const matmulTunable: TunableOp<MatmulShape> = {
  op: 'matmul',
  key: (s) => `${s.batch}x${s.m}x${s.n}x${s.k}${s.transA ? ' Aᵀ' : ''}${s.transB ? ' Bᵀ' : ''}`,
  variants: (gpu) => matmulVariants(gpu.subgroupSize),
  defaultVariant: (gpu) => defaultMatmulVariant(gpu.subgroupSize),
  workload(gpu, s) {
    const a = scratchOperand(gpu, s.batch * s.m * s.k);
    const b = scratchOperand(gpu, s.batch * s.k * s.n);
    const out = gpu.acquire(s.batch * s.m * s.n * 4);
    return {
      run: (variant) => matmulInto(gpu, a, b, out, s, variant as MatmulVariant),
      dispose: () => [a, b, out].forEach((x) => gpu.release(x)),
    };
  },
};

/** The WGSL code of one shape's plan (exported for tests and experiments); it reads m, n, k from the uniform `size`. */
export function shader(s: MatmulShape, plan: MatmulPlan): { code: string; plan: MatmulPlan } {
  return { code: plan.kind === 'tiled' ? tiledShader(s, plan) : registerShader(s, plan), plan };
}

/** An empty sum: pooled buffers are not zeroed, so write the zeros. */
function zeros(gpu: Gpu, out: GpuBuffer, size: number): GpuBuffer {
  fillBinding(gpu, out, size, 0, 'float32');
  return out;
}

const XYZW = 'xyzw';

/** Every variant's first lines: the sizes from the uniform, and where batch entry wg.z starts in a, b and out. */
const SIZES = `  let M = size.x;
  let N = size.y;
  let K = size.z;
  let aBase = wg.z * M * K;
  let bBase = wg.z * K * N;
  let oBase = wg.z * M * N;`;

/** The WGSL of a register-blocked plan: every invocation's tm×tn outputs from global memory. */
function registerShader(s: MatmulShape, plan: RegisterPlan): string {
  const { transA, transB } = s;
  // The sizes as WGSL expressions (from the uniform); only k mod 4 is baked in.
  const [m, n, k] = ['M', 'N', 'K'];
  const tail = s.k % 4;
  const { tm, tn, wx, wy, aMode, bMode } = plan;
  const sg = plan.subgroup;
  const aLoad = (index: string) => (aMode === 'scalar' ? `a[${index}]` : `a4[(${index}) / 4u]`);
  const bLoad = (index: string) => (bMode === 'scalar' ? `b[${index}]` : `b4[(${index}) / 4u]`);

  const L: string[] = [];
  // Row and column indices of this invocation's tile, clamped so every load stays in the matrix;
  // stores are guarded by the unclamped indices. A vec4 group along m (or n) starts at a multiple of 4
  // and m % 4 == 0 there, so clamping its start to m − 4 only moves groups lying wholly outside.
  const row = (i: number | string) => `min(row0 + ${typeof i === 'number' ? `${i}u` : i}, ${m} - 1u)`;
  const rowGroup = (g: number | string) => `min(row0 + ${typeof g === 'number' ? `${4 * g}u` : `4u * (${g})`}, ${m} - 4u)`;
  if (!sg) {
    if (aMode === 'mn4') for (let g = 0; g < tm / 4; g++) L.push(`  let rg${g} = ${rowGroup(g)};`);
    else for (let i = 0; i < tm; i++) L.push(`  let r${i} = ${row(i)};`);
  }
  for (let j = 0; j < tn; j++) L.push(`  let c${j} = min(col0 + ${j}u, ${n} - 1u);`);
  if (bMode === 'mn4') for (let g = 0; g < tn / 4; g++) L.push(`  let cg${g} = min(col0 + ${4 * g}u, ${n} - 4u);`);
  for (let i = 0; i < tm; i++) for (let j = 0; j < tn; j++) L.push(`  var acc${i}_${j} = 0.0;`);

  /** A's values for k-steps t0 + 0..steps-1: aVal[i][u]. */
  const aBlock = (t0: string, steps: number, out: string[], ind: string, pre: string): string[][] => {
    const aVal: string[][] = Array.from({ length: tm }, () => []);
    const tk = (u: number | string) => (u === 0 ? t0 : `${t0} + ${typeof u === 'number' ? `${u}u` : u}`);
    if (!sg) {
      // Every invocation loads the A values of its own rows.
      if (aMode === 'k4' && steps === 4) {
        for (let i = 0; i < tm; i++) {
          out.push(`${ind}let ${pre}av${i} = ${aLoad(`aBase + r${i} * ${k} + ${t0}`)};`);
          for (let u = 0; u < 4; u++) aVal[i][u] = `${pre}av${i}.${XYZW[u]}`;
        }
      } else if (aMode === 'mn4') {
        for (let u = 0; u < steps; u++) {
          for (let g = 0; g < tm / 4; g++) {
            out.push(`${ind}let ${pre}av${u}_${g} = ${aLoad(`aBase + (${tk(u)}) * ${m} + rg${g}`)};`);
            for (let r = 0; r < 4; r++) aVal[4 * g + r][u] = `${pre}av${u}_${g}.${XYZW[r]}`;
          }
        }
      } else {
        for (let u = 0; u < steps; u++) {
          for (let i = 0; i < tm; i++) {
            out.push(`${ind}let ${pre}av${u}_${i} = ${aLoad(transA ? `aBase + (${tk(u)}) * ${m} + r${i}` : `aBase + r${i} * ${k} + ${tk(u)}`)};`);
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
      if (aMode === 'k4' && steps === 4) index = `aBase + ${row(v)} * ${k} + ${t0}`;
      else if (aMode === 'mn4') index = `aBase + (${tk(`${v} / ${tm / 4}u`)}) * ${m} + ${rowGroup(`${v} % ${tm / 4}u`)}`;
      else {
        const i = row(`${v} % ${tm}u`);
        const u = `${v} / ${tm}u`;
        index = transA ? `aBase + (${tk(u)}) * ${m} + ${i}` : `aBase + ${i} * ${k} + ${tk(u)}`;
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
        out.push(`${ind}let ${pre}bv${j} = ${bLoad(`bBase + c${j} * ${k} + ${t0}`)};`);
        for (let u = 0; u < 4; u++) bVal[j][u] = `${pre}bv${j}.${XYZW[u]}`;
      }
    } else if (bMode === 'mn4') {
      for (let u = 0; u < steps; u++) {
        for (let g = 0; g < tn / 4; g++) {
          out.push(`${ind}let ${pre}bv${u}_${g} = ${bLoad(`bBase + (${tk(u)}) * ${n} + cg${g}`)};`);
          for (let r = 0; r < 4; r++) bVal[4 * g + r][u] = `${pre}bv${u}_${g}.${XYZW[r]}`;
        }
      }
    } else {
      for (let u = 0; u < steps; u++) {
        for (let j = 0; j < tn; j++) {
          out.push(`${ind}let ${pre}bv${u}_${j} = ${bLoad(transB ? `bBase + c${j} * ${k} + ${tk(u)}` : `bBase + (${tk(u)}) * ${n} + c${j}`)};`);
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

  // k in steps of 4, then the last k mod 4 steps (a constant of this kernel).
  L.push(`  let full = ${k} - ${tail}u;`);
  L.push(`  for (var t = 0u; t < full; t += 4u) {`, ...block('t', 4, '    '), `  }`);
  if (tail > 0) L.push(`  {`, `    let t = full;`, ...block('t', tail, '    '), `  }`);

  for (let i = 0; i < tm; i++) {
    for (let j = 0; j < tn; j++) {
      L.push(`  if (row0 + ${i}u < ${m} && col0 + ${j}u < ${n}) { out[oBase + (row0 + ${i}u) * ${n} + col0 + ${j}u] = acc${i}_${j}; }`);
    }
  }
  const code = `${sg ? 'enable subgroups;\n' : ''}
@group(0) @binding(0) var<storage, read> ${aMode === 'scalar' ? 'a: array<f32>' : 'a4: array<vec4f>'};
@group(0) @binding(1) var<storage, read> ${bMode === 'scalar' ? 'b: array<f32>' : 'b4: array<vec4f>'};
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> size: vec4u;
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u${sg ? ', @builtin(subgroup_invocation_id) sid: u32' : ''}) {
${SIZES}
  let row0 = (wg.y * ${wy}u + lid.y) * ${tm}u;
  let col0 = (wg.x * ${wx}u + lid.x) * ${tn}u;
${L.join('\n')}
}`;
  return code;
}

/**
 * The WGSL of a workgroup-memory plan. Per k-step of tileK, the workgroup's invocations load A's
 * rowsPerWorkgroup×tileK tile and B's tileK×colsPerWorkgroup tile into workgroup memory (consecutive
 * invocations read consecutive addresses whatever the transposes; out-of-range elements load as 0),
 * then each invocation accumulates its 4×4 block as four vec4 rows.
 */
function tiledShader(s: MatmulShape, plan: TiledPlan): string {
  const { transA, transB } = s;
  const [m, n, k] = ['M', 'N', 'K'];
  const { wx, wy, tileK, rowsPerWorkgroup: TM, colsPerWorkgroup: TN, aTileStride: AS, bTileStride: BS } = plan;
  const invocations = wx * wy;
  const L: string[] = [];
  // Element e of A's tile: untransposed A is k-contiguous, so e runs along k first; transposed, along m.
  for (let q = 0; q < plan.aLoadsPerInvocation; q++) {
    const e = `li + ${q * invocations}u`;
    const [r, kk] = transA ? [`(${e}) % ${TM}u`, `(${e}) / ${TM}u`] : [`(${e}) / ${tileK}u`, `(${e}) % ${tileK}u`];
    L.push(`    { let r = ${r}; let kk = ${kk}; let gr = row0 + r; let gk = t + kk;`);
    const index = transA ? `min(gk, ${k} - 1u) * ${m} + min(gr, ${m} - 1u)` : `min(gr, ${m} - 1u) * ${k} + min(gk, ${k} - 1u)`;
    L.push(`      aTile[kk * ${AS}u + r] = select(0.0, a[aBase + ${index}], gr < ${m} && gk < ${k}); }`);
  }
  for (let q = 0; q < plan.bLoadsPerInvocation; q++) {
    const e = `li + ${q * invocations}u`;
    const [c, kk] = transB ? [`(${e}) / ${tileK}u`, `(${e}) % ${tileK}u`] : [`(${e}) % ${TN}u`, `(${e}) / ${TN}u`];
    L.push(`    { let c = ${c}; let kk = ${kk}; let gc = col0 + c; let gk = t + kk;`);
    const index = transB ? `min(gc, ${n} - 1u) * ${k} + min(gk, ${k} - 1u)` : `min(gk, ${k} - 1u) * ${n} + min(gc, ${n} - 1u)`;
    L.push(`      bTile[kk * ${BS}u + c] = select(0.0, b[bBase + ${index}], gc < ${n} && gk < ${k}); }`);
  }
  const stores: string[] = [];
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      stores.push(`  if (r0 + ${i}u < ${m} && c0 + ${j}u < ${n}) { out[oBase + (r0 + ${i}u) * ${n} + c0 + ${j}u] = acc${i}.${XYZW[j]}; }`);
    }
  }
  return `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> size: vec4u;
var<workgroup> aTile: array<f32, ${AS * tileK}>;
var<workgroup> bTile: array<f32, ${BS * tileK}>;
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
${SIZES}
  let row0 = wg.y * ${TM}u;
  let col0 = wg.x * ${TN}u;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var t = 0u; t < ${k}; t += ${tileK}u) {
${L.join('\n')}
    workgroupBarrier();
    for (var kk = 0u; kk < ${tileK}u; kk++) {
      let ao = kk * ${AS}u + lid.y * 4u;
      let bo = kk * ${BS}u + lid.x * 4u;
      let bv = vec4f(bTile[bo], bTile[bo + 1u], bTile[bo + 2u], bTile[bo + 3u]);
      acc0 = fma(vec4f(aTile[ao]), bv, acc0);
      acc1 = fma(vec4f(aTile[ao + 1u]), bv, acc1);
      acc2 = fma(vec4f(aTile[ao + 2u]), bv, acc2);
      acc3 = fma(vec4f(aTile[ao + 3u]), bv, acc3);
    }
    workgroupBarrier();
  }
  let r0 = row0 + lid.y * 4u;
  let c0 = col0 + lid.x * 4u;
${stores.join('\n')}
}`;
}
