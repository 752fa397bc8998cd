// Tensors over the WebGPU binding limit (maxStorageBufferBindingSize) run in chunks (kernels/chunks.ts).
// Under a small test limit (4 KiB) every chunked op matches the CPU reference on odd shapes, rows
// whose bytes are not multiples of the 256-byte window alignment included (those chunks go through
// scratch copies); an op that cannot be chunked is refused with one line; one SmallCNN training step
// under a 1 MiB limit equals the same step without it. Last, at the device's real limit (128 MiB on
// lavapipe), ops on a tensor over it match the CPU on a sample.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Backend,
  Random,
  Tape,
  Tensor,
  affine,
  argmax,
  batchNormTrain,
  cast,
  clamp,
  conv2dShape,
  full,
  logSoftmax,
  matmul,
  max,
  min,
  mul,
  pool2dShape,
  relu,
  setBackend,
  softmaxCrossEntropy,
  sum,
  tensor,
  tidy,
  transpose,
  where,
  add,
  gt,
} from '../../engine/index.js';
import { UNARY_OPS, type Conv2dShape } from '../../engine/backend.js';
import type { OpCheck } from '../../engine/reference/index.js';
import { DeviceLimitError } from '../../kernels/webgpu/gpu.js';
import { SGD, SmallCNN } from '../../nn/index.js';
import type { WebGPUBackend } from '../../kernels/index.js';
import { assertClose, assertOp, cpu, maxAbs, on, put, webgpu } from '../helpers.js';

const LIMIT = 4096;
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The WebGPU backend with the binding limit lowered to `bytes` (null: the device's own). */
async function limited(bytes: number | null): Promise<WebGPUBackend> {
  const gpu = await webgpu();
  gpu.gpu.setBindingLimitForTesting(bytes);
  return gpu;
}

/** Checks an op on WebGPU under the test limit against the CPU, after checking that some input or output is over the limit. */
async function check(c: OpCheck, seed = 3): Promise<void> {
  const gpu = await limited(LIMIT);
  const r = await assertOp(gpu, c, { seed, reference: cpu });
  const biggest = Math.max(...c.inputs.map((i) => size(i.shape ?? [])), ...r.expected.map((e) => e.length)) * 4;
  assert.ok(biggest > LIMIT, `${c.name}: a tensor of ${biggest} bytes is over the ${LIMIT}-byte test limit`);
}

function convCase(x: number[], w: number[], stride: number, padding: number, bias: boolean): OpCheck {
  const s: Conv2dShape = conv2dShape(x, w, stride, padding);
  const yShape = [s.batch, s.outChannels, s.outHeight, s.outWidth];
  return {
    name: `conv2d x [${x}] w [${w}] s${stride} p${padding} (forward, backward-input, backward-filter)`,
    inputs: [{ shape: x }, { shape: w }, { shape: yShape }, ...(bias ? [{ shape: [w[0]] }] : [])],
    run: ([xt, wt, dy, b], be) => [
      Tensor.fromStorage(be, be.conv2d(xt.storage, wt.storage, b ? b.storage : null, s), yShape, 'float32'),
      Tensor.fromStorage(be, be.conv2dBackwardInput(dy.storage, wt.storage, s), x, 'float32'),
      Tensor.fromStorage(be, be.conv2dBackwardFilter(xt.storage, dy.storage, s).weight, w, 'float32'),
    ],
    rtol: 1e-4,
    atol: 1e-4,
  };
}

test('conv2d forward and both VJPs in chunks of images: odd rows (scratch copies), aligned rows (windows), 1x1 stride 2 (zeroed phases)', async () => {
  await check(convCase([7, 3, 9, 9], [5, 3, 3, 3], 1, 1, true)); // rows of 972 and 1620 bytes
  await check(convCase([5, 4, 8, 8], [4, 4, 3, 3], 2, 1, false)); // rows of 1024 and 256 bytes
  await check(convCase([5, 4, 8, 8], [6, 4, 1, 1], 2, 0, false));
});

test('max and average pooling, forward and backward, in chunks of images', async () => {
  for (const [shape, kernel, stride] of [
    [[7, 3, 9, 9], 2, 2],
    [[5, 2, 11, 11], 3, 2],
  ] as const) {
    const s = pool2dShape([...shape], kernel, stride, 'test');
    const yShape = [s.batch, s.channels, s.outHeight, s.outWidth];
    await check({
      name: `pool [${shape}] k${kernel} s${stride}`,
      inputs: [{ shape }, { shape: yShape }],
      run: ([x, dy], b) => [
        Tensor.fromStorage(b, b.maxPool2d(x.storage, s), yShape, 'float32'),
        Tensor.fromStorage(b, b.maxPool2dBackward(dy.storage, x.storage, s), shape, 'float32'),
        Tensor.fromStorage(b, b.avgPool2d(x.storage, s), yShape, 'float32'),
        Tensor.fromStorage(b, b.avgPool2dBackward(dy.storage, s), shape, 'float32'),
      ],
      rtol: 1e-5,
      atol: 1e-6,
    });
  }
});

test('batch norm (statistics merged over chunks of images, the normalisation) and its VJP', async () => {
  for (const shape of [
    [9, 3, 7, 7],
    [9, 2, 8, 8],
  ]) {
    await check({
      name: `batchNormTrain [${shape}]`,
      inputs: [{ shape, lo: 2, hi: 5 }, { shape: [shape[1]] }, { shape: [shape[1]] }, { shape }],
      run: ([x, gamma, beta, dy]) => {
        const tape = new Tape();
        const { y, mean, variance } = tape.record(() => batchNormTrain(x, gamma, beta));
        const loss = tape.record(() => sum(mul(y, dy)));
        return [y, mean, variance, ...tape.gradient(loss, [x, gamma, beta])];
      },
      rtol: 1e-4,
      atol: 1e-4,
    });
  }
});

test('matmul in chunks: of the batch, of the rows of A, and of the shared rows k of Aᵀ·B (summed)', async () => {
  await check({
    name: 'matmul batched [5,30,11]·[5,11,9]',
    inputs: [{ shape: [5, 30, 11] }, { shape: [5, 11, 9] }],
    run: ([a, b]) => matmul(a, b),
  });
  await check({
    name: 'matmul [301,7]·[5,7]ᵀ',
    inputs: [{ shape: [301, 7] }, { shape: [5, 7] }],
    run: ([a, b]) => matmul(a, b, { transB: true }),
  });
  await check({
    name: 'matmul [301,7]ᵀ·[301,5]',
    inputs: [{ shape: [301, 7] }, { shape: [301, 5] }],
    run: ([a, b]) => matmul(a, b, { transA: true }),
    atol: 1e-4,
  });
});

test('elementwise ops (unary, affine, clamp, binary with and without broadcasting, where, fill, cast) in chunks', async () => {
  const n = 2001; // scalar kernels; 2000 takes the vec4 ones
  for (const len of [n, 2000]) {
    await check({
      name: `unary ops on [${len}]`,
      inputs: [{ shape: [len], lo: 0.1, hi: 2 }],
      run: ([x], b) => [
        ...UNARY_OPS.map((op) => Tensor.fromStorage(b, b.unary(op, x.storage, len), [len], 'float32')),
        affine(x, 2, -1),
        clamp(x, 0.5, 1.5),
      ],
    });
    await check({
      name: `binary and where on [${len}]`,
      inputs: [{ shape: [len] }, { shape: [len] }, { shape: [] }],
      run: ([a, b, c]) => [
        add(a, b),
        mul(a, c),
        gt(a, b),
        where(gt(a, b), a, b),
        add(a, full([len], 0.25)),
        cast(affine(a, 100, 0), 'int32'),
      ],
    });
  }
  await check({
    name: 'binary broadcast along rows [7,3,9,9] + [1,3,1,1], · [7,1,1,1]',
    inputs: [{ shape: [7, 3, 9, 9] }, { shape: [1, 3, 1, 1] }, { shape: [7, 1, 1, 1] }],
    run: ([x, b, s]) => [add(x, b), mul(x, s)],
  });
});

test('softmax cross-entropy (sums over chunks of rows), its gradient and log-softmax', async () => {
  await check({
    name: 'softmaxCrossEntropy [301,10]',
    inputs: [
      { shape: [301, 10], lo: -3, hi: 3 },
      { shape: [301], dtype: 'int32', lo: 0, hi: 10 },
    ],
    run: ([logits, labels]) => {
      const tape = new Tape();
      const loss = tape.record(() => softmaxCrossEntropy(logits, labels));
      return [loss, ...tape.gradient(loss, [logits]), logSoftmax(logits)];
    },
  });
});

test('reductions over the chunked axis (combined) and over others (rows of the result), argmax, transpose keeping axis 0', async () => {
  await check({
    name: 'reductions of [9,5,31]',
    inputs: [{ shape: [9, 5, 31] }],
    run: ([x]) => [
      sum(x),
      sum(x, 0),
      sum(x, [0, 2]),
      sum(x, [1, 2]),
      max(x, 0),
      min(x, [0, 1]),
      max(x, 2),
      cast(argmax(x, 2), 'float32'),
      transpose(x, [0, 2, 1]),
    ],
    atol: 1e-4,
  });
});

test('SGD updates a parameter over the limit in chunks', async () => {
  const n = 3001;
  const results: Float32Array[][] = [];
  for (const backend of [cpu, await limited(LIMIT)] as Backend[]) {
    setBackend(backend);
    const rng = new Random(5);
    const p = tensor(Float32Array.from({ length: n }, () => rng.next() - 0.5));
    const g = tensor(Float32Array.from({ length: n }, () => rng.next() - 0.5));
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true });
    opt.step([g]);
    opt.step([g]);
    results.push([(await p.data()) as Float32Array]);
  }
  assertClose(results[1][0], results[0][0], 'parameters after two steps', 1e-5, 1e-6);
});

test('an op that cannot be chunked is refused with one line naming the limit', async () => {
  const gpu = await limited(LIMIT);
  const x = put(gpu, new Float32Array(3 * 700), [3, 700]);
  assert.throws(
    () => on(gpu, () => transpose(x, [1, 0])),
    (e: Error) =>
      e instanceof DeviceLimitError &&
      /^a tensor of [0-9.]+ MiB \(\d+ bytes\) is over this WebGPU device's maxStorageBufferBindingSize of 0\.0 MiB \(4096 bytes\)$/.test(
        e.message,
      ),
  );
  x.dispose();
});

test('one SmallCNN training step with its first activations over a 1 MiB limit equals the same step without it', async () => {
  const batch = 16; // conv1's output: 16 × 86,528 bytes
  const rng = new Random(9);
  const x = Float32Array.from({ length: batch * 784 }, () => rng.next());
  const y = Int32Array.from({ length: batch }, () => rng.int(10));
  const step = async (limit: number | null) => {
    const gpu = await limited(limit);
    setBackend(gpu);
    const net = new SmallCNN(new Random(42), { dropout: 0 });
    const opt = new SGD(net.parameters(), { lr: 0.05 });
    const loss = tidy(() => {
      const tape = new Tape();
      const l = tape.record(() => softmaxCrossEntropy(net.forward(tensor(x, [batch, 1, 28, 28])), tensor(y)));
      opt.step(tape.gradient(l, net.parameters()));
      return l;
    });
    const out = { loss: await loss.item(), params: await Promise.all(net.parameters().map((p) => p.data())) };
    loss.dispose();
    net.dispose();
    opt.dispose();
    return out;
  };
  const chunked = await step(2 ** 20);
  const whole = await step(null);
  assert.ok(
    Math.abs(chunked.loss - whole.loss) <= 1e-5 * Math.abs(whole.loss),
    `loss ${chunked.loss} vs ${whole.loss}`,
  );
  chunked.params.forEach((p, i) =>
    assertClose(p, whole.params[i], `parameter ${i} after the step`, 1e-4, 1e-6 * Math.max(1, maxAbs(whole.params[i]))),
  );
});

test("at the device's own limit: ReLU and a row sum of a tensor over maxStorageBufferBindingSize match the CPU on a sample", async () => {
  const gpu = await limited(null);
  const limit = gpu.gpu.bindingLimit;
  const cols = 1000;
  const rows = Math.ceil((limit / 4 + 1) / cols) + 1; // just over the limit
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37);
  setBackend(gpu);
  const x = tensor(data, [rows, cols]);
  assert.ok(x.size * 4 > limit, `${x.size * 4} bytes is over the ${limit}-byte limit`);
  const r = relu(x);
  const rowSums = sum(r, 1);
  const [got, sums] = await Promise.all([r.data(), rowSums.data()]);
  const sample = [0, 1, cols * 777 + 5, Math.floor(x.size / 2), x.size - 2, x.size - 1];
  for (const i of sample) assert.is(got[i], Math.max(data[i], 0), `relu at ${i}`);
  for (const row of [0, Math.floor(rows / 2), rows - 1]) {
    let total = 0;
    for (let j = 0; j < cols; j++) total += Math.max(data[row * cols + j], 0);
    assert.ok(
      Math.abs(sums[row] - total) <= 1e-4 * Math.max(1, Math.abs(total)),
      `row ${row}: ${sums[row]} vs ${total}`,
    );
  }
  for (const t of [x, r, rowSums]) t.dispose();
});

test.run();
