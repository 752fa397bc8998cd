// Batch-norm kernels over NCHW, per channel: batch statistics (mean and biased variance over N, H, W)
// and the normalising affine map.
//
// Statistics: channel c holds M = N·H·W values, at (n·C + c)·HW + i. One workgroup per channel
// computes exact two-pass statistics (sum → mean by a shared-memory tree, then Σ(x − mean)² by a
// second tree; the values are re-read, from cache) and writes mean and variance: one dispatch.
// Only when there are too few channels to occupy the device (fewer than MIN_GROUPS) is each channel
// split into G chunks, one workgroup each, computing the chunk's two-pass statistics; a second
// dispatch then merges them per channel with Chan et al.'s pairwise formula:
// mean = Σ nₖ·meanₖ / M, M2 = Σ M2ₖ + Σ nₖ·(meanₖ − mean)². (On lavapipe every extra workgroup with
// barriers costs tens of µs, so splitting 16 channels of 131k values each made the kernel slower.)
// No step subtracts E[x]² from E[x²], so a large common offset (values around 1000 ± 1) does not
// cancel away the variance. A batch over the binding limit is done in chunks of images, whose
// statistics merge by the same formula (mergeChunkStats).

import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { forRowChunks } from './chunks.js';
import { f32, flatIndex, grid } from './wgsl.js';

/** Threads per statistics workgroup (the tree width). */
const TREE = 64;
/** Fewer channels than this are split into chunks, so that at least this many workgroups run. */
const MIN_GROUPS = 8;
/** Values per chunk at least: enough work per workgroup to amortise its two trees. */
const MIN_CHUNK = 4096;

/** WGSL tree sum of `tree[0..TREE)` into tree[0]; every invocation of the workgroup must call it. */
function treeSum(): string {
  return `
  workgroupBarrier();
  for (var s = ${TREE / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { tree[lid] += tree[lid + s]; }
    workgroupBarrier();
  }`;
}

/** Per-channel mean and biased variance ([channels] each) of NCHW x ([batch, channels, spatial]), numerically stable (no E[x²] − E[x]²). */
export function batchNormStats(gpu: Gpu, x: Binding, batch: number, channels: number, spatial: number): [GpuBuffer, GpuBuffer] {
  const parts: { stats: [GpuBuffer, GpuBuffer]; images: number }[] = [];
  forRowChunks(gpu, batch, [{ buffer: x, rowBytes: channels * spatial * 4, access: 'read' }], ({ count, windows: [xw] }) => {
    parts.push({ stats: chunkStats(gpu, xw, count, channels, spatial), images: count });
  });
  return parts.length === 1 ? parts[0].stats : mergeChunkStats(gpu, parts, channels, spatial);
}

/**
 * The statistics of the whole batch from those of its chunks (Chan et al.): with nₖ values of a channel
 * in chunk k, mean = Σ nₖ·meanₖ / M and variance = Σ nₖ·(varₖ + (meanₖ − mean)²) / M. Releases the parts.
 */
function mergeChunkStats(gpu: Gpu, parts: { stats: [GpuBuffer, GpuBuffer]; images: number }[], channels: number, spatial: number): [GpuBuffer, GpuBuffer] {
  const K = parts.length;
  const stacked = [gpu.acquire(K * channels * 4), gpu.acquire(K * channels * 4)];
  parts.forEach(({ stats }, k) => {
    for (const j of [0, 1]) {
      gpu.copy(stats[j], stacked[j], channels * 4, 0, k * channels * 4);
      gpu.release(stats[j]);
    }
  });
  const total = parts.reduce((t, p) => t + p.images * spatial, 0);
  const weight = (k: number) => f32((parts[k].images * spatial) / total);
  const meanTerms = parts.map((_, k) => `${weight(k)} * means[${k * channels}u + i]`);
  const m2Terms = parts.map((_, k) => `${weight(k)} * (variances[${k * channels}u + i] + square(means[${k * channels}u + i] - m))`);
  const mean = gpu.acquire(channels * 4);
  const variance = gpu.acquire(channels * 4);
  const { workgroups, stride } = grid(channels);
  const code = `
@group(0) @binding(0) var<storage, read> means: array<f32>;
@group(0) @binding(1) var<storage, read> variances: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> variance: array<f32>;
fn square(v: f32) -> f32 { return v * v; }
${flatIndex(channels, stride)}
  let m = ${meanTerms.join(' + ')};
  mean[i] = m;
  variance[i] = ${m2Terms.join(' + ')};
}`;
  gpu.dispatch(gpu.pipeline('batchNormStatsMergeChunks', code), [stacked[0], stacked[1], mean, variance], workgroups);
  for (const b of stacked) gpu.release(b);
  return [mean, variance];
}

function chunkStats(gpu: Gpu, x: Binding, batch: number, channels: number, spatial: number): [GpuBuffer, GpuBuffer] {
  const mean = gpu.acquire(channels * 4);
  const variance = gpu.acquire(channels * 4);
  const count = batch * spatial;
  if (channels === 0 || count === 0) return [mean, variance];
  // Loads are vec4 when a channel's spatial block is a whole number of vec4s (~2.5× faster on lavapipe).
  const width = spatial % 4 === 0 ? 4 : 1;
  const type = width === 4 ? 'vec4f' : 'f32';
  const units = count / width;
  const unitsPerPlane = spatial / width;
  const wanted = Math.max(1, Math.min(Math.ceil(count / MIN_CHUNK), Math.ceil(MIN_GROUPS / channels)));
  const length = Math.ceil(units / wanted); // in units (vec4s or values)
  const chunks = Math.ceil(units / length); // so that every chunk is non-empty
  const direct = chunks === 1;
  const partial = direct ? null : gpu.acquire(2 * channels * chunks * 4);
  const { workgroups, stride } = grid(channels * chunks, 1);
  const store = direct
    ? `mean[c] = m;
    variance[c] = tree[0] / ${f32(count)};`
    : `partial[o] = m;
    partial[${channels * chunks}u + o] = tree[0];`;
  const bindings = direct
    ? `@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> variance: array<f32>;`
    : `@group(0) @binding(1) var<storage, read_write> partial: array<f32>;`;
  const code = `
@group(0) @binding(0) var<storage, read> x: array<${type}>;
${bindings}
var<workgroup> tree: array<f32, ${TREE}>;

fn at(c: u32, r: u32) -> u32 { return (r / ${unitsPerPlane}u) * ${channels * unitsPerPlane}u + c * ${unitsPerPlane}u + r % ${unitsPerPlane}u; }
fn total(v: ${type}) -> f32 { return ${width === 4 ? 'v.x + v.y + v.z + v.w' : 'v'}; }

@compute @workgroup_size(${TREE})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * ${stride}u;
  if (o >= ${channels * chunks}u) { return; }
  let c = o / ${chunks}u;
  let start = (o % ${chunks}u) * ${length}u;
  let end = min(start + ${length}u, ${units}u);
  var acc = ${type}(0.0);
  for (var r = start + lid; r < end; r += ${TREE}u) { acc += x[at(c, r)]; }
  tree[lid] = total(acc);
  ${treeSum()}
  let m = tree[0] / f32(${width}u * (end - start));
  workgroupBarrier();
  var sq = ${type}(0.0);
  for (var r = start + lid; r < end; r += ${TREE}u) {
    let d = x[at(c, r)] - m;
    sq += d * d;
  }
  tree[lid] = total(sq);
  ${treeSum()}
  if (lid == 0u) {
    ${store}
  }
}`;
  if (direct) {
    gpu.dispatch(gpu.pipeline('batchNormStats', code), [x, mean, variance], workgroups);
    return [mean, variance];
  }
  gpu.dispatch(gpu.pipeline('batchNormStatsChunks', code), [x, partial!], workgroups);

  const merge = grid(channels);
  const size = width * length;
  const lastSize = count - (chunks - 1) * size;
  const mergeCode = `
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> variance: array<f32>;

fn size(k: u32) -> f32 { return select(${f32(size)}, ${f32(lastSize)}, k == ${chunks - 1}u); }

${flatIndex(channels, merge.stride)}
  let base = i * ${chunks}u;
  var total = 0.0;
  for (var k = 0u; k < ${chunks}u; k++) { total += size(k) * partial[base + k]; }
  let m = total / ${f32(count)};
  var m2 = 0.0;
  for (var k = 0u; k < ${chunks}u; k++) {
    let d = partial[base + k] - m;
    m2 += partial[${channels * chunks}u + base + k] + size(k) * d * d;
  }
  mean[i] = m;
  variance[i] = m2 / ${f32(count)};
}`;
  gpu.dispatch(gpu.pipeline('batchNormStatsMerge', mergeCode), [partial!, mean, variance], merge.workgroups);
  gpu.release(partial!);
  return [mean, variance];
}

/**
 * y = (x − mean[c])·(gamma[c] / sqrt(variance[c] + eps)) + beta[c], one dispatch; each invocation
 * handles a vec4 of one channel when the spatial size allows (2-3× faster on lavapipe), else one value.
 */
export function batchNormApply(
  gpu: Gpu, x: Binding, mean: Binding, variance: Binding, gamma: Binding, beta: Binding,
  batch: number, channels: number, spatial: number, eps: number,
): GpuBuffer {
  const out = gpu.acquire(batch * channels * spatial * 4);
  if (batch * channels * spatial === 0) return out;
  const rowBytes = channels * spatial * 4;
  const operands = [{ buffer: x, rowBytes, access: 'read' }, { buffer: out, rowBytes, access: 'write' }] as const;
  forRowChunks(gpu, batch, operands, ({ count, windows: [xw, ow] }) => applyInto(gpu, xw, mean, variance, gamma, beta, ow, count, channels, spatial, eps));
  return out;
}

function applyInto(
  gpu: Gpu, x: Binding, mean: Binding, variance: Binding, gamma: Binding, beta: Binding, out: Binding,
  batch: number, channels: number, spatial: number, eps: number,
): void {
  const n = batch * channels * spatial;
  const width = spatial % 4 === 0 ? 4 : 1;
  const type = width === 4 ? 'vec4f' : 'f32';
  const units = n / width;
  const { workgroups, stride } = grid(units);
  const code = `
@group(0) @binding(0) var<storage, read> x: array<${type}>;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> variance: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<${type}>;
@group(0) @binding(6) var<uniform> eps: vec4f;
${flatIndex(units, stride)}
  let c = (i / ${spatial / width}u) % ${channels}u;
  let scale = gamma[c] / sqrt(variance[c] + eps.x);
  out[i] = (x[i] - mean[c]) * scale + beta[c];
}`;
  // eps in a uniform: a model with another ε compiles nothing new.
  gpu.dispatch(gpu.pipeline('batchNormApply', code), [x, mean, variance, gamma, beta, out], workgroups, new Float32Array([eps]));
}
