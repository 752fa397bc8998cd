// Buffers derived from others and kept while their source is unchanged (Gpu.derived): the conv kernels'
// rearranged weights. A kept buffer must never outlive its source's contents: it is made again after any
// write to the source (a kernel that writes it, an upload, a copy), and released with the source.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random, conv2d, noGrad, setBackend, tensor } from '../../engine/index.js';
import { writableBindings } from '../../kernels/webgpu/gpu.js';
import { SGD } from '../../nn/index.js';
import { assertClose, cpu, on, put, randomArray, webgpu } from '../helpers.js';

test('writableBindings reads which bindings a program may write', () => {
  const code = `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage,read_write> out: array<f32>;
@group(0) @binding(2) var < storage , read_write > acc: array<f32>;
@group(0) @binding(3) var<uniform> u: U;`;
  assert.equal(writableBindings(code), [1, 2]);
});

test('a derived buffer is made once per version of its source, and goes with it', async () => {
  const backend = await webgpu();
  const gpu = backend.gpu;
  const source = gpu.acquire(64);
  gpu.write(source, new Float32Array(16).fill(1));
  let made = 0;
  const make = () => made++;
  const live = gpu.memory().liveBuffers;
  const a = gpu.derived('test_copy', source, 64, make);
  const b = gpu.derived('test_copy', source, 64, make);
  assert.is(made, 1, 'the second request reuses the first');
  assert.is(a.buffer, b.buffer);
  assert.is(a.release, false);
  assert.is(gpu.memory().liveBuffers, live + 1, 'the cache holds one buffer');
  gpu.derived('test_other', source, 64, make);
  assert.is(made, 2, 'another name is another derived buffer');

  gpu.write(source, new Float32Array(16).fill(2));
  const c = gpu.derived('test_copy', source, 64, make);
  assert.is(made, 3, 'an upload to the source makes it again');
  assert.is(c.buffer, a.buffer, '...into the same buffer');
  const other = gpu.acquire(64);
  gpu.copy(other, source, 64);
  gpu.derived('test_copy', source, 64, make);
  assert.is(made, 4, 'a copy into the source makes it again');

  gpu.release(source);
  assert.is(gpu.memory().liveBuffers, live - 1 + 1, 'releasing the source releases what was derived from it');
  gpu.release(other);
  await backend.sync();
});

test('conv weights rearranged once for passes over fixed weights, again after SGD changes them', async () => {
  const backend = await webgpu();
  setBackend(backend);
  const gpu = backend.gpu;
  const rng = new Random(11);
  // 12 out channels (a multiple of 4: the row tile reads weights rearranged), odd spatial sizes, padding 1.
  const xData = randomArray(rng, 3 * 8 * 9 * 11);
  const wData = randomArray(rng, 12 * 8 * 3 * 3);
  const x = put(backend, xData, [3, 8, 9, 11]);
  const w = put(backend, wData, [12, 8, 3, 3]);
  const forward = async () => {
    const before = gpu.counters.dispatches;
    const y = conv2d(x, w, null, { padding: 1 });
    const values = await y.data();
    y.dispose();
    return { values, dispatches: gpu.counters.dispatches - before };
  };
  const first = await forward();
  const second = await forward();
  assert.is(second.dispatches, first.dispatches - 1, 'the second pass skips rearranging the weights');
  assert.equal(second.values, first.values);

  // SGD writes w in place: the next pass must see the new weights.
  const opt = new SGD([w], { lr: 0.5, momentum: 0, weightDecay: 0 });
  const g = put(backend, randomArray(rng, wData.length), [12, 8, 3, 3]);
  noGrad(() => opt.step([g]));
  const updated = await w.data();
  assert.ok(
    updated.some((v, i) => v !== Math.fround(wData[i]!)),
    'SGD changed the weights',
  );
  const third = await forward();
  assert.is(third.dispatches, first.dispatches, 'changed weights are rearranged again');
  const expected = await on(cpu, () =>
    conv2d(tensor(Float32Array.from(xData), [3, 8, 9, 11]), tensor(Float32Array.from(updated), [12, 8, 3, 3]), null, {
      padding: 1,
    }).data(),
  );
  assertClose(third.values, expected, 'conv after SGD against the CPU reference');
  for (const t of [x, w, g]) t.dispose();
  opt.dispose();
});

test.run();
