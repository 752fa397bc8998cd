// Log-softmax over rows, and the fused mean softmax cross-entropy with integer labels (forward and
// gradient). Rows are short (classes), so each row is handled by one invocation with the max
// subtracted for stability. The number of classes is baked into the WGSL; the number of rows (the
// batch) and the mean's divisor come in a uniform, so one pipeline per class count serves every batch.

import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { chunkTarget, forRowChunks } from './chunks.js';
import { countedMain, grid } from './wgsl.js';

/** WGSL: log Σ exp over row r of `logits` (cols baked in). */
function logSumExp(cols: number): string {
  return `fn logSumExp(r: u32) -> f32 {
  var m = logits[r * ${cols}u];
  for (var j = 1u; j < ${cols}u; j++) { m = max(m, logits[r * ${cols}u + j]); }
  var s = 0.0;
  for (var j = 0u; j < ${cols}u; j++) { s += exp(logits[r * ${cols}u + j] - m); }
  return m + log(s);
}`;
}

/** The uniform block of these kernels: the rows of this dispatch, and what the mean divides by (all rows of the batch). */
const PARAMS = 'struct Params { rows: u32, divisor: f32 }';

function params(rows: number, divisor: number): Uint32Array {
  const words = new Uint32Array([rows, 0]);
  new Float32Array(words.buffer)[1] = divisor;
  return words;
}

/** Log-softmax of each row of x ([rows, cols] f32, row-major): out[r, j] = x[r, j] - log Σ_k exp(x[r, k]); returns a new [rows, cols] buffer. */
export function logSoftmax(gpu: Gpu, x: Binding, rows: number, cols: number): GpuBuffer {
  const out = gpu.acquire(rows * cols * 4);
  const operands = [
    { buffer: x, rowBytes: cols * 4, access: 'read' },
    { buffer: out, rowBytes: cols * 4, access: 'write' },
  ] as const;
  forRowChunks(gpu, rows, operands, ({ count, windows: [xw, ow] }) => logSoftmaxInto(gpu, xw, ow, count, cols));
  return out;
}

function logSoftmaxInto(gpu: Gpu, x: Binding, out: Binding, rows: number, cols: number): void {
  const pipeline = gpu.program(
    'log_softmax',
    String(cols),
    () => `
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${PARAMS}
@group(0) @binding(2) var<uniform> u: Params;
${logSumExp(cols)}
${countedMain('r', 'u.rows')}
  let lse = logSumExp(r);
  for (var j = 0u; j < ${cols}u; j++) { out[r * ${cols}u + j] = logits[r * ${cols}u + j] - lse; }
}`,
  );
  gpu.dispatch(pipeline, [x, out], grid(rows).workgroups, params(rows, rows));
}

const TREE = 64;

/** Mean over rows of −log softmax(logits)[label] (a big batch in chunks, whose sums add up). */
export function softmaxCrossEntropy(gpu: Gpu, logits: Binding, labels: Binding, rows: number, cols: number): GpuBuffer {
  const out = gpu.acquire(4);
  const operands = [
    { buffer: logits, rowBytes: cols * 4, access: 'read' },
    { buffer: labels, rowBytes: 4, access: 'read' },
  ] as const;
  forRowChunks(gpu, rows, operands, ({ count, index, windows: [lw, yw] }) => {
    const { target, done } = chunkTarget(gpu, out, 1, index);
    crossEntropySum(gpu, lw, yw, target, count, cols, rows);
    done();
  });
  return out;
}

/** One workgroup: each invocation sums the losses of a strided set of rows, then a tree sum, divided by `divisor` (all rows of the batch). */
function crossEntropySum(
  gpu: Gpu,
  logits: Binding,
  labels: Binding,
  out: Binding,
  rows: number,
  cols: number,
  divisor: number,
): void {
  const pipeline = gpu.program(
    'softmax_cross_entropy',
    String(cols),
    () => `
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${PARAMS}
@group(0) @binding(3) var<uniform> u: Params;
var<workgroup> partial: array<f32, ${TREE}>;
${logSumExp(cols)}
@compute @workgroup_size(${TREE})
fn main(@builtin(local_invocation_index) lid: u32) {
  var nanBits = 0x7fc00000u; // a var: WGSL refuses a NaN constant expression
  var acc = 0.0;
  for (var r = lid; r < u.rows; r += ${TREE}u) {
    // A label outside [0, cols) makes the loss NaN (the CPU backend throws): never a plausible number.
    if (labels[r] < 0i || labels[r] >= ${cols}i) { acc += bitcast<f32>(nanBits); continue; }
    acc += logSumExp(r) - logits[r * ${cols}u + u32(labels[r])];
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = ${TREE / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[0] = partial[0] / u.divisor; }
}`,
  );
  gpu.dispatch(pipeline, [logits, labels, out], [1], params(rows, divisor));
}

/** d(mean CE)/d logits · dy = (softmax − onehot) · dy / rows, one invocation per row. */
export function softmaxCrossEntropyGrad(
  gpu: Gpu,
  logits: Binding,
  labels: Binding,
  dy: Binding,
  rows: number,
  cols: number,
): GpuBuffer {
  const out = gpu.acquire(rows * cols * 4);
  const operands = [
    { buffer: logits, rowBytes: cols * 4, access: 'read' },
    { buffer: labels, rowBytes: 4, access: 'read' },
    { buffer: out, rowBytes: cols * 4, access: 'write' },
  ] as const;
  forRowChunks(gpu, rows, operands, ({ count, windows: [lw, yw, ow] }) =>
    crossEntropyGradInto(gpu, lw, yw, dy, ow, count, cols, rows),
  );
  return out;
}

function crossEntropyGradInto(
  gpu: Gpu,
  logits: Binding,
  labels: Binding,
  dy: Binding,
  out: Binding,
  rows: number,
  cols: number,
  divisor: number,
): void {
  const pipeline = gpu.program(
    'softmax_cross_entropy_grad',
    String(cols),
    () => `
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${PARAMS}
@group(0) @binding(4) var<uniform> u: Params;
${logSumExp(cols)}
${countedMain('r', 'u.rows')}
  let lse = logSumExp(r);
  let scale = dy[0] / u.divisor;
  let valid = labels[r] >= 0i && labels[r] < ${cols}i;
  var nanBits = 0x7fc00000u; // a var: WGSL refuses a NaN constant expression
  let label = u32(clamp(labels[r], 0i, ${cols - 1}i));
  for (var j = 0u; j < ${cols}u; j++) {
    let p = exp(logits[r * ${cols}u + j] - lse);
    out[r * ${cols}u + j] = select(bitcast<f32>(nanBits), (p - select(0.0, 1.0, j == label)) * scale, valid);
  }
}`,
  );
  gpu.dispatch(pipeline, [logits, labels, dy, out], grid(rows).workgroups, params(rows, divisor));
}
