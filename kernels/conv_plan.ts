// Tiling plans of the conv kernels (kernels/conv2d.ts): pure numbers from a shape — tile sizes,
// workgroup shapes and counts, the phases of the strided input gradient, the split-K chunks of the
// weight gradient. Kept apart from the WGSL they drive so they can be unit-tested without a GPU.

import type { Conv2dShape } from '../engine/backend.js';

/** Invocations per workgroup of the row-tile and weight-gradient kernels. */
export const LANES = 64;

/** Most dispatch workgroups along one axis (WebGPU's default maxComputeWorkgroupsPerDimension). */
export const MAX_WORKGROUPS = 65535;

/** Knobs of the row-tile kernel (benchmarks compare them; the defaults suit lavapipe). */
export interface RowTileConfig {
  /** Most rows (out channels forward, in channels for the input gradient) per invocation. */
  tmMax: number;
  /** Most output pixels per tile along a row. */
  tnMax: number;
  /** Most accumulators per invocation (TM · TH · TN), which bounds TH. */
  accMax: number;
  /** Subgroup size to share the weights through subgroupBroadcast (0: every lane loads them). */
  subgroup: number;
}

/** 4 rows × up to 12 pixels: the fastest of the tiles measured on lavapipe (docs/notes/kernels.md). */
export const ROW_TILE_DEFAULT: RowTileConfig = { tmMax: 4, tnMax: 12, accMax: 32, subgroup: 0 };

/** With subgroups, weights cost a broadcast instead of a load, so more rows per invocation pay: 8 rows ×
 *  2 × 6 pixels measured best or near best on lavapipe at SmallCNN's shapes, well ahead of the default
 *  tile (docs/notes/kernels.md; the other tiles tried: docs/notes/conv.md). */
export const ROW_TILE_SUBGROUP: Omit<RowTileConfig, 'subgroup'> = { tmMax: 8, tnMax: 6, accMax: 96 };

/** Twice the rows: on lavapipe faster again at SmallCNN's shapes, but much longer to compile
 *  (docs/notes/kernels.md), so a shape gets it only where `yopo tune` measured it faster. */
export const ROW_TILE_SUBGROUP_LARGE: Omit<RowTileConfig, 'subgroup'> = { tmMax: 16, tnMax: 6, accMax: 192 };

/** The row-tile configuration for a device with subgroups of a fixed size (0: none). */
export function rowTileConfig(subgroupSize: number): RowTileConfig {
  return subgroupSize > 0 ? { ...ROW_TILE_SUBGROUP, subgroup: subgroupSize } : ROW_TILE_DEFAULT;
}

/**
 * The conv kernels' tile variants, which the tuner (kernels/tune.ts) chooses between per shape:
 * 'plain' without subgroups, 'subgroup' (the default from SUBGROUP_MIN_FLOPS on) and 'subgroup-large'.
 * All three sum every output in the same order, so the row-tile passes (forward, input gradient) give
 * bit-identical results whichever runs; the weight gradient's plain tile steps one column at a time
 * and rounds differently.
 */
export type ConvVariant = 'plain' | 'subgroup' | 'subgroup-large' | 'subgroup-xl';

/** The variants a device runs for a row-tile pass ('row': forward, input gradient) or the weight gradient
 *  ('filter', which also has 'subgroup-xl': 32 out channels an invocation); the subgroup ones need
 *  subgroups of a fixed size. */
export function convVariants(subgroupSize: number, pass: 'row' | 'filter' = 'row'): ConvVariant[] {
  if (subgroupSize === 0) return ['plain'];
  return pass === 'filter'
    ? ['plain', 'subgroup', 'subgroup-large', 'subgroup-xl']
    : ['plain', 'subgroup', 'subgroup-large'];
}

/** The built-in variant of shape `s` (no tuning): subgroup tiles from SUBGROUP_MIN_FLOPS on. */
export function defaultConvVariant(s: Conv2dShape, subgroupSize: number): ConvVariant {
  return subgroupSize > 0 && convFlops(s) >= SUBGROUP_MIN_FLOPS ? 'subgroup' : 'plain';
}

/** The row-tile knobs of a variant. */
export function rowTileConfigOf(variant: ConvVariant, subgroupSize: number): RowTileConfig {
  if (variant === 'subgroup-xl')
    throw new Error("conv: the row tile has no 'subgroup-xl' variant (only the weight gradient has)");
  if (variant === 'plain' || subgroupSize === 0) return ROW_TILE_DEFAULT;
  return { ...(variant === 'subgroup-large' ? ROW_TILE_SUBGROUP_LARGE : ROW_TILE_SUBGROUP), subgroup: subgroupSize };
}

/** Out channels per invocation of the weight gradient's subgroup variants: 32 ran SmallCNN's convs faster
 *  than 16 but took about three times as long to compile (docs/notes/kernels.md), so it is a variant of its
 *  own for the tuner. */
const FILTER_ROWS: Record<ConvVariant, number> = { plain: 4, subgroup: 8, 'subgroup-large': 16, 'subgroup-xl': 32 };

/** The weight-gradient knobs of a variant. */
export function backwardFilterConfigOf(variant: ConvVariant, subgroupSize: number): BackwardFilterConfig {
  if (variant === 'plain' || subgroupSize === 0) return backwardFilterConfig(0);
  return { ...backwardFilterConfig(subgroupSize), tmMax: FILTER_ROWS[variant] };
}

/** Multiply-adds × 2 of one conv pass (forward, input gradient and weight gradient all do as many). */
export function convFlops(s: Conv2dShape): number {
  return 2 * s.batch * s.outChannels * s.inChannels * s.kernelHeight * s.kernelWidth * s.outHeight * s.outWidth;
}

/**
 * Below this many FLOPs a conv keeps the plain tiles even on a device with subgroups. The subgroup tiles
 * hold 72–96 accumulators per invocation, and lavapipe compiles them several times longer (seconds more
 * for a small conv: docs/notes/kernels.md), while at that size a call takes well under a millisecond
 * either way, so the compile never pays back. At
 * 2^24 SmallCNN's convs at batch 128 (0.05–1.6 GFLOP) take the subgroup tiles, one image (0.4–12.5
 * MFLOP) the plain ones.
 */
export const SUBGROUP_MIN_FLOPS = 2 ** 24;

/** How a row-tile pass splits `rows` × (batch × QH × QW pixels) of output across invocations. */
export interface RowTilePlan {
  /** Rows per invocation, and an invocation's TH × TN block of pixels. */
  tm: number;
  th: number;
  tn: number;
  /** Workgroup shape: lanes along x take pixel tiles, y takes row groups. */
  wx: number;
  wy: number;
  tilesPerRow: number;
  tileRows: number;
  /** Pixel tiles in all: batch × tileRows × tilesPerRow. */
  tiles: number;
  workgroups: [number, number, number];
  /** The TM rows of one tap are read as TM/4 vec4s (weights rearranged rows-innermost). */
  vecRows: boolean;
  /** Subgroup size sharing the weights (0: none; needs vecRows and subgroups inside one workgroup row). */
  subgroup: number;
}

/** The row-tile plan for `rows` rows over a QH × QW grid of pixels per image. */
export function rowTilePlan(
  rows: number,
  batch: number,
  QH: number,
  QW: number,
  config: RowTileConfig = ROW_TILE_DEFAULT,
): RowTilePlan {
  // Few rows: all lanes on pixels.
  const tm = Math.min(config.tmMax, rows);
  const wy = Math.min(8, 2 ** Math.ceil(Math.log2(Math.ceil(rows / tm))));
  const wx = LANES / wy;
  // Tiles of at most tnMax pixels that split the row evenly (26 → 3 × 9, 10 → 1 × 10), and as many
  // rows as keep the accumulators within accMax.
  const tn = Math.ceil(QW / Math.ceil(QW / config.tnMax));
  const thMax = Math.max(1, Math.min(QH, Math.floor(config.accMax / (tm * tn))));
  const th = tileHeight(QH, thMax);
  const tilesPerRow = Math.ceil(QW / tn);
  const tileRows = Math.ceil(QH / th);
  const tiles = batch * tileRows * tilesPerRow;
  const workgroups: [number, number, number] = [Math.ceil(tiles / wx), Math.ceil(rows / (wy * tm)), 1];
  if (workgroups[0] > MAX_WORKGROUPS)
    throw new Error(`conv2d: ${tiles} pixel tiles exceed one dispatch (limit ${MAX_WORKGROUPS * wx})`);
  const vecRows = tm % 4 === 0 && rows % 4 === 0;
  // Lanes of one subgroup must share their rows: whole subgroups along x.
  // Where it cannot share (one row: SmallCNN's first-conv input gradient), the tile keeps the subgroup
  // config's sizes, unlike the weight gradient's plan: side by side on lavapipe at 1x28x28→32, batch
  // 128, its 1 × 13 × 6 tile ran faster than the plain config's (docs/notes/kernels.md).
  const subgroup = vecRows && config.subgroup > 0 && wx % config.subgroup === 0 ? config.subgroup : 0;
  return { tm, th, tn, wx, wy, tilesPerRow, tileRows, tiles, workgroups, vecRows, subgroup };
}

/** The tile height for a QH-row grid, at most `thMax` and at least half that (taller tiles share more
 *  of their input rows): the one that computes the fewest rows, the tallest of those. 10 rows at most 3
 *  high are 5 tiles of 2, not 4 of 3 that compute 12. */
export function tileHeight(QH: number, thMax: number): number {
  let best = thMax;
  for (let th = thMax - 1; th >= Math.ceil(thMax / 2); th--)
    if (th * Math.ceil(QH / th) < best * Math.ceil(QH / best)) best = th;
  return best;
}

/** Along one axis, the input positions q + S·a (a < pixels) of phase q: kernel taps first + S·j
 *  (j < taps) reach them, from dy position a + base − j. */
export interface AxisPhase {
  q: number;
  pixels: number;
  first: number;
  taps: number;
  base: number;
}

// Input position h is reached by tap k from dy position (h + P − k)/S where S divides h + P − k: for
// h = q + S·a that is k ≡ q + P (mod S), so k = first + S·j and the dy position is a + base − j.
/** The phases of an axis of `size` input positions (kernel K, stride S, padding P) with any pixels. */
export function axisPhases(size: number, K: number, S: number, P: number): AxisPhase[] {
  const phases: AxisPhase[] = [];
  for (let q = 0; q < S; q++) {
    const first = (q + P) % S;
    phases.push({
      q,
      pixels: q < size ? Math.ceil((size - q) / S) : 0,
      first,
      taps: first < K ? Math.ceil((K - first) / S) : 0,
      base: (q + P - first) / S,
    });
  }
  return phases.filter((ph) => ph.pixels > 0);
}

/** The input gradient's phases and the one zero-padded copy of dy (PH × PW, dy at (pad, pad)) they share. */
export interface BackwardInputPlan {
  rowPhases: AxisPhase[];
  colPhases: AxisPhase[];
  /** The phases some kernel tap reaches (the others are zeros). */
  rowsUsed: AxisPhase[];
  colsUsed: AxisPhase[];
  pad: number;
  PH: number;
  PW: number;
}

export function backwardInputPlan(s: Conv2dShape): BackwardInputPlan {
  const {
    inHeight: H,
    inWidth: W,
    outHeight: OH,
    outWidth: OW,
    kernelHeight: KH,
    kernelWidth: KW,
    stride: S,
    padding: P,
  } = s;
  const rowPhases = axisPhases(H, KH, S, P);
  const colPhases = axisPhases(W, KW, S, P);
  const rowsUsed = rowPhases.filter((ph) => ph.taps > 0);
  const colsUsed = colPhases.filter((ph) => ph.taps > 0);
  // Enough zeros before the first and after the last dy position any phase reads (0 before and 1
  // after for 3x3 stride 2 padding 1).
  const before = (phases: AxisPhase[]) => Math.max(0, ...phases.map((ph) => ph.taps - 1 - ph.base));
  const after = (phases: AxisPhase[], size: number) =>
    Math.max(0, ...phases.map((ph) => ph.pixels - 1 + ph.base - (size - 1)));
  const pad = Math.max(before(rowsUsed), before(colsUsed));
  return {
    rowPhases,
    colPhases,
    rowsUsed,
    colsUsed,
    pad,
    PH: pad + OH + after(rowsUsed, OH),
    PW: pad + OW + after(colsUsed, OW),
  };
}

/** Knobs of the weight-gradient kernel (benchmarks compare them; the defaults suit lavapipe). */
export interface BackwardFilterConfig {
  /** Most out channels per invocation. */
  tmMax: number;
  /** Most output columns per step of the pixel loop (with subgroups, at most the subgroup size). */
  twMax: number;
  /** Subgroup size to share dy across the lanes through subgroupBroadcast (0: every lane loads it). */
  subgroup: number;
}

/** How the weight gradient splits O × C × KH·KW outputs and its batch × pixels reduction. */
export interface BackwardFilterPlan {
  /** Out channels per invocation (along y); one in channel per invocation (along x), all its taps. */
  tm: number;
  wx: number;
  wy: number;
  /** Output columns (ow) per step of the pixel loop: neighbours share most of their input window. */
  tw: number;
  groupsX: number;
  groupsY: number;
  /** Split-K: the batch in `chunks` chunks of `perChunk` images, one workgroup layer each. */
  perChunk: number;
  chunks: number;
  /** Subgroup size sharing dy (0: none). The lanes of a subgroup (consecutive in channels, on the same
   *  out channels) step `tw` ≤ subgroup output columns at once, lane l loading column l's dy. */
  subgroup: number;
}

/** Most ow positions per step of the weight gradient's pixel loop without subgroups. 1: stepping 2, 4
 *  or 8 columns at once (fewer gathers of x per multiply) measured no faster on lavapipe at SmallCNN's
 *  shapes, side by side (the accumulators' writes and the extra registers cost what the shared loads save). */
export const BACKWARD_FILTER_TW = 1;

/** The weight-gradient configuration for a device with subgroups of a fixed size (0: none). With
 *  subgroups dy costs a broadcast instead of a load, so more out channels per invocation pay. */
export function backwardFilterConfig(subgroupSize: number): BackwardFilterConfig {
  return subgroupSize > 0
    ? { tmMax: 8, twMax: subgroupSize, subgroup: subgroupSize }
    : { tmMax: 4, twMax: BACKWARD_FILTER_TW, subgroup: 0 };
}

/** The plan for shape `s`; the split-K partial sums (chunks × O·C·KH·KW floats) stay within `bindingLimit` bytes. */
export function backwardFilterPlan(
  s: Conv2dShape,
  config = backwardFilterConfig(0),
  bindingLimit = 2 ** 27,
): BackwardFilterPlan {
  const { batch: B, inChannels: C, outChannels: O, outWidth: OW, kernelHeight: KH, kernelWidth: KW } = s;
  const wx = Math.min(8, 2 ** Math.ceil(Math.log2(C)));
  // A subgroup must lie within one row of lanes (the same out channels): whole subgroups along x.
  const subgroup = config.subgroup > 0 && wx % config.subgroup === 0 ? config.subgroup : 0;
  // Where it cannot (fewer in channels than lanes in a subgroup: SmallCNN's first conv), the plain knobs
  // apply, not the subgroup tile without its broadcasts: at 1x28x28→32, batch 128, that tile (8 out
  // channels × 8 columns a step, every lane loading all 64 dy values) ran slower than the plain one side
  // by side on lavapipe and took seconds more to compile (docs/notes/kernels.md).
  const knobs = config.subgroup > 0 && !subgroup ? backwardFilterConfig(0) : config;
  const tm = Math.min(knobs.tmMax, O);
  const wy = Math.min(LANES / wx, 2 ** Math.ceil(Math.log2(Math.ceil(O / tm))));
  const groupsX = Math.ceil(C / wx);
  const groupsY = Math.ceil(O / (wy * tm));
  // Enough batch chunks to give every core about 64 workgroups, each chunk at least one image.
  const most = Math.floor(bindingLimit / (4 * O * C * KH * KW));
  const wanted = Math.max(1, Math.min(B, most, Math.ceil(64 / (groupsX * groupsY))));
  const perChunk = Math.ceil(B / wanted);
  const tw = Math.max(1, Math.min(knobs.twMax, subgroup || knobs.twMax, OW));
  return { tm, wx, wy, tw, groupsX, groupsY, perChunk, chunks: Math.ceil(B / perChunk), subgroup };
}
