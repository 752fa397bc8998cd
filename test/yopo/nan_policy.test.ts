// No silent NaN, and no tensor past the device's limits: relu, step and clamp propagate NaN on both
// backends (WGSL's max(NaN, 0) may be 0: lavapipe's is), WebGPU's cross-entropy turns an
// out-of-range label into an error as the CPU backend does (NaN for labels computed on the GPU), checkpoints refuse non-finite values,
// tape.gradient refuses a target it never recorded, and a buffer over maxBufferSize is refused with
// the limit and the batch that fits.

import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Tape,
  type Tensor,
  cast,
  clamp,
  mul,
  relu,
  softmaxCrossEntropy,
  step,
  sum,
  tensor,
} from '../../engine/index.js';
import { DeviceLimitError } from '../../kernels/webgpu/gpu.js';
import { Linear, NonFiniteError, decodeModel, encodeSafetensors, saveModel } from '../../nn/index.js';
import { Random } from '../../engine/random.js';
import { explainDeviceLimit } from '../../cli/device_limit.js';
import { cpu, on, put, webgpu } from '../helpers.js';

const NAN = Number.NaN;

async function values(t: Tensor): Promise<number[]> {
  return [...(await t.data())];
}

for (const size of [5, 8]) {
  // 5 takes the scalar kernels, 8 the vec4 ones.
  test(`relu, step and clamp keep NaN on the CPU reference and WebGPU (${size} elements)`, async () => {
    const x = Float32Array.from({ length: size }, (_, i) => [NAN, -2, 0.5, NAN, 3][i % 5]);
    for (const backend of [cpu, await webgpu()]) {
      const t = put(backend, x, [size]);
      const name = backend === cpu ? 'cpu' : 'webgpu';
      const r = await values(on(backend, () => relu(t)));
      const s = await values(on(backend, () => step(t)));
      const c = await values(on(backend, () => clamp(t, 0, 1)));
      for (let i = 0; i < size; i++) {
        if (Number.isNaN(x[i])) {
          assert.ok(Number.isNaN(r[i]), `${name}: relu(NaN) is NaN, got ${r[i]}`);
          assert.ok(Number.isNaN(s[i]), `${name}: step(NaN) is NaN, got ${s[i]}`);
          assert.ok(Number.isNaN(c[i]), `${name}: clamp(NaN) is NaN, got ${c[i]}`);
        } else {
          assert.is(r[i], Math.max(x[i], 0), `${name}: relu(${x[i]})`);
          assert.is(s[i], x[i] > 0 ? 1 : 0, `${name}: step(${x[i]})`);
          assert.is(c[i], Math.min(Math.max(x[i], 0), 1), `${name}: clamp(${x[i]})`);
        }
      }
    }
  });
}

test('softmaxCrossEntropy: an out-of-range label throws one line on the CPU and on WebGPU; a non-integer label is refused when the tensor is made', async () => {
  const logits = Float32Array.from({ length: 3 * 10 }, (_, i) => Math.sin(i));
  const gpu = await webgpu();
  for (const bad of [10, -1]) {
    const labels = new Int32Array([1, bad, 4]);
    for (const backend of [cpu, gpu]) {
      const x = put(backend, logits, [3, 10]);
      const y = put(backend, labels, [3]);
      assert.throws(
        () => on(backend, () => softmaxCrossEntropy(x, y)),
        new RegExp(`^softmaxCrossEntropy: label ${bad} at row 1 is outside \\[0, 10\\)$`),
        `${backend.name}: label ${bad}`,
      );
    }
  }
  for (const backend of [cpu, gpu])
    assert.throws(
      () => on(backend, () => tensor([1, 2.5, 4], [3], 'int32')),
      /^tensor: int32 value 2\.5 at index 1 is not a 32-bit integer$/,
    );
  // Labels computed on the GPU (no host copy to check) still never give a plausible number: the kernel makes the loss NaN.
  const x = put(gpu, logits, [3, 10]);
  const tape = new Tape();
  const loss = tape.record(() =>
    softmaxCrossEntropy(
      x,
      on(gpu, () => cast(tensor([1, 10, 4], [3]), 'int32')),
    ),
  );
  assert.ok(Number.isNaN(await loss.item()), 'label 10 computed on the GPU: the loss is NaN');
  const [g] = tape.gradient(loss, [x]);
  const grad = await values(g);
  assert.ok(grad.slice(10, 20).every(Number.isNaN), "that row's gradient is NaN");
  assert.ok(grad.slice(0, 10).every(Number.isFinite), 'the other rows are not touched');
  // Valid labels still agree with the CPU reference.
  const labels = new Int32Array([1, 9, 0]);
  const want = await on(cpu, () => softmaxCrossEntropy(put(cpu, logits, [3, 10]), put(cpu, labels, [3]))).item();
  const got = await on(gpu, () => softmaxCrossEntropy(put(gpu, logits, [3, 10]), put(gpu, labels, [3]))).item();
  assert.ok(Math.abs(got - want) < 1e-5, `${got} vs ${want}`);
});

test('tape.gradient of a tensor the tape never recorded throws instead of returning zeros', () => {
  on(cpu, () => {
    const w = tensor(new Float32Array([1, 2, 3]), [3]);
    const tape = new Tape();
    tape.record(() => sum(mul(w, w)));
    const elsewhere = sum(mul(w, w)); // computed outside tape.record
    assert.throws(() => tape.gradient(elsewhere, [w]), /was not computed while this tape was recording/);
  });
});

test('a model with a non-finite weight is never saved, and the error names the tensor', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yopo-nan-'));
  on(cpu, () => undefined);
  const layer = new Linear(3, 2, new Random(1));
  const w = layer.stateDict().get('weight')!;
  const data = Float32Array.from(await w.data());
  data[4] = Number.POSITIVE_INFINITY;
  layer.loadStateDict(
    new Map([...(await layer.stateDictData())].map(([k, v]) => [k, k === 'weight' ? { shape: v.shape, data } : v])),
  );
  const path = join(dir, 'model.safetensors');
  try {
    await saveModel(path, layer);
    assert.unreachable('saved');
  } catch (e) {
    assert.instance(e, NonFiniteError);
    assert.match((e as Error).message, /tensor weight holds Infinity \(at flat index 4 of 6\)/);
  }
  assert.not.ok(existsSync(path), 'nothing written');
  rmSync(dir, { recursive: true });
});

test("model bytes (the browser page's checkpoint loader) with a non-finite weight are refused, naming the tensor; the model is unchanged", async () => {
  on(cpu, () => undefined);
  const layer = new Linear(3, 2, new Random(1));
  const before = await layer.stateDictData();
  const tensors = new Map(
    [...before].map(([k, v]) => [k, k === 'bias' ? { shape: v.shape, data: Float32Array.from([0.5, NAN]) } : v]),
  );
  const bytes = encodeSafetensors(tensors, { format: 'pt' });
  try {
    decodeModel(bytes, layer, 'upload.safetensors');
    assert.unreachable('loaded');
  } catch (e) {
    assert.instance(e, NonFiniteError);
    assert.is(
      (e as Error).message,
      'checkpoint upload.safetensors: tensor bias holds NaN (at flat index 1 of 2); non-finite values are never checkpointed',
    );
  }
  const after = await layer.stateDictData();
  for (const [k, v] of before) assert.equal([...after.get(k)!.data], [...v.data], `${k} unchanged`);
});

test("a buffer over the device's maxBufferSize is refused with the limit before reaching Dawn; the CLI says which batch fits", async () => {
  const gpu = await webgpu();
  const max = gpu.device.limits.maxBufferSize;
  try {
    gpu.gpu.acquire(max + 4);
    assert.unreachable('accepted');
  } catch (e) {
    assert.instance(e, DeviceLimitError);
    assert.match(
      (e as Error).message,
      new RegExp(`over this WebGPU device's maxBufferSize of [0-9.]+ MiB \\(${max} bytes\\)$`),
    );
  }
  // (Tensors over maxStorageBufferBindingSize run in chunks: big_tensors.test.ts.)
  const explained = explainDeviceLimit(new DeviceLimitError(256 * 160 * 32 * 32 * 4, 134217728), 256) as Error;
  assert.match(explained.message, /use --batch-size 204 or less \(batch 256 does not fit\)$/);
});

test.run();
