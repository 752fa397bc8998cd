// Fused momentum SGD, in place (PyTorch's rule):
// g = grad + wd·p; buf = momentum·buf + g; p −= lr·(nesterov ? g + momentum·buf : buf).
// Hyper-parameters come in a uniform block, so a learning-rate schedule compiles nothing new. Two
// kernels, both built from the same per-element statements (`updateElement`), so they give the same bits:
// - sgd_update: one tensor per dispatch, its size from arrayLength (one pipeline for every size); it
//   also runs a tensor over the binding limit, in chunks;
// - sgd_update_many: up to `tensorsPerDispatch` tensors per dispatch (an optimiser step updates every
//   parameter tensor: SmallCNN has 14). Where each tensor's elements start comes in the uniform, so
//   one pipeline per tensor count serves every model.

import type { SgdOptions } from '../engine/backend.js';
import type { Binding, Gpu } from './webgpu/gpu.js';
import { forElementChunks } from './chunks.js';
import { countedMain, elementGrid, elementMain, sized } from './wgsl.js';

/** One tensor of `sgdUpdateMany`: its buffers and its element count. */
export interface SgdBuffers {
  param: Binding;
  grad: Binding;
  momentum: Binding;
  size: number;
}

/** Most tensors in one sgd_update_many dispatch, whatever the device allows: 10 keeps the offsets to 3 vec4s of uniform. */
const MAX_TENSORS = 10;
/** Most elements in one sgd_update_many dispatch, so that the global index stays well within a u32. */
const MAX_ELEMENTS = 2 ** 31;

/** Momentum SGD on n elements in place (PyTorch's rule); hyper-parameters in a uniform, so changing lr compiles nothing. */
export function sgdUpdate(gpu: Gpu, param: Binding, grad: Binding, momentum: Binding, n: number, o: SgdOptions): void {
  if (n === 0) return;
  const operands = [
    { buffer: param, access: 'readwrite' },
    { buffer: grad, access: 'read' },
    { buffer: momentum, access: 'readwrite' },
  ] as const;
  forElementChunks(gpu, n, operands, (c) => sgdUpdateRange(gpu, c.windows[0], c.windows[1], c.windows[2], c.count, o));
}

/**
 * Tensors per sgd_update_many dispatch: each binds three storage buffers, so the device's
 * maxStorageBuffersPerShaderStage (capped at 3 × MAX_TENSORS) over 3. lavapipe allows 16 (5 tensors),
 * WebGPU's default is 8 (2 tensors); under 2, every tensor goes through sgd_update.
 */
export function tensorsPerDispatch(gpu: Gpu): number {
  return Math.floor(Math.min(gpu.device.limits.maxStorageBuffersPerShaderStage, 3 * MAX_TENSORS) / 3);
}

/**
 * `sgdUpdate` on each tensor in turn, up to `tensorsPerDispatch` of them per dispatch. A tensor over
 * the binding limit runs alone, in chunks, and a tensor that shares a buffer with one already in the
 * dispatch starts the next (WebGPU refuses a buffer bound writable twice), so the result is that of
 * updating the tensors one after the other.
 */
export function sgdUpdateMany(gpu: Gpu, tensors: readonly SgdBuffers[], o: SgdOptions): void {
  const most = tensorsPerDispatch(gpu);
  let group: SgdBuffers[] = [];
  let elements = 0;
  const flush = () => {
    if (group.length === 1) {
      const t = group[0];
      sgdUpdate(gpu, t.param, t.grad, t.momentum, t.size, o);
    } else if (group.length > 1) sgdUpdateGroup(gpu, group, o);
    group = [];
    elements = 0;
  };
  for (const t of tensors) {
    if (t.size === 0) continue;
    if (t.size * 4 > gpu.bindingLimit) {
      flush();
      sgdUpdate(gpu, t.param, t.grad, t.momentum, t.size, o);
      continue;
    }
    if (group.length >= most || elements + t.size > MAX_ELEMENTS || sharesBuffer(group, t)) flush();
    group.push(t);
    elements += t.size;
  }
  flush();
}

function sharesBuffer(group: readonly SgdBuffers[], t: SgdBuffers): boolean {
  const owners = new Set(group.flatMap((g) => [g.param.owner, g.grad.owner, g.momentum.owner]));
  return [t.param, t.grad, t.momentum].some((b) => owners.has(b.owner));
}

/** The statements that update element `i` of `p`, `grad` and `buf` (read from the uniform `h`): both kernels' arithmetic. */
function updateElement(p: string, grad: string, buf: string, i: string, indent: string): string {
  return [
    `let g = ${grad}[${i}] + h.weightDecay * ${p}[${i}];`,
    `let b = h.momentum * ${buf}[${i}] + g;`,
    `${buf}[${i}] = b;`,
    `${p}[${i}] = ${p}[${i}] - h.lr * select(b, g + h.momentum * b, h.nesterov != 0.0);`,
  ]
    .map((line) => indent + line)
    .join('\n');
}

function sgdUpdateRange(gpu: Gpu, param: Binding, grad: Binding, momentum: Binding, n: number, o: SgdOptions): void {
  const pipeline = gpu.program(
    'sgd_update',
    '',
    () => `
struct Hyper { lr: f32, momentum: f32, weightDecay: f32, nesterov: f32 }
@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf: array<f32>;
@group(0) @binding(3) var<uniform> h: Hyper;
${elementMain('p', updateElement('p', 'grad', 'buf', 'i', '  '))}`,
  );
  gpu.dispatch(pipeline, [sized(param, n), grad, momentum], elementGrid(n), hyperParameters(o, 0));
}

/** The uniform block of both kernels: lr, momentum, weight decay, nesterov (1 or 0), then `ends` u32 slots (sgd_update_many's, in vec4s). */
function hyperParameters(o: SgdOptions, ends: number): Float32Array {
  const data = new Float32Array(4 + ends);
  data.set([o.lr, o.momentum, o.weightDecay, o.nesterov ? 1 : 0]);
  return data;
}

/** One sgd_update_many dispatch over 2 to MAX_TENSORS tensors, each within the binding limit. */
function sgdUpdateGroup(gpu: Gpu, group: readonly SgdBuffers[], o: SgdOptions): void {
  const k = group.length;
  const pipeline = gpu.program('sgd_update_many', `k${k}`, () => sgdUpdateManyShader(k));
  const hyper = hyperParameters(o, 4 * Math.ceil(k / 4));
  // ends[j]: one past the last global element of tensor j (the running sum of the sizes).
  const ends = new Uint32Array(hyper.buffer, 16);
  let end = 0;
  group.forEach((t, j) => {
    end += t.size;
    ends[j] = end;
  });
  const bindings = group.flatMap((t) => [sized(t.param, t.size), sized(t.grad, t.size), sized(t.momentum, t.size)]);
  gpu.dispatch(pipeline, bindings, elementGrid(end), hyper);
}

/**
 * WGSL of sgd_update_many for k tensors: tensor j binds p{j}, grad{j}, buf{j} at 3j, 3j + 1, 3j + 2
 * and the uniform `h` comes last. The tensors' elements are numbered one after the other: invocation
 * i updates element e = i − ends[j − 1] of the first tensor j with i < ends[j] (ends in `h.ends`,
 * four to a vec4, since a uniform array's elements are 16 bytes apart).
 */
export function sgdUpdateManyShader(k: number): string {
  const end = (j: number) => `h.ends[${j >> 2}].${'xyzw'[j & 3]}`;
  const declarations: string[] = [];
  const branches: string[] = [];
  for (let j = 0; j < k; j++) {
    declarations.push(
      `@group(0) @binding(${3 * j}) var<storage, read_write> p${j}: array<f32>;`,
      `@group(0) @binding(${3 * j + 1}) var<storage, read> grad${j}: array<f32>;`,
      `@group(0) @binding(${3 * j + 2}) var<storage, read_write> buf${j}: array<f32>;`,
    );
    const test = j < k - 1 ? `if (i < ${end(j)}) ` : '';
    const start = j === 0 ? 'i' : `i - ${end(j - 1)}`;
    branches.push(`${test}{
    let e = ${start};
${updateElement(`p${j}`, `grad${j}`, `buf${j}`, 'e', '    ')}
  }`);
  }
  return `
struct Hyper { lr: f32, momentum: f32, weightDecay: f32, nesterov: f32, ends: array<vec4u, ${Math.ceil(k / 4)}> }
${declarations.join('\n')}
@group(0) @binding(${3 * k}) var<uniform> h: Hyper;
${countedMain('i', end(k - 1))}
  ${branches.join(' else ')}
}`;
}
