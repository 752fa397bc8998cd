// Kernel profiling (Gpu.startProfile / stopProfile, kernels/webgpu/kernel_profiler.ts) and the work
// counters a step report reads: every dispatch under a profile is timed under its program's name,
// the counts agree with the Gpu's counters, a profile leaves results unchanged, and misuse is refused.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random, add, matmul, rand, relu, setBackend } from '../../engine/index.js';
import { webgpu } from '../helpers.js';

test('a profile times each dispatch under its program name, and the counts match the counters', async () => {
  const backend = await webgpu();
  setBackend(backend);
  const gpu = backend.gpu;
  if (!gpu.canProfile) {
    console.log("  skipped: this adapter has no 'timestamp-query' (kernel profiling needs it)");
    return;
  }
  const rng = new Random(3);
  const a = rand([37, 29], rng);
  const b = rand([29, 13], rng);
  const c = rand([37, 13], rng);
  const run = () => relu(add(matmul(a, b), c));
  const plain = run();
  const expected = await plain.data();
  await backend.sync();

  const before = { ...gpu.counters };
  gpu.startProfile();
  const profiled = run();
  const times = await gpu.stopProfile();
  const dispatches = gpu.counters.dispatches - before.dispatches;

  assert.is(
    times.reduce((n, k) => n + k.dispatches, 0),
    dispatches,
    'every dispatch under the profile is counted once',
  );
  assert.ok(dispatches >= 3, `matmul, add and relu ran (${dispatches} dispatches)`);
  for (const k of times) {
    assert.ok(k.name.length > 0, 'each time is named by its program');
    assert.ok(Number.isFinite(k.ms) && k.ms >= 0, `${k.name}: ${k.ms} ms`);
  }
  assert.ok(
    times.some((k) => k.name.startsWith('matmul')),
    `a matmul program is among ${times.map((k) => k.name).join(', ')}`,
  );
  for (let i = 1; i < times.length; i++) assert.ok(times[i - 1]!.ms >= times[i]!.ms, 'slowest first');
  assert.ok(gpu.counters.submits > before.submits && gpu.counters.encoders > before.encoders);
  assert.equal(await profiled.data(), expected, 'a profiled run computes the same bits');
  for (const t of [a, b, c, plain, profiled]) t.dispose();
});

test('a profile is refused twice over, and stopping without one says so', async () => {
  const backend = await webgpu();
  const gpu = backend.gpu;
  if (!gpu.canProfile) return;
  gpu.startProfile();
  assert.throws(() => gpu.startProfile(), /already running/);
  await gpu.stopProfile();
  try {
    await gpu.stopProfile();
    assert.unreachable('stopProfile without a profile must throw');
  } catch (error) {
    assert.match((error as Error).message, /no kernel profile is running/);
  }
});

test('bind groups are counted only when created: a repeated op reuses its cached one', async () => {
  const backend = await webgpu();
  setBackend(backend);
  const gpu = backend.gpu;
  const rng = new Random(4);
  const a = rand([101], rng);
  const b = rand([101], rng);
  // Warm-up: the pool and the cache now hold this op's buffers and bind group.
  for (let i = 0; i < 2; i++) {
    const s = add(a, b);
    await backend.sync();
    s.dispose();
  }
  const before = { ...gpu.counters };
  const s = add(a, b);
  await backend.sync();
  assert.is(gpu.counters.dispatches - before.dispatches, 1);
  assert.is(gpu.counters.bindGroups - before.bindGroups, 0, 'the cached bind group is reused');
  for (const t of [a, b, s]) t.dispose();
});

test.run();
