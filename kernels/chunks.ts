// Ops on tensors over the binding limit (maxStorageBufferBindingSize: 128 MiB on lavapipe, while a
// buffer may be as large as maxBufferSize, 4 GiB there). A shader binding can see only a window of
// such a buffer, so an op runs in chunks along its leading dimension (the batch, or the flat index
// of an elementwise op): each chunk is the same kernel at a smaller size, bound to a window of each
// big buffer (offset + size). Small operands (weights, per-channel values) bind whole in every chunk.
// An op that reduces over the leading dimension (a weight gradient, batch statistics) sums its
// chunks' results (`accumulate`).
//
// A window must start at a multiple of minStorageBufferOffsetAlignment (256 bytes). Chunks hold a
// multiple of `unit` rows, where unit·rowBytes is a multiple of 256 for every operand, so every
// chunk starts aligned. Only when even one unit of rows is over the limit (rows of a size that is
// not a multiple of 256 bytes, under a tiny test limit) do misaligned chunks go through a scratch
// buffer: copied in before the kernel, copied back after.
//
// Tensors within the limit take none of this: `forRowChunks` calls the kernel once, on the buffers
// themselves.

import { type Binding, DeviceLimitError, type Gpu, GpuWindow } from './webgpu/gpu.js';
import { elementGrid, elementMain, sized } from './wgsl.js';

/** A buffer of an op split along its leading dimension: `rowBytes` bytes per row, and whether the
 *  kernel reads it, writes it or both (which way a scratch copy must go). */
export interface RowOperand {
  buffer: Binding;
  rowBytes: number;
  access: 'read' | 'write' | 'readwrite';
}

/** One chunk: rows [start, start + count) of the leading dimension, and the operands' windows onto them (in order). */
export interface RowChunk {
  start: number;
  count: number;
  index: number;
  windows: Binding[];
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Rows per chunk for `rows` rows of windows of `rowBytes` bytes each (and temporaries of
 * `scratchRowBytes`, which must fit one binding but are not windows): a multiple of the unit that
 * keeps every window aligned when one unit fits the limit, chunks of equal size otherwise.
 */
function planRows(gpu: Gpu, rows: number, rowBytes: readonly number[], scratchRowBytes: number): number {
  const limit = gpu.bindingLimit;
  const align = gpu.bindingAlignment;
  const widest = Math.max(scratchRowBytes, ...rowBytes);
  if (widest > limit) throw new DeviceLimitError(widest * rows, limit);
  const most = Math.floor(limit / widest);
  // The fewest rows whose bytes are a multiple of the alignment for every window.
  let unit = 1;
  for (const b of rowBytes) {
    const u = align / gcd(b, align);
    unit = (unit * u) / gcd(unit, u);
  }
  const step = most >= unit ? unit : 1;
  const cap = Math.floor(most / step) * step;
  // Chunks of equal size (at most two distinct sizes, so at most two pipelines per op shape).
  const chunks = Math.ceil(rows / cap);
  return Math.ceil(Math.ceil(rows / chunks) / step) * step;
}

/**
 * Runs `launch` over `rows` rows of the operands: once on the buffers themselves when every operand
 * (and `scratchRowBytes` per row of temporaries the launch binds, e.g. a padded copy) fits one
 * binding, else once per chunk, on windows. Returns the number of chunks it ran.
 */
export function forRowChunks(
  gpu: Gpu,
  rows: number,
  operands: readonly RowOperand[],
  launch: (chunk: RowChunk) => void,
  scratchRowBytes = 0,
): number {
  const limit = gpu.bindingLimit;
  if (rows <= 1 || (rows * scratchRowBytes <= limit && operands.every((o) => rows * o.rowBytes <= limit))) {
    launch({ start: 0, count: rows, index: 0, windows: operands.map((o) => o.buffer) });
    return 1;
  }
  const perChunk = planRows(
    gpu,
    rows,
    operands.map((o) => o.rowBytes),
    scratchRowBytes,
  );
  let index = 0;
  for (let start = 0; start < rows; start += perChunk, index++) {
    const count = Math.min(perChunk, rows - start);
    const scratch: { operand: RowOperand; at: number; copy: Binding }[] = [];
    const windows = operands.map((o) => {
      const at = start * o.rowBytes;
      const bytes = count * o.rowBytes;
      if ((o.buffer.offset + at) % gpu.bindingAlignment === 0)
        return new GpuWindow(o.buffer.owner, o.buffer.offset + at, bytes);
      const copy = gpu.acquire(bytes);
      if (o.access !== 'write') gpu.copy(o.buffer, copy, bytes, at, 0);
      scratch.push({ operand: o, at, copy });
      return copy;
    });
    launch({ start, count, index, windows });
    for (const { operand, at, copy } of scratch) {
      if (operand.access !== 'read') gpu.copy(copy, operand.buffer, count * operand.rowBytes, 0, at);
      gpu.release(copy.owner);
    }
  }
  return index;
}

/** forRowChunks over the flat index of n four-byte elements (elementwise ops): every operand is n elements long. */
export function forElementChunks(
  gpu: Gpu,
  n: number,
  operands: readonly Omit<RowOperand, 'rowBytes'>[],
  launch: (chunk: RowChunk) => void,
): number {
  return forRowChunks(
    gpu,
    n,
    operands.map((o) => ({ ...o, rowBytes: 4 })),
    launch,
  );
}

/** How the results of the chunks of a reduction over the leading dimension combine. */
export type Combine = 'sum' | 'max' | 'min';

/** acc[i] = combine(acc[i], part[i]) for n four-byte elements (f32, or i32 for `i32`): one chunk's result into the running total. */
export function accumulate(
  gpu: Gpu,
  combine: Combine,
  acc: Binding,
  part: Binding,
  n: number,
  type: 'f32' | 'i32' = 'f32',
): void {
  if (n === 0) return;
  const pipeline = gpu.program(
    `accumulate_${combine}`,
    type,
    () => `
@group(0) @binding(0) var<storage, read_write> acc: array<${type}>;
@group(0) @binding(1) var<storage, read> part: array<${type}>;
${elementMain('acc', `  acc[i] = ${combine === 'sum' ? 'acc[i] + part[i]' : `${combine}(acc[i], part[i])`};`)}`,
  );
  gpu.dispatch(pipeline, [sized(acc, n), part], elementGrid(n));
}

/**
 * The target of chunk `index` of a reduction whose result is n elements: the output itself for the
 * first chunk, a scratch buffer for the others; `done` adds that scratch into the output.
 */
export function chunkTarget(
  gpu: Gpu,
  out: Binding,
  n: number,
  index: number,
  combine: Combine = 'sum',
  type: 'f32' | 'i32' = 'f32',
): { target: Binding; done: () => void } {
  if (index === 0) return { target: out, done: () => undefined };
  const part = gpu.acquire(n * 4);
  return {
    target: part,
    done: () => {
      accumulate(gpu, combine, out, part, n, type);
      gpu.release(part);
    },
  };
}
