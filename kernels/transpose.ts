// Axis permutation: out[coords] = x[coords permuted back], one invocation per output element.
// The element count comes from arrayLength of the exactly sized output and the outermost output
// coordinate needs no modulo, so a permutation that keeps the batch axis first has the same WGSL at
// every batch size.

import type { DType } from '../engine/backend.js';
import { sizeOf, stridesOf, type Shape } from '../engine/shape.js';
import type { Binding, Gpu, GpuBuffer } from './webgpu/gpu.js';
import { forRowChunks } from './chunks.js';
import { countedMain, grid, sized, wgslType } from './wgsl.js';

/** x with its axes permuted: output axis k is input axis perm[k]. In chunks along axis 0 when it stays first. */
export function transpose(gpu: Gpu, x: Binding, shape: Shape, perm: readonly number[], dtype: DType): GpuBuffer {
  const n = sizeOf(shape);
  const out = gpu.acquire(n * 4);
  if (perm[0] !== 0 || n === 0) {
    transposeInto(gpu, x, shape, perm, dtype, out);
    return out;
  }
  const rowBytes = (n / shape[0]) * 4;
  const operands = [
    { buffer: x, rowBytes, access: 'read' },
    { buffer: out, rowBytes, access: 'write' },
  ] as const;
  forRowChunks(gpu, shape[0], operands, ({ count, windows: [xw, ow] }) =>
    transposeInto(gpu, xw, [count, ...shape.slice(1)], perm, dtype, ow),
  );
  return out;
}

function transposeInto(gpu: Gpu, x: Binding, shape: Shape, perm: readonly number[], dtype: DType, out: Binding): void {
  const n = sizeOf(shape);
  if (n === 0) return;
  const t = wgslType(dtype);
  // The WGSL holds every size but that of axis 0 when it stays first (no stride holds it, and the
  // outermost coordinate has no modulo): a permutation keeping the batch first has one key.
  const sizes = shape.map((size, axis) => (axis === 0 && perm[0] === 0 ? 'N' : String(size)));
  const pipeline = gpu.program('transpose', `${t}|${sizes.join('x')}|${perm.join(',')}`, () => {
    const outShape = perm.map((a) => shape[a]);
    const outStrides = stridesOf(outShape);
    const inStrides = stridesOf(shape);
    // i < n, so the outermost output coordinate is i / its stride, without a modulo.
    const terms = perm.map((a, d) =>
      d === 0
        ? `(i / ${outStrides[d]}u) * ${inStrides[a]}u`
        : `((i / ${outStrides[d]}u) % ${outShape[d]}u) * ${inStrides[a]}u`,
    );
    return `
@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
${countedMain('i', 'arrayLength(&out)')}
  out[i] = x[${terms.join(' + ') || '0u'}];
}`;
  });
  gpu.dispatch(pipeline, [x, sized(out, n)], grid(n).workgroups);
}
