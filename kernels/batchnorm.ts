// Batch-norm kernels over NCHW, per channel: batch statistics (mean and biased variance over N, H, W)
// and the normalising affine map.
//
// Statistics: channel c holds M = N·H·W values, at (n·C + c)·HW + i. One workgroup per channel
// computes exact two-pass statistics (sum → mean by a shared-memory tree, then Σ(x − mean)² by a
// second tree; the values are re-read, from cache) and writes mean and variance: one dispatch.
// Only when there are too few channels to occupy the device (fewer than MIN_GROUPS) is each channel
// split into G chunks, one workgroup each, computing the chunk's two-pass statistics; a second
// dispatch then merges them per channel with Chan et al.'s pairwise formula:
// mean = Σ wₖ·meanₖ, variance = Σ wₖ·(varₖ + (meanₖ − mean)²), with wₖ = nₖ / M the chunk's share.
// (On lavapipe every extra workgroup with barriers has a real cost, so splitting a few channels of
// many values each made the kernel slower.) No step subtracts E[x]² from E[x²], so a large common
// offset (values around 1000 ± 1) does not cancel away the variance. A batch over the binding limit
// is done in chunks of images, whose statistics merge by the same formula and kernel.
//
// No WGSL here holds the batch: what depends on it (values per channel, chunks, weights) comes in a
// uniform, so a new batch size compiles nothing, and the one-chunk and many-chunk cases are the same
// program. The statistics kernel keeps the spatial size in its WGSL, and the apply kernel the spatial
// size and the channel count: their per-element index arithmetic divides by them, and a division by
// a constant compiles to a multiply and a shift where a division by a uniform stays a division.

import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { forRowChunks } from './chunks.js';
import { countedMain, grid, sized } from './wgsl.js';

/** Threads per statistics workgroup (the tree width). */
const TREE = 64;
/** Fewer channels than this are split into chunks, so that at least this many workgroups run. */
const MIN_GROUPS = 8;
/** Values per chunk at least: enough work per workgroup to amortise its two trees. */
const MIN_CHUNK = 4096;

/** Values per load: a vec4 when a channel's spatial block is a whole number of vec4s (faster on lavapipe). */
function loadWidth(spatial: number): 1 | 4 {
  return spatial % 4 === 0 ? 4 : 1;
}

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
export function batchNormStats(
  gpu: Gpu,
  x: Binding,
  batch: number,
  channels: number,
  spatial: number,
): [GpuBuffer, GpuBuffer] {
  const parts: { stats: [GpuBuffer, GpuBuffer]; images: number }[] = [];
  forRowChunks(
    gpu,
    batch,
    [{ buffer: x, rowBytes: channels * spatial * 4, access: 'read' }],
    ({ count, windows: [xw] }) => {
      parts.push({ stats: chunkStats(gpu, xw, count, channels, spatial), images: count });
    },
  );
  if (parts.length === 1) return parts[0].stats;
  // Stack the parts' statistics (part k's channel c at k·channels + c), as the chunks of chunkStats are.
  const K = parts.length;
  const stacked: [GpuBuffer, GpuBuffer] = [gpu.acquire(K * channels * 4), gpu.acquire(K * channels * 4)];
  parts.forEach(({ stats }, k) => {
    for (const j of [0, 1]) {
      gpu.copy(stats[j], stacked[j], channels * 4, 0, k * channels * 4);
      gpu.release(stats[j]);
    }
  });
  // forRowChunks's chunks all have the same number of images but the last.
  const stats = mergeStats(gpu, stacked, channels, parts[0].images / batch, parts[K - 1].images / batch, K);
  for (const b of stacked) gpu.release(b);
  return stats;
}

/**
 * The statistics of each channel from those of its K parts (Chan et al.): `parts` holds part k's mean
 * and variance of channel c at k·channels + c; part k has the share `weight` of the channel's values
 * (`lastWeight` for the last part). One invocation per channel.
 */
function mergeStats(
  gpu: Gpu,
  parts: [Binding, Binding],
  channels: number,
  weight: number,
  lastWeight: number,
  K: number,
): [GpuBuffer, GpuBuffer] {
  const mean = gpu.acquire(channels * 4);
  const variance = gpu.acquire(channels * 4);
  const pipeline = gpu.program(
    'batchNormStatsMerge',
    '',
    () => `
@group(0) @binding(0) var<storage, read> means: array<f32>;
@group(0) @binding(1) var<storage, read> variances: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> variance: array<f32>;
struct Params { channels: u32, parts: u32, weight: f32, lastWeight: f32 }
@group(0) @binding(4) var<uniform> u: Params;

fn weight(k: u32) -> f32 { return select(u.weight, u.lastWeight, k == u.parts - 1u); }

${countedMain('c', 'u.channels')}
  var m = 0.0;
  for (var k = 0u; k < u.parts; k++) { m += weight(k) * means[k * u.channels + c]; }
  var v = 0.0;
  for (var k = 0u; k < u.parts; k++) {
    let d = means[k * u.channels + c] - m;
    v += weight(k) * (variances[k * u.channels + c] + d * d);
  }
  mean[c] = m;
  variance[c] = v;
}`,
  );
  const params = new Uint32Array([channels, K, 0, 0]);
  new Float32Array(params.buffer).set([weight, lastWeight], 2);
  gpu.dispatch(pipeline, [parts[0], parts[1], mean, variance], grid(channels).workgroups, params);
  return [mean, variance];
}

/**
 * The statistics kernel: one workgroup per (chunk k, channel c), o = k·channels + c, writes the
 * chunk's mean and variance at o. A chunk is `length` consecutive loads (vec4s or values) of the
 * channel's `units` (= batch · P, with P loads per image plane); the last chunk may be shorter.
 */
function statsProgram(gpu: Gpu, spatial: number): GPUComputePipeline {
  const width = loadWidth(spatial);
  const type = width === 4 ? 'vec4f' : 'f32';
  const P = spatial / width;
  return gpu.program(
    'batchNormStats',
    String(spatial),
    () => `
@group(0) @binding(0) var<storage, read> x: array<${type}>;
@group(0) @binding(1) var<storage, read_write> means: array<f32>;
@group(0) @binding(2) var<storage, read_write> variances: array<f32>;
struct Params { channels: u32, chunks: u32, length: u32, units: u32 }
@group(0) @binding(3) var<uniform> u: Params;
var<workgroup> tree: array<f32, ${TREE}>;

fn total(v: ${type}) -> f32 { return ${width === 4 ? 'v.x + v.y + v.z + v.w' : 'v'}; }

@compute @workgroup_size(${TREE})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * groups.x;
  if (o >= u.chunks * u.channels) { return; }
  let c = o % u.channels;
  let start = (o / u.channels) * u.length;
  let end = min(start + u.length, u.units);
  // Load r of the channel is in image r / P at r % P of its plane.
  let image = u.channels * ${P}u;
  let plane = c * ${P}u;
  var acc = ${type}(0.0);
  for (var r = start + lid; r < end; r += ${TREE}u) { acc += x[(r / ${P}u) * image + plane + r % ${P}u]; }
  tree[lid] = total(acc);
  ${treeSum()}
  let n = f32(${width}u * (end - start));
  let m = tree[0] / n;
  workgroupBarrier();
  var sq = ${type}(0.0);
  for (var r = start + lid; r < end; r += ${TREE}u) {
    let d = x[(r / ${P}u) * image + plane + r % ${P}u] - m;
    sq += d * d;
  }
  tree[lid] = total(sq);
  ${treeSum()}
  if (lid == 0u) {
    means[o] = m;
    variances[o] = tree[0] / n;
  }
}`,
  );
}

function chunkStats(gpu: Gpu, x: Binding, batch: number, channels: number, spatial: number): [GpuBuffer, GpuBuffer] {
  const count = batch * spatial;
  if (channels === 0 || count === 0) return [gpu.acquire(channels * 4), gpu.acquire(channels * 4)];
  const width = loadWidth(spatial);
  const units = count / width;
  const wanted = Math.max(1, Math.min(Math.ceil(count / MIN_CHUNK), Math.ceil(MIN_GROUPS / channels)));
  const length = Math.ceil(units / wanted); // in loads (vec4s or values)
  const chunks = Math.ceil(units / length); // so that every chunk is non-empty
  // With one chunk per channel the kernel writes the channel's statistics; with more, each chunk's, merged after.
  const outputs = chunks * channels;
  const stats: [GpuBuffer, GpuBuffer] = [gpu.acquire(outputs * 4), gpu.acquire(outputs * 4)];
  gpu.dispatch(
    statsProgram(gpu, spatial),
    [x, ...stats],
    grid(outputs, 1).workgroups,
    new Uint32Array([channels, chunks, length, units]),
  );
  if (chunks === 1) return stats;
  const size = length * width; // values per chunk, all but the last
  const merged = mergeStats(gpu, stats, channels, size / count, (count - (chunks - 1) * size) / count, chunks);
  for (const b of stats) gpu.release(b);
  return merged;
}

/**
 * y = (x − mean[c])·(gamma[c] / sqrt(variance[c] + eps)) + beta[c], one dispatch; each invocation
 * handles a vec4 of one channel when the spatial size allows (faster on lavapipe), else one value.
 */
export function batchNormApply(
  gpu: Gpu,
  x: Binding,
  mean: Binding,
  variance: Binding,
  gamma: Binding,
  beta: Binding,
  batch: number,
  channels: number,
  spatial: number,
  eps: number,
): GpuBuffer {
  const out = gpu.acquire(batch * channels * spatial * 4);
  if (batch * channels * spatial === 0) return out;
  const rowBytes = channels * spatial * 4;
  const operands = [
    { buffer: x, rowBytes, access: 'read' },
    { buffer: out, rowBytes, access: 'write' },
  ] as const;
  forRowChunks(gpu, batch, operands, ({ count, windows: [xw, ow] }) =>
    applyInto(gpu, xw, mean, variance, gamma, beta, ow, count, channels, spatial, eps),
  );
  return out;
}

function applyInto(
  gpu: Gpu,
  x: Binding,
  mean: Binding,
  variance: Binding,
  gamma: Binding,
  beta: Binding,
  out: Binding,
  batch: number,
  channels: number,
  spatial: number,
  eps: number,
): void {
  const n = batch * channels * spatial;
  const width = loadWidth(spatial);
  const type = width === 4 ? 'vec4f' : 'f32';
  // The count is arrayLength of the exactly sized output; eps is in a uniform, so a model with another ε compiles nothing new.
  const pipeline = gpu.program(
    'batchNormApply',
    `${spatial}|${channels}`,
    () => `
@group(0) @binding(0) var<storage, read> x: array<${type}>;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> variance: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<${type}>;
@group(0) @binding(6) var<uniform> eps: vec4f;
${countedMain('i', 'arrayLength(&out)')}
  let c = (i / ${spatial / width}u) % ${channels}u;
  let scale = gamma[c] / sqrt(variance[c] + eps.x);
  out[i] = (x[i] - mean[c]) * scale + beta[c];
}`,
  );
  gpu.dispatch(
    pipeline,
    [x, mean, variance, gamma, beta, sized(out, n)],
    grid(n / width).workgroups,
    new Float32Array([eps]),
  );
}
