// How a matmul kernel variant splits one shape's output over invocations and workgroups: pure numbers
// from (shape, variant, subgroup size), no WGSL and no GPU. kernels/matmul.ts emits the WGSL of a plan;
// test/kernels/matmul_plan.test.ts checks the plans on the CPU.
//
// Two kernel families:
// - 'register': every invocation computes a tm×tn block of outputs straight from global memory (vec4
//   loads where the layout allows). The 'subgroup' variant shares each row's A values across a subgroup
//   by broadcast: on lavapipe (8-wide SIMD on CPU cores) that is the fastest kernel we have.
// - 'tiled': a workgroup stages a tileM×tileK slab of A and a tileK×tileN slab of B in workgroup memory,
//   then every invocation computes a 4×4 register block from it: the classic layout for real GPUs, where
//   workgroup memory is fast and global loads are shared by the whole workgroup.

import type { MatmulShape } from '../engine/backend.js';

/** The matmul kernel variants, the built-in defaults first ('subgroup' where the device has fixed-size subgroups, else 'register'). */
export const MATMUL_VARIANTS = ['subgroup', 'register', 'tiled64', 'tiled32'] as const;
export type MatmulVariant = (typeof MATMUL_VARIANTS)[number];

/**
 * How one operand is read by the register kernels. 'k4': vec4 along k (A untransposed, B transposed);
 * 'mn4': vec4 along the output axis (A transposed, B untransposed); 'scalar': one float at a time
 * (unaligned sizes).
 */
export type LoadMode = 'k4' | 'mn4' | 'scalar';

interface PlanBase {
  variant: MatmulVariant;
  /** Outputs per invocation: tm rows by tn columns. */
  tm: number;
  tn: number;
  /** Invocations per workgroup along x (columns) and y (rows). */
  wx: number;
  wy: number;
  /** Output rows and columns one workgroup covers (wy·tm by wx·tn). */
  rowsPerWorkgroup: number;
  colsPerWorkgroup: number;
  /** The dispatch grid: column tiles, row tiles, batch. */
  workgroups: [number, number, number];
}

/** Register-blocked: every invocation loads its own operands from global memory (A shared by subgroup broadcast when `subgroup` > 0). */
export interface RegisterPlan extends PlanBase {
  kind: 'register';
  /** Subgroup size whose lanes share A's values (0: none). */
  subgroup: number;
  aMode: LoadMode;
  bMode: LoadMode;
}

/** Workgroup-memory tiles: per k-step of tileK, the workgroup loads A's and B's tiles cooperatively, then computes from them. */
export interface TiledPlan extends PlanBase {
  kind: 'tiled';
  tileK: number;
  /** Floats of A's and of B's tile each invocation loads per k-step (the tile over the workgroup's invocations). */
  aLoadsPerInvocation: number;
  bLoadsPerInvocation: number;
  /** Floats between k-steps in A's and B's tiles in workgroup memory: one more than the tile is wide,
   *  so that invocations storing consecutive k of one row (A untransposed, B transposed) hit distinct banks. */
  aTileStride: number;
  bTileStride: number;
  /** Workgroup memory the two tiles take. */
  sharedBytes: number;
}

export type MatmulPlan = RegisterPlan | TiledPlan;

/** The variants a device can run: 'subgroup' needs subgroups of one fixed size. */
export function matmulVariants(subgroupSize: number): MatmulVariant[] {
  return MATMUL_VARIANTS.filter((v) => v !== 'subgroup' || subgroupSize > 0);
}

/** The built-in choice (what YOPO_TUNE=off uses): tuned on lavapipe, where subgroup broadcast wins. */
export function defaultMatmulVariant(subgroupSize: number): MatmulVariant {
  return subgroupSize > 0 ? 'subgroup' : 'register';
}

/** WebGPU's guaranteed limits, which every plan stays within. */
export const MAX_WORKGROUPS_PER_DIMENSION = 65535;
export const MAX_INVOCATIONS_PER_WORKGROUP = 256;
export const MAX_WORKGROUP_STORAGE_BYTES = 16384;

/** The plan of one shape and variant; throws when the shape needs more workgroups along an axis than WebGPU allows. */
export function matmulPlan(s: MatmulShape, variant: MatmulVariant, subgroupSize: number): MatmulPlan {
  const plan =
    variant === 'tiled64'
      ? tiled(s, variant, 16, 16, 16)
      : variant === 'tiled32'
        ? tiled(s, variant, 8, 8, 16)
        : register(s, variant, subgroupSize);
  for (const w of plan.workgroups) {
    if (w > MAX_WORKGROUPS_PER_DIMENSION)
      throw new Error(
        `matmul: ${JSON.stringify(s)} needs ${w} workgroups along one axis (limit ${MAX_WORKGROUPS_PER_DIMENSION})`,
      );
  }
  return plan;
}

function grid(s: MatmulShape, rows: number, cols: number): [number, number, number] {
  return [Math.ceil(s.n / cols), Math.ceil(s.m / rows), s.batch];
}

function register(s: MatmulShape, variant: 'subgroup' | 'register', subgroupSize: number): RegisterPlan {
  if (variant === 'subgroup' && !(subgroupSize > 0))
    throw new Error("matmul: the 'subgroup' variant needs a device with subgroups of one fixed size");
  // Subgroup mode: 16 rows per invocation, their A values loaded once per subgroup; otherwise 4×4 outputs on 8×8 invocations.
  const sg = variant === 'subgroup' ? subgroupSize : 0;
  const [tm, tn, wx, wy] = sg ? [16, 4, Math.max(16, sg), 1] : [4, 4, 8, 8];
  // A is [m, k] (k contiguous) or, transposed, [k, m] (m contiguous); B is [k, n] or [n, k].
  const aMode: LoadMode = !s.transA ? (s.k % 4 === 0 ? 'k4' : 'scalar') : s.m % 4 === 0 ? 'mn4' : 'scalar';
  const bMode: LoadMode = s.transB ? (s.k % 4 === 0 ? 'k4' : 'scalar') : s.n % 4 === 0 ? 'mn4' : 'scalar';
  const rows = wy * tm;
  const cols = wx * tn;
  return {
    variant,
    kind: 'register',
    tm,
    tn,
    wx,
    wy,
    rowsPerWorkgroup: rows,
    colsPerWorkgroup: cols,
    workgroups: grid(s, rows, cols),
    subgroup: sg,
    aMode,
    bMode,
  };
}

function tiled(s: MatmulShape, variant: 'tiled64' | 'tiled32', wx: number, wy: number, tileK: number): TiledPlan {
  const tm = 4;
  const tn = 4;
  const rows = wy * tm;
  const cols = wx * tn;
  const invocations = wx * wy;
  return {
    variant,
    kind: 'tiled',
    tm,
    tn,
    wx,
    wy,
    rowsPerWorkgroup: rows,
    colsPerWorkgroup: cols,
    workgroups: grid(s, rows, cols),
    tileK,
    aLoadsPerInvocation: (rows * tileK) / invocations,
    bLoadsPerInvocation: (cols * tileK) / invocations,
    aTileStride: rows + 1,
    bTileStride: cols + 1,
    sharedBytes: (rows + 1 + cols + 1) * tileK * 4,
  };
}
