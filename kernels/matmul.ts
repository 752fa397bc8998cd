// Batched matrix product out[p] = op(A[p])·op(B[p]) (see MatmulShape) in several kernel variants
// (kernels/matmul_plan.ts plans each; this file emits their WGSL). Which variant a shape runs is the
// tuner's choice on this adapter (kernels/tune.ts), or the built-in default tuned for lavapipe.
// m, n and k come in a uniform, not in the WGSL: a kernel compiles once per variant, transposes, load
// modes and k mod 4 (matmulProgramKey), and serves every size that shares them. On lavapipe, which
// compiles a pipeline at its first dispatch, SmallCNN's nine matmul shapes then compile four pipelines
// instead of nine; a new batch size compiles none (the compile time: docs/notes/kernels.md).
// A linear layer runs as A·Bᵀ with an epilogue (linear below): each sum starts at its column's bias and
// passes a ReLU at the store, so no broadcast add or ReLU pass follows it.

import type { LinearShape, MatmulShape } from '../engine/backend.js';
import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { chunkTarget, forRowChunks } from './chunks.js';
import { UNARY_WGSL } from './elementwise_ops.js';
import { fillBinding } from './fill.js';
import {
  type LoadMode,
  type MatmulPlan,
  type MatmulVariant,
  type RegisterPlan,
  type TiledPlan,
  defaultMatmulVariant,
  matmulPlan,
  matmulVariants,
} from './matmul_plan.js';
import { type TunableOp, scratchOperand, tunerOf } from './tune.js';
import { VEC4_COMPONENTS, fmaChain } from './wgsl_emitters.js';

/** What a matmul does to each sum before storing it: add bias[column] (bias [n], the same for every row
 *  and batch entry), then a ReLU (NaN passing, like the unary op) when `relu`. */
export interface MatmulEpilogue {
  bias: Binding | null;
  relu: boolean;
}

/** The epilogue as the WGSL sees it: whether there is a bias binding, and the ReLU. */
export interface EpilogueFlags {
  bias: boolean;
  relu: boolean;
}

const NO_EPILOGUE: EpilogueFlags = { bias: false, relu: false };

const flagsOf = (e: MatmulEpilogue | null): EpilogueFlags =>
  e ? { bias: e.bias !== null, relu: e.relu } : NO_EPILOGUE;

/** Batched matmul ([batch, m, n]) with the variant the tuner chose for this shape on this device (the built-in default without one). */
export function matmul(gpu: Gpu, a: Binding, b: Binding, s: MatmulShape): GpuBuffer {
  return matmulWith(gpu, a, b, s, null);
}

/** A linear layer, x [rows, in]·wᵀ (w [out, in]) + bias, then ReLU when `relu`: one matmul kernel with an epilogue. */
export function linear(
  gpu: Gpu,
  x: Binding,
  w: Binding,
  bias: Binding | null,
  s: LinearShape,
  relu: boolean,
): GpuBuffer {
  return matmulWith(gpu, x, w, linearMatmulShape(s), null, { bias, relu });
}

/** The matmul a linear layer is: A = x [rows, in], B = w [out, in] read transposed. */
export const linearMatmulShape = (s: LinearShape): MatmulShape => ({
  batch: 1,
  m: s.rows,
  n: s.outFeatures,
  k: s.inFeatures,
  transA: false,
  transB: true,
});

/**
 * Batched matmul with a given kernel variant (null: the tuner's choice per dispatched shape), and an
 * optional epilogue. Operands over the binding limit run in chunks: of the batch; of A's rows (x·W, one
 * matrix); or of the shared k rows of Aᵀ·B (a weight gradient: the chunks' products add up). The bias
 * binds whole in every chunk of the first two.
 */
export function matmulWith(
  gpu: Gpu,
  a: Binding,
  b: Binding,
  s: MatmulShape,
  variant: MatmulVariant | null,
  epilogue: MatmulEpilogue | null = null,
): GpuBuffer {
  const { batch, m, n, k } = s;
  // One matrix Aᵀ·B may run in chunks of k whose products add up after their kernels, too late for a
  // bias or a ReLU; an empty sum (k = 0) is a fill, not a kernel. Linear layers need neither.
  if (epilogue && (k === 0 || (batch === 1 && s.transA && !s.transB)))
    throw new Error(`matmul: no bias or ReLU epilogue on one matrix Aᵀ·B, or with k = 0 (${JSON.stringify(s)})`);
  const out = gpu.acquire(batch * m * n * 4);
  if (batch * m * n === 0) return out;
  if (k === 0) return zeros(gpu, out, batch * m * n);
  if (batch > 1) {
    const operands = [
      { buffer: a, rowBytes: m * k * 4, access: 'read' },
      { buffer: b, rowBytes: k * n * 4, access: 'read' },
      { buffer: out, rowBytes: m * n * 4, access: 'write' },
    ] as const;
    forRowChunks(gpu, batch, operands, ({ count, windows: [aw, bw, ow] }) =>
      matmulInto(gpu, aw, bw, ow, { ...s, batch: count }, variant, epilogue),
    );
  } else if (!s.transA) {
    const operands = [
      { buffer: a, rowBytes: k * 4, access: 'read' },
      { buffer: out, rowBytes: n * 4, access: 'write' },
    ] as const;
    forRowChunks(gpu, m, operands, ({ count, windows: [aw, ow] }) =>
      matmulInto(gpu, aw, b, ow, { ...s, m: count }, variant, epilogue),
    );
  } else if (!s.transB) {
    const operands = [
      { buffer: a, rowBytes: m * 4, access: 'read' },
      { buffer: b, rowBytes: n * 4, access: 'read' },
    ] as const;
    forRowChunks(gpu, k, operands, ({ count, index, windows: [aw, bw] }) => {
      const { target, done } = chunkTarget(gpu, out, m * n, index);
      matmulInto(gpu, aw, bw, target, { ...s, k: count }, variant, null);
      done();
    });
  } else {
    matmulInto(gpu, a, b, out, s, variant, epilogue);
  }
  return out;
}

/** One dispatch of one shape (k > 0, within the binding limit). */
function matmulInto(
  gpu: Gpu,
  a: Binding,
  b: Binding,
  out: Binding,
  s: MatmulShape,
  variant: MatmulVariant | null,
  epilogue: MatmulEpilogue | null,
): void {
  const chosen =
    variant ??
    (tunerOf(gpu)?.choose(matmulTunable, s) as MatmulVariant | undefined) ??
    defaultMatmulVariant(gpu.subgroupSize);
  const plan = matmulPlan(s, chosen, gpu.subgroupSize);
  const flags = flagsOf(epilogue);
  const pipeline = gpu.program(`matmul_${chosen}`, matmulProgramKey(s, plan, flags), () => shader(s, plan, flags).code);
  const buffers = epilogue?.bias ? [a, b, out, epilogue.bias] : [a, b, out];
  gpu.dispatch(pipeline, buffers, plan.workgroups, new Uint32Array([s.m, s.n, s.k, 0]));
}

/** What a matmul kernel's WGSL depends on besides its variant (the program's name): the transposes, the
 *  tile and load modes of its plan, the k-steps past the last multiple of 4 and the epilogue, not the sizes. */
export function matmulProgramKey(s: MatmulShape, plan: MatmulPlan, epilogue: EpilogueFlags = NO_EPILOGUE): string {
  const tile = `${plan.tm}x${plan.tn} on ${plan.wx}x${plan.wy}`;
  const loads =
    plan.kind === 'register'
      ? ` ${plan.aMode}/${plan.bMode} subgroup ${plan.subgroup} tail ${s.k % 4}`
      : ` tileK ${plan.tileK}`;
  const store = `${epilogue.bias ? ' +bias' : ''}${epilogue.relu ? ' relu' : ''}`;
  return `${s.transA ? 'Aᵀ' : 'A'}${s.transB ? 'Bᵀ' : 'B'} ${tile}${loads}${store}`;
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
      run: (variant) => matmulInto(gpu, a, b, out, s, variant as MatmulVariant, null),
      dispose: () => [a, b, out].forEach((x) => gpu.release(x)),
    };
  },
};

/** The WGSL code of one shape's plan (exported for tests and experiments); it reads m, n, k from the uniform `size`. */
export function shader(
  s: MatmulShape,
  plan: MatmulPlan,
  epilogue: EpilogueFlags = NO_EPILOGUE,
): { code: string; plan: MatmulPlan } {
  return { code: plan.kind === 'tiled' ? tiledShader(s, plan, epilogue) : registerShader(s, plan, epilogue), plan };
}

/** An empty sum: pooled buffers are not zeroed, so write the zeros. */
function zeros(gpu: Gpu, out: GpuBuffer, size: number): GpuBuffer {
  fillBinding(gpu, out, size, 0, 'float32');
  return out;
}

/** Every variant's first lines: the sizes from the uniform, and where batch entry wg.z starts in a, b and out. */
const SIZES = `  let M = size.x;
  let N = size.y;
  let K = size.z;
  let aBase = wg.z * M * K;
  let bBase = wg.z * K * N;
  let oBase = wg.z * M * N;`;

// The epilogue: every sum starts at its column's bias (as the conv kernels start theirs: there, adding it
// at the store ran and compiled slower on lavapipe, docs/notes/kernels.md), and the ReLU is applied as
// the sum is stored. Without an epilogue the WGSL is what it was before there was one.

/** The bindings after out: the bias (when there is one), then the sizes' uniform. */
const storeBindings = (e: EpilogueFlags) =>
  `${e.bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;\n' : ''}@group(0) @binding(${e.bias ? 4 : 3}) var<uniform> size: vec4u;`;

/** A WGSL statement storing `value` to `target`, through the ReLU when the epilogue has one. */
const storeValue = (target: string, value: string, e: EpilogueFlags) =>
  e.relu ? `let v = ${value}; ${target} = ${UNARY_WGSL.relu};` : `${target} = ${value};`;

/** A register kernel as its WGSL sees it: the plan's tile under names, with the shape's transposes and k mod 4. */
interface RegisterTile {
  transA: boolean;
  transB: boolean;
  /** Output rows (along m) and columns (along n) of one invocation: the plan's tm × tn. */
  rows: number;
  cols: number;
  aMode: LoadMode;
  bMode: LoadMode;
  /** Lanes that share A's values by subgroupBroadcast (0: every invocation loads its own rows). */
  subgroup: number;
  /** The k-steps past the last multiple of 4: the only size baked into the kernel. */
  tail: number;
}

// WGSL names: r{i} / c{j} the clamped row i / column j of the invocation's tile, rg{g} / cg{g} the first of
// vec4 group g; in a block of k-steps, av… / bv… the loaded values of A / B, as{slot} a lane's share of A
// and au{unit} a unit broadcast from its lane (subgroup mode); acc{i}_{j} the sum of output (i, j).
/** The WGSL of a register-blocked plan: every invocation's tm×tn outputs from global memory. */
function registerShader(s: MatmulShape, plan: RegisterPlan, epilogue: EpilogueFlags): string {
  const tile: RegisterTile = {
    transA: s.transA,
    transB: s.transB,
    rows: plan.tm,
    cols: plan.tn,
    aMode: plan.aMode,
    bMode: plan.bMode,
    subgroup: plan.subgroup,
    tail: s.k % 4,
  };
  const sg = tile.subgroup > 0;
  const body = [
    ...clampedIndices(tile),
    // bias{j}: the bias of column c{j} (clamped, so in range).
    ...(epilogue.bias ? Array.from({ length: tile.cols }, (_, j) => `  let bias${j} = bias[c${j}];`) : []),
    ...forEachOutput(tile, (i, j) => `  var acc${i}_${j} = ${epilogue.bias ? `bias${j}` : '0.0'};`),
    // k in steps of 4, then the last k mod 4 steps (a constant of this kernel).
    `  let full = K - ${tile.tail}u;`,
    `  for (var t = 0u; t < full; t += 4u) {`,
    ...kStepBlock(tile, 't', 4, '    '),
    `  }`,
    ...(tile.tail > 0 ? [`  {`, `    let t = full;`, ...kStepBlock(tile, 't', tile.tail, '    '), `  }`] : []),
    ...forEachOutput(
      tile,
      (i, j) =>
        `  if (row0 + ${i}u < M && col0 + ${j}u < N) { ${storeValue(`out[oBase + (row0 + ${i}u) * N + col0 + ${j}u]`, `acc${i}_${j}`, epilogue)} }`,
    ),
  ];
  return `${sg ? 'enable subgroups;\n' : ''}
@group(0) @binding(0) var<storage, read> ${tile.aMode === 'scalar' ? 'a: array<f32>' : 'a4: array<vec4f>'};
@group(0) @binding(1) var<storage, read> ${tile.bMode === 'scalar' ? 'b: array<f32>' : 'b4: array<vec4f>'};
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${storeBindings(epilogue)}
@compute @workgroup_size(${plan.wx}, ${plan.wy})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u${sg ? ', @builtin(subgroup_invocation_id) sid: u32' : ''}) {
${SIZES}
  let row0 = (wg.y * ${plan.wy}u + lid.y) * ${tile.rows}u;
  let col0 = (wg.x * ${plan.wx}u + lid.x) * ${tile.cols}u;
${body.join('\n')}
}`;
}

/** One line per output (i, j) of the tile, rows outermost. */
function forEachOutput(tile: RegisterTile, line: (i: number, j: number) => string): string[] {
  const lines: string[] = [];
  for (let i = 0; i < tile.rows; i++) for (let j = 0; j < tile.cols; j++) lines.push(line(i, j));
  return lines;
}

// Row and column indices of this invocation's tile, clamped so every load stays in the matrix; stores
// are guarded by the unclamped indices. A vec4 group along m (or n) starts at a multiple of 4 and
// m % 4 == 0 there, so clamping its start to m − 4 only moves groups lying wholly outside.

/** WGSL for the clamped index of row row0 + i (i a number or a u32 expression). */
const clampedRow = (i: number | string) => `min(row0 + ${typeof i === 'number' ? `${i}u` : i}, M - 1u)`;

/** WGSL for the clamped first row of vec4 row group g (g a number or a u32 expression). */
const clampedRowGroup = (g: number | string) =>
  `min(row0 + ${typeof g === 'number' ? `${4 * g}u` : `4u * (${g})`}, M - 4u)`;

/** The `let`s of the tile's clamped rows r{i} (or row groups rg{g}) and columns c{j} (and column groups cg{g}). */
function clampedIndices(tile: RegisterTile): string[] {
  const lines: string[] = [];
  // With a subgroup, rows are computed where A is loaded (sharedA).
  if (!tile.subgroup) {
    if (tile.aMode === 'mn4')
      for (let g = 0; g < tile.rows / 4; g++) lines.push(`  let rg${g} = ${clampedRowGroup(g)};`);
    else for (let i = 0; i < tile.rows; i++) lines.push(`  let r${i} = ${clampedRow(i)};`);
  }
  for (let j = 0; j < tile.cols; j++) lines.push(`  let c${j} = min(col0 + ${j}u, N - 1u);`);
  if (tile.bMode === 'mn4')
    for (let g = 0; g < tile.cols / 4; g++) lines.push(`  let cg${g} = min(col0 + ${4 * g}u, N - 4u);`);
  return lines;
}

/** WGSL for k-step `step` (a number or a u32 expression) after `t0`. */
const kAt = (t0: string, step: number | string) =>
  step === 0 ? t0 : `${t0} + ${typeof step === 'number' ? `${step}u` : step}`;

/** WGSL that reads A (or B) at a float index: a float, or the vec4 that holds it. */
const loadA = (tile: RegisterTile, index: string) => (tile.aMode === 'scalar' ? `a[${index}]` : `a4[(${index}) / 4u]`);
const loadB = (tile: RegisterTile, index: string) => (tile.bMode === 'scalar' ? `b[${index}]` : `b4[(${index}) / 4u]`);

/** Whether a block of `steps` k-steps reads A (or B) as one vec4 along k per row (column). */
const aAlongK = (tile: RegisterTile, steps: number) => tile.aMode === 'k4' && steps === 4;
const bAlongK = (tile: RegisterTile, steps: number) => tile.bMode === 'k4' && steps === 4;

/** One block of k-steps t0 + 0..steps-1 (at most 4): the loads, then each accumulator gets the block's
 *  partial dot product in one update (on lavapipe every write to a loop-carried variable costs a masked blend). */
function kStepBlock(tile: RegisterTile, t0: string, steps: number, indent: string): string[] {
  const lines: string[] = [];
  const a = tile.subgroup ? sharedA(tile, t0, steps, lines) : ownA(tile, t0, steps, lines);
  const b = ownB(tile, t0, steps, lines);
  const pairs = (i: number, j: number) => a[i].map((value, u) => [value, b[j][u]] as const);
  const updates = forEachOutput(tile, (i, j) => `acc${i}_${j} += ${fmaChain(pairs(i, j))};`);
  return [...lines, ...updates].map((line) => indent + line);
}

/** A's values of the block, value[row][step]: every invocation loads its own rows (no subgroup). */
function ownA(tile: RegisterTile, t0: string, steps: number, lines: string[]): string[][] {
  const value: string[][] = Array.from({ length: tile.rows }, () => []);
  if (aAlongK(tile, steps)) {
    for (let i = 0; i < tile.rows; i++) {
      lines.push(`let av${i} = ${loadA(tile, `aBase + r${i} * K + ${t0}`)};`);
      for (let u = 0; u < 4; u++) value[i][u] = `av${i}.${VEC4_COMPONENTS[u]}`;
    }
  } else if (tile.aMode === 'mn4') {
    for (let u = 0; u < steps; u++) {
      for (let g = 0; g < tile.rows / 4; g++) {
        lines.push(`let av${u}_${g} = ${loadA(tile, `aBase + (${kAt(t0, u)}) * M + rg${g}`)};`);
        for (let r = 0; r < 4; r++) value[4 * g + r][u] = `av${u}_${g}.${VEC4_COMPONENTS[r]}`;
      }
    }
  } else {
    for (let u = 0; u < steps; u++) {
      for (let i = 0; i < tile.rows; i++) {
        lines.push(
          `let av${u}_${i} = ${loadA(tile, tile.transA ? `aBase + (${kAt(t0, u)}) * M + r${i}` : `aBase + r${i} * K + ${kAt(t0, u)}`)};`,
        );
        value[i][u] = `av${u}_${i}`;
      }
    }
  }
  return value;
}

// Subgroup mode: the subgroup's invocations share rows, so the block's A values are split into units
// (vec4s or floats), unit v is loaded by lane v % sg into slot v / sg, and every value is then read from
// its lane with subgroupBroadcast (a register extract on lavapipe).
/** A's values of the block, value[row][step], shared across the subgroup. */
function sharedA(tile: RegisterTile, t0: string, steps: number, lines: string[]): string[][] {
  const { rows, subgroup: sg } = tile;
  const groups = rows / 4;
  const units = aAlongK(tile, steps) ? rows : tile.aMode === 'mn4' ? steps * groups : steps * rows;
  for (let slot = 0; slot < Math.ceil(units / sg); slot++) {
    const v = `min(sid + ${slot * sg}u, ${units - 1}u)`;
    let index: string;
    if (aAlongK(tile, steps)) index = `aBase + ${clampedRow(v)} * K + ${t0}`;
    else if (tile.aMode === 'mn4')
      index = `aBase + (${kAt(t0, `${v} / ${groups}u`)}) * M + ${clampedRowGroup(`${v} % ${groups}u`)}`;
    else {
      const row = clampedRow(`${v} % ${rows}u`);
      const step = `${v} / ${rows}u`;
      index = tile.transA ? `aBase + (${kAt(t0, step)}) * M + ${row}` : `aBase + ${row} * K + ${kAt(t0, step)}`;
    }
    lines.push(`let as${slot} = ${loadA(tile, index)};`);
  }
  // Each unit's broadcast, declared where it is first used.
  const broadcast = new Map<number, string>();
  const unit = (v: number): string => {
    let name = broadcast.get(v);
    if (!name) {
      name = `au${v}`;
      broadcast.set(v, name);
      lines.push(`let ${name} = subgroupBroadcast(as${Math.floor(v / sg)}, ${v % sg}u);`);
    }
    return name;
  };
  const value: string[][] = Array.from({ length: rows }, () => []);
  for (let i = 0; i < rows; i++) {
    for (let u = 0; u < steps; u++) {
      if (aAlongK(tile, steps)) value[i][u] = `${unit(i)}.${VEC4_COMPONENTS[u]}`;
      else if (tile.aMode === 'mn4') value[i][u] = `${unit(u * groups + (i >> 2))}.${VEC4_COMPONENTS[i % 4]}`;
      else value[i][u] = unit(u * rows + i);
    }
  }
  return value;
}

/** B's values of the block, value[column][step]; every invocation loads its own columns. */
function ownB(tile: RegisterTile, t0: string, steps: number, lines: string[]): string[][] {
  const value: string[][] = Array.from({ length: tile.cols }, () => []);
  if (bAlongK(tile, steps)) {
    for (let j = 0; j < tile.cols; j++) {
      lines.push(`let bv${j} = ${loadB(tile, `bBase + c${j} * K + ${t0}`)};`);
      for (let u = 0; u < 4; u++) value[j][u] = `bv${j}.${VEC4_COMPONENTS[u]}`;
    }
  } else if (tile.bMode === 'mn4') {
    for (let u = 0; u < steps; u++) {
      for (let g = 0; g < tile.cols / 4; g++) {
        lines.push(`let bv${u}_${g} = ${loadB(tile, `bBase + (${kAt(t0, u)}) * N + cg${g}`)};`);
        for (let r = 0; r < 4; r++) value[4 * g + r][u] = `bv${u}_${g}.${VEC4_COMPONENTS[r]}`;
      }
    }
  } else {
    for (let u = 0; u < steps; u++) {
      for (let j = 0; j < tile.cols; j++) {
        lines.push(
          `let bv${u}_${j} = ${loadB(tile, tile.transB ? `bBase + c${j} * K + ${kAt(t0, u)}` : `bBase + (${kAt(t0, u)}) * N + c${j}`)};`,
        );
        value[j][u] = `bv${u}_${j}`;
      }
    }
  }
  return value;
}

/**
 * The WGSL of a workgroup-memory plan. Per k-step of tileK, the workgroup's invocations load A's
 * rowsPerWorkgroup×tileK tile and B's tileK×colsPerWorkgroup tile into workgroup memory (consecutive
 * invocations read consecutive addresses whatever the transposes; out-of-range elements load as 0),
 * then each invocation accumulates its 4×4 block as four vec4 rows.
 */
function tiledShader(s: MatmulShape, plan: TiledPlan, epilogue: EpilogueFlags): string {
  const { wx, wy, tileK, rowsPerWorkgroup, colsPerWorkgroup, aTileStride, bTileStride } = plan;
  // Each accumulator is one row of the invocation's 4×4 block: it starts at the bias of the block's 4 columns.
  const init = epilogue.bias ? 'bias4' : 'vec4f(0.0)';
  const stores: string[] = [];
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++)
      stores.push(
        `  if (r0 + ${i}u < M && c0 + ${j}u < N) { ${storeValue(`out[oBase + (r0 + ${i}u) * N + c0 + ${j}u]`, `acc${i}.${VEC4_COMPONENTS[j]}`, epilogue)} }`,
      );
  }
  return `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${storeBindings(epilogue)}
var<workgroup> aTile: array<f32, ${aTileStride * tileK}>;
var<workgroup> bTile: array<f32, ${bTileStride * tileK}>;
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
${SIZES}
  let row0 = wg.y * ${rowsPerWorkgroup}u;
  let col0 = wg.x * ${colsPerWorkgroup}u;
${epilogue.bias ? tiledBias() : ''}  var acc0 = ${init};
  var acc1 = ${init};
  var acc2 = ${init};
  var acc3 = ${init};
  for (var t = 0u; t < K; t += ${tileK}u) {
${[...aTileLoads(s, plan), ...bTileLoads(s, plan)].join('\n')}
    workgroupBarrier();
    for (var kk = 0u; kk < ${tileK}u; kk++) {
      let ao = kk * ${aTileStride}u + lid.y * 4u;
      let bo = kk * ${bTileStride}u + lid.x * 4u;
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

/** `bias4`, the bias of the invocation's 4 columns from col0 + 4·lid.x (clamped, so in range). */
function tiledBias(): string {
  const column = (j: number) => `bias[min(bc + ${j}u, N - 1u)]`;
  return `  let bc = col0 + lid.x * 4u;\n  let bias4 = vec4f(${[0, 1, 2, 3].map(column).join(', ')});\n`;
}

/** This invocation's share of A's tile for k-step t: element e = li + q·invocations of the tile, at tile
 *  row r and k offset kk. Untransposed A is k-contiguous, so e runs along k first; transposed, along m. */
function aTileLoads(s: MatmulShape, plan: TiledPlan): string[] {
  const { tileK, rowsPerWorkgroup: rows } = plan;
  const lines: string[] = [];
  for (let q = 0; q < plan.aLoadsPerInvocation; q++) {
    const e = `li + ${q * plan.wx * plan.wy}u`;
    const [r, kk] = s.transA
      ? [`(${e}) % ${rows}u`, `(${e}) / ${rows}u`]
      : [`(${e}) / ${tileK}u`, `(${e}) % ${tileK}u`];
    const index = s.transA ? 'min(gk, K - 1u) * M + min(gr, M - 1u)' : 'min(gr, M - 1u) * K + min(gk, K - 1u)';
    lines.push(`    { let r = ${r}; let kk = ${kk}; let gr = row0 + r; let gk = t + kk;`);
    lines.push(`      aTile[kk * ${plan.aTileStride}u + r] = select(0.0, a[aBase + ${index}], gr < M && gk < K); }`);
  }
  return lines;
}

/** This invocation's share of B's tile for k-step t (tile column c, k offset kk): transposed B is k-contiguous. */
function bTileLoads(s: MatmulShape, plan: TiledPlan): string[] {
  const { tileK, colsPerWorkgroup: cols } = plan;
  const lines: string[] = [];
  for (let q = 0; q < plan.bLoadsPerInvocation; q++) {
    const e = `li + ${q * plan.wx * plan.wy}u`;
    const [c, kk] = s.transB
      ? [`(${e}) / ${tileK}u`, `(${e}) % ${tileK}u`]
      : [`(${e}) % ${cols}u`, `(${e}) / ${cols}u`];
    const index = s.transB ? 'min(gc, N - 1u) * K + min(gk, K - 1u)' : 'min(gk, K - 1u) * N + min(gc, N - 1u)';
    lines.push(`    { let c = ${c}; let kk = ${kk}; let gc = col0 + c; let gk = t + kk;`);
    lines.push(`      bTile[kk * ${plan.bTileStride}u + c] = select(0.0, b[bBase + ${index}], gc < N && gk < K); }`);
  }
  return lines;
}
