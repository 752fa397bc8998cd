// The gradients through a conv's fused ReLU: the kernels apply the ReLU's mask as they read dy instead
// of writing the masked dy first. The input gradient masks in its padded copy (or one passIfPositive
// where no padding is needed); the weight gradient masks each dy it loads and sums the bias gradient in
// the same pass. Checked against the CPU reference on odd sizes, on every path (padded, unpadded,
// strided, chunked, one batch chunk and several), for NaN, and by finite differences.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Backend,
  type Conv2dShape,
  Random,
  Tape,
  Tensor,
  conv2d,
  conv2dShape,
  mul,
  sum,
  tensor,
} from '../../engine/index.js';
import { assertClose, cpu, gradCheck, on, put, randomArray, webgpu } from '../helpers.js';

interface Case {
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number;
  padding: number;
  what: string;
}

const CASES: Case[] = [
  { x: [3, 5, 9, 11], w: [8, 5, 3, 3], stride: 1, padding: 0, what: 'padded copy (3x3, no padding)' },
  { x: [2, 3, 7, 9], w: [4, 3, 3, 3], stride: 2, padding: 1, what: 'phases (3x3, stride 2, padding 1)' },
  { x: [2, 6, 5, 7], w: [7, 6, 1, 1], stride: 1, padding: 0, what: 'no padded copy (1x1)' },
  { x: [1, 4, 6, 5], w: [4, 4, 3, 3], stride: 1, padding: 2, what: 'no padded copy (3x3, padding 2)' },
];

/** d/dx of sum(r · relu(conv(x, w))) on one backend, with only x wanted (the weights get no gradient). */
async function inputGradient(
  be: Backend,
  c: Case,
  xs: Float64Array,
  ws: Float64Array,
  rs: Float64Array,
): Promise<{ dx: Float32Array }> {
  const x = put(be, xs, c.x);
  const w = put(be, ws, c.w);
  const s = conv2dShape(c.x, c.w, c.stride, c.padding);
  const r = put(be, rs, [s.batch, s.outChannels, s.outHeight, s.outWidth]);
  const tape = new Tape();
  const loss = tape.record(() => sum(mul(conv2d(x, w, null, { stride: c.stride, padding: c.padding, relu: true }), r)));
  const [dx] = tape.gradient(loss, [x]);
  const out = Float32Array.from(await dx!.data());
  for (const t of [x, w, r, loss, dx!]) t.dispose();
  return { dx: out };
}

/** d/dx, d/dw and d/db of sum(r · relu(conv(x, w, b))) on one backend (a training pass). */
async function allGradients(
  be: Backend,
  c: Case,
  xs: Float64Array,
  ws: Float64Array,
  bs: Float64Array,
  rs: Float64Array,
): Promise<{ dx: Float32Array; dw: Float32Array; db: Float32Array }> {
  const x = put(be, xs, c.x);
  const w = put(be, ws, c.w);
  const b = put(be, bs, [c.w[0]]);
  const s = conv2dShape(c.x, c.w, c.stride, c.padding);
  const r = put(be, rs, [s.batch, s.outChannels, s.outHeight, s.outWidth]);
  const tape = new Tape();
  const loss = tape.record(() => sum(mul(conv2d(x, w, b, { stride: c.stride, padding: c.padding, relu: true }), r)));
  const grads = tape.gradient(loss, [x, w, b]);
  const [dx, dw, db] = await Promise.all(grads.map(async (g) => Float32Array.from(await g!.data())));
  for (const t of [x, w, b, r, loss, ...grads]) t!.dispose();
  return { dx: dx!, dw: dw!, db: db! };
}

/** Random x, w and output weights r for a case. */
function randomInputs(c: Case, seed: number): { xs: Float64Array; ws: Float64Array; rs: Float64Array } {
  const rng = new Random(seed);
  const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const s = conv2dShape(c.x, c.w, c.stride, c.padding);
  const xs = randomArray(rng, size(c.x));
  const ws = randomArray(rng, size(c.w));
  return { xs, ws, rs: randomArray(rng, s.batch * s.outChannels * s.outHeight * s.outWidth) };
}

for (const c of CASES) {
  test(`masked input gradient, ${c.what}: WebGPU against the CPU reference`, async () => {
    const gpu = await webgpu();
    const { xs, ws, rs } = randomInputs(
      c,
      c.x.reduce((a, b) => a * 7 + b, 5),
    );
    const want = await inputGradient(cpu, c, xs, ws, rs);
    const got = await inputGradient(gpu, c, xs, ws, rs);
    assert.ok(
      want.dx.some((v) => v !== 0),
      'the gradient is not all zero',
    );
    assertClose(got.dx, want.dx, c.what);
  });
}

for (const [i, c] of CASES.entries()) {
  test(`input, weight and bias gradients, ${c.what}: WebGPU against the CPU reference`, async () => {
    const gpu = await webgpu();
    const { xs, ws, rs } = randomInputs(c, 20 + i);
    const bs = randomArray(new Random(40 + i), c.w[0]);
    const want = await allGradients(cpu, c, xs, ws, bs, rs);
    const got = await allGradients(gpu, c, xs, ws, bs, rs);
    assert.ok(
      want.db.some((v) => v !== 0),
      'the bias gradient is not all zeros',
    );
    assertClose(got.dx, want.dx, `dx, ${c.what}`);
    assertClose(got.dw, want.dw, `dw, ${c.what}`);
    assertClose(got.db, want.db, `db, ${c.what}`);
  });
}

test('masked weight and bias gradients in chunks (a lowered binding limit) agree with the whole', async () => {
  const gpu = await webgpu();
  const c = CASES[0]!;
  const { xs, ws, rs } = randomInputs(c, 5);
  const bs = randomArray(new Random(6), c.w[0]);
  const whole = await allGradients(gpu, c, xs, ws, bs, rs);
  // Per image x is 5·9·11 floats (1980 bytes), dy 8·7·9 (2016) and the input gradient's padded dy 8·11·13
  // (4576): a 4608-byte limit runs the weight gradient on 2 + 1 images and the input gradient image by image.
  gpu.gpu.setBindingLimitForTesting(4608);
  try {
    const chunked = await allGradients(gpu, c, xs, ws, bs, rs);
    assertClose(chunked.dw, whole.dw, 'dw in chunks');
    assertClose(chunked.db, whole.db, 'db in chunks');
    assertClose(chunked.dx, whole.dx, 'dx in chunks');
  } finally {
    gpu.gpu.setBindingLimitForTesting(null);
  }
});

test('masked input gradient in chunks (a lowered binding limit) agrees with the whole', async () => {
  const gpu = await webgpu();
  const c = CASES[0]!;
  const { xs, ws, rs } = randomInputs(c, 3);
  const whole = await inputGradient(gpu, c, xs, ws, rs);
  // One image's padded dy is 8·11·13 floats (4576 bytes): an 8 KiB limit puts each image in a chunk of its own.
  gpu.gpu.setBindingLimitForTesting(8192);
  try {
    const chunked = await inputGradient(gpu, c, xs, ws, rs);
    assert.equal(chunked.dx, whole.dx);
  } finally {
    gpu.gpu.setBindingLimitForTesting(null);
  }
});

test('the mask passes NaN and zeroes dy where the ReLU was off, as passIfPositive does', async () => {
  const gpu = await webgpu();
  const c = CASES[0]!;
  const s = conv2dShape(c.x, c.w, c.stride, c.padding);
  const n = s.batch * s.outChannels * s.outHeight * s.outWidth;
  const dyValues = Float32Array.from({ length: n }, (_, i) => (i % 5) - 2);
  dyValues[1] = NaN;
  const maskValues = Float32Array.from({ length: n }, (_, i) => [1, 0, -1, Number.NaN][i % 4]!);
  maskValues[1] = 1;
  const wValues = Float32Array.from({ length: c.w.reduce((a, b) => a * b, 1) }, (_, i) => ((i % 3) - 1) / 4);
  const yShape = [s.batch, s.outChannels, s.outHeight, s.outWidth];
  const run = async (be: Backend) => {
    const [dy, w, m] = on(be, () => [tensor(dyValues, yShape), tensor(wValues, c.w), tensor(maskValues, yShape)]);
    const dx = await dyToDx(be, dy!, w!, m!, s);
    for (const t of [dy!, w!, m!]) t.dispose();
    return dx;
  };
  const want = await run(cpu);
  const got = await run(gpu);
  assert.ok(
    want.some((v) => Number.isNaN(v)),
    'the NaN in dy reaches dx',
  );
  assertClose(got, want, 'dx with a mask of 1, 0, -1 and NaN');
});

test("the weight gradient's mask passes NaN and zeroes dy where the ReLU was off, as passIfPositive does", async () => {
  const gpu = await webgpu();
  const c = CASES[0]!;
  const s = conv2dShape(c.x, c.w, c.stride, c.padding);
  const n = s.batch * s.outChannels * s.outHeight * s.outWidth;
  const yShape = [s.batch, s.outChannels, s.outHeight, s.outWidth];
  const dyValues = Float32Array.from({ length: n }, (_, i) => (i % 5) - 2);
  dyValues[1] = NaN;
  dyValues[2] = NaN; // where the mask is -1: zeroed
  const maskValues = Float32Array.from({ length: n }, (_, i) => [1, 0, -1, Number.NaN][i % 4]!);
  maskValues[1] = 1;
  const xValues = Float32Array.from({ length: c.x.reduce((a, b) => a * b, 1) }, (_, i) => ((i % 7) - 3) / 4);
  const run = async (be: Backend) => {
    const [dy, x, m] = on(be, () => [tensor(dyValues, yShape), tensor(xValues, c.x), tensor(maskValues, yShape)]);
    const grads = be.conv2dBackwardFilter(x!.storage, dy!.storage, s, { bias: true, reluMask: m!.storage });
    const dw = Tensor.fromStorage(be, grads.weight, c.w, 'float32');
    const db = Tensor.fromStorage(be, grads.bias!, [s.outChannels], 'float32');
    const values = { dw: Float32Array.from(await dw.data()), db: Float32Array.from(await db.data()) };
    for (const t of [dy!, x!, m!, dw, db]) t.dispose();
    return values;
  };
  const want = await run(cpu);
  const got = await run(gpu);
  assert.ok(
    Number.isNaN(want.db[0]) && want.db.slice(1).every((v) => !Number.isNaN(v)),
    'the NaN reaches channel 0 only',
  );
  assertClose(got.dw, want.dw, 'dw with a mask of 1, 0, -1 and NaN');
  assertClose(got.db, want.db, 'db with a mask of 1, 0, -1 and NaN');
});

/** The backend's input gradient of dy masked by m, straight from the backend op. */
async function dyToDx(be: Backend, dy: Tensor, w: Tensor, m: Tensor, s: Conv2dShape): Promise<Float32Array> {
  const storage = be.conv2dBackwardInput(dy.storage, w.storage, s, m.storage);
  const dx = Tensor.fromStorage(be, storage, [s.batch, s.inChannels, s.inHeight, s.inWidth], 'float32');
  const values = Float32Array.from(await dx.data());
  dx.dispose();
  return values;
}

test('gradCheck: conv2d with a fused ReLU w.r.t. the input alone (the masked path), 3x3, stride 2, pad 1', async () => {
  const rng = new Random(53);
  const xShape = [2, 3, 5, 5];
  const wShape = [4, 3, 3, 3];
  const s = conv2dShape(xShape, wShape, 2, 1);
  const yShape = [s.batch, s.outChannels, s.outHeight, s.outWidth];
  const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  await gradCheck(
    (x, w, b, r) => sum(mul(conv2d(x, w, b, { stride: 2, padding: 1, relu: true }), r)),
    [
      { values: randomArray(rng, size(xShape)), shape: xShape },
      { values: randomArray(rng, size(wShape)), shape: wShape, differentiable: false },
      { values: randomArray(rng, 4), shape: [4], differentiable: false },
      { values: randomArray(rng, size(yShape)), shape: yShape, differentiable: false },
    ],
    'conv2d + ReLU, input only',
  );
});

test.run();
