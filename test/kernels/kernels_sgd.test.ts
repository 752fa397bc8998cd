// Momentum SGD over many tensors per dispatch (kernels/sgd.ts, sgd_update_many): on random tensors of
// odd sizes, more of them than one dispatch takes, WebGPU matches the CPU reference (to 1e-6: the CPU
// computes each element in float64 and rounds at the store, the GPU rounds every operation to f32)
// and gives exactly the bits of one sgd_update per tensor, so a run and its resume from a checkpoint
// are as before. SGD.step over 14 tensors takes ceil(14 / K) dispatches; tensors over a lowered binding
// limit still run in chunks; a tensor listed twice is updated twice.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Backend, Random, type SgdOptions, type Tensor, setBackend, tensor } from '../../engine/index.js';
import { sgdUpdateManyShader, tensorsPerDispatch } from '../../kernels/sgd.js';
import { SGD } from '../../nn/index.js';
import { assertClose, cpu, put, randomArray, webgpu } from '../helpers.js';

/** 12 tensors (more than the 5 a dispatch takes on lavapipe, 2 by WebGPU's default limits), odd sizes first. */
const SIZES = [1, 7, 33, 1000, 4099, 2, 64, 3, 517, 12, 1, 255];
const STEPS = 3;

const OPTIONS: SgdOptions[] = [
  { lr: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: false },
  { lr: 0.05, momentum: 0.9, weightDecay: 0.01, nesterov: true },
  { lr: 0.3, momentum: 0.5, weightDecay: 0, nesterov: false },
];

const describe = (o: SgdOptions) => `lr ${o.lr}, momentum ${o.momentum}, wd ${o.weightDecay}, nesterov ${o.nesterov}`;

/** Starting parameters and momentum buffers (non-zero, so the first step uses them), and a gradient per step. */
interface Problem {
  params: Float32Array[];
  momenta: Float32Array[];
  grads: Float32Array[][];
}

function problem(sizes: readonly number[], seed: number): Problem {
  const rng = new Random(seed);
  const draw = (n: number) => Float32Array.from(randomArray(rng, n, -2, 2));
  return {
    params: sizes.map(draw),
    momenta: sizes.map(draw),
    grads: Array.from({ length: STEPS }, () => sizes.map(draw)),
  };
}

/**
 * The parameters and momentum buffers after STEPS updates on `backend`: all tensors in one
 * sgdUpdateMany per step ('many'), or one sgdUpdate per tensor ('one'). `order` lists the tensors
 * each step updates (by index; a tensor may appear twice).
 */
async function train(
  backend: Backend,
  p: Problem,
  o: SgdOptions,
  how: 'many' | 'one',
  order: readonly number[] = p.params.map((_, i) => i),
): Promise<{ params: Float32Array[]; momenta: Float32Array[] }> {
  const params = p.params.map((v) => put(backend, v, [v.length]));
  const momenta = p.momenta.map((v) => put(backend, v, [v.length]));
  for (const stepGrads of p.grads) {
    const grads = stepGrads.map((v) => put(backend, v, [v.length]));
    const items = order.map((i) => ({
      param: params[i].storage,
      grad: grads[i].storage,
      momentum: momenta[i].storage,
      size: params[i].size,
    }));
    if (how === 'many') backend.sgdUpdateMany(items, o);
    else for (const it of items) backend.sgdUpdate(it.param, it.grad, it.momentum, it.size, o);
    for (const g of grads) g.dispose();
  }
  const read = async (ts: Tensor[]) => Promise.all(ts.map(async (t) => Float32Array.from(await t.data())));
  const out = { params: await read(params), momenta: await read(momenta) };
  for (const t of [...params, ...momenta]) t.dispose();
  return out;
}

function assertSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  const a = new Uint32Array(actual.buffer);
  const e = new Uint32Array(expected.buffer);
  const at = a.findIndex((bits, i) => bits !== e[i]);
  if (a.length !== e.length || at >= 0)
    assert.unreachable(`${what}: element ${at} is ${actual[at]}, expected exactly ${expected[at]}`);
}

test('K: three storage buffers per tensor, within the device limit capped at 30', async () => {
  const gpu = await webgpu();
  const limit = gpu.gpu.device.limits.maxStorageBuffersPerShaderStage;
  assert.is(tensorsPerDispatch(gpu.gpu), Math.floor(Math.min(limit, 30) / 3));
  const stand = (n: number) =>
    tensorsPerDispatch({ device: { limits: { maxStorageBuffersPerShaderStage: n } } } as never);
  assert.equal([stand(4), stand(8), stand(16), stand(31), stand(1000)], [1, 2, 5, 10, 10]);
});

for (const o of OPTIONS) {
  test(`sgd_update_many matches the CPU reference and one sgd_update per tensor bit for bit (${describe(o)})`, async () => {
    const gpu = await webgpu();
    const p = problem(SIZES, 17);
    const expected = await train(cpu, p, o, 'many');
    const many = await train(gpu, p, o, 'many');
    const one = await train(gpu, p, o, 'one');
    SIZES.forEach((n, i) => {
      assertClose(many.params[i], expected.params[i], `parameter ${i} (${n} elements)`, 1e-6, 1e-6);
      assertClose(many.momenta[i], expected.momenta[i], `momentum ${i} (${n} elements)`, 1e-6, 1e-6);
      assertSameBits(many.params[i], one.params[i], `parameter ${i} (${n} elements), many against one`);
      assertSameBits(many.momenta[i], one.momenta[i], `momentum ${i} (${n} elements), many against one`);
    });
  });
}

test('SGD.step over 14 tensors takes ceil(14 / K) dispatches', async () => {
  const gpu = await webgpu();
  setBackend(gpu);
  const k = tensorsPerDispatch(gpu.gpu);
  const sizes = [288, 32, 9216, 32, 18432, 64, 36864, 64, 819200, 200, 40000, 200, 2000, 10];
  const p = problem(sizes, 3);
  const params = p.params.map((v) => tensor(v));
  const grads = p.grads[0].map((v) => tensor(v));
  const opt = new SGD(params, { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
  await gpu.sync();
  const before = gpu.gpu.counters.dispatches;
  opt.step(grads);
  const dispatches = gpu.gpu.counters.dispatches - before;
  await gpu.sync();
  assert.is(dispatches, Math.ceil(14 / k), `K = ${k}: ${dispatches} dispatches for 14 tensors`);
  for (const t of [...params, ...grads]) t.dispose();
  opt.dispose();
});

test('tensors over a lowered binding limit (4 KiB) run in chunks between the batched ones and agree', async () => {
  const gpu = await webgpu();
  // 3001, 1025 and 4099 elements are over 1024: each runs alone in chunks, the others in groups between them.
  const sizes = [7, 3001, 33, 1024, 1000, 1025, 1, 4099, 5, 6];
  const o = OPTIONS[1];
  const p = problem(sizes, 23);
  const expected = await train(cpu, p, o, 'many');
  const whole = await train(gpu, p, o, 'many');
  gpu.gpu.setBindingLimitForTesting(4096);
  let chunked: Awaited<ReturnType<typeof train>>;
  try {
    chunked = await train(gpu, p, o, 'many');
  } finally {
    gpu.gpu.setBindingLimitForTesting(null);
  }
  sizes.forEach((n, i) => {
    assertClose(chunked.params[i], expected.params[i], `parameter ${i} (${n} elements)`, 1e-6, 1e-6);
    assertClose(chunked.momenta[i], expected.momenta[i], `momentum ${i} (${n} elements)`, 1e-6, 1e-6);
    assertSameBits(chunked.params[i], whole.params[i], `parameter ${i} (${n} elements), chunked against whole`);
  });
});

test('a tensor listed twice is updated twice, one update after the other', async () => {
  const gpu = await webgpu();
  const o = OPTIONS[0];
  const p = problem([33, 7, 100], 29);
  const order = [0, 1, 0, 2, 1];
  const expected = await train(cpu, p, o, 'many', order);
  const actual = await train(gpu, p, o, 'many', order);
  await gpu.sync();
  actual.params.forEach((v, i) => {
    assertClose(v, expected.params[i], `parameter ${i}`, 1e-6, 1e-6);
    assertClose(actual.momenta[i], expected.momenta[i], `momentum ${i}`, 1e-6, 1e-6);
  });
});

test('sgd_update_many WGSL compiles for 2 to 10 tensors (more than this device may bind)', async () => {
  const gpu = await webgpu();
  for (let k = 2; k <= 10; k++) {
    const module = gpu.gpu.device.createShaderModule({ code: sgdUpdateManyShader(k) });
    const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
    assert.equal(
      errors.map((m) => m.message),
      [],
      `k = ${k}`,
    );
  }
});

test('SGD.step checks every gradient before it updates any parameter', async () => {
  setBackend(cpu);
  const a = tensor([1, 2]);
  const b = tensor([3, 4, 5]);
  const opt = new SGD([a, b], { lr: 0.1 });
  assert.throws(
    () => opt.step([tensor([1, 1]), tensor([1, 1])]),
    /SGD\.step: gradient 1 has shape \[2\], parameter has \[3\]/,
  );
  assert.equal(Array.from(await a.data()), [1, 2]);
  opt.step([tensor([1, 1]), tensor([1, 1, 1])]);
  assert.ok((await a.data())[0] < 1 && (await b.data())[2] < 5, 'both parameters moved');
});

test.run();
