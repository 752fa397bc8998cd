// The kernel tuner without a GPU: fake variants with injected timings. It picks the faster, persists
// the choice and a new tuner reloads it; YOPO_TUNE=off keeps the default; a corrupt cache is reported
// and ignored; the Node file store writes atomically.

import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Gpu } from '../../kernels/webgpu/gpu.js';
import { fileTuneStore, tuneCacheDir } from '../../kernels/tune_file_store.js';
import { type Measure, type TunableOp, Tuner, adapterId, tuneModeFromEnv } from '../../kernels/tune.js';

const gpu = {} as Gpu;

/** An op with two variants, 'slow' (the default) and 'fast'; its workload counts the runs per variant. */
function fakeOp(runs: Record<string, number> = {}): TunableOp<{ n: number }> {
  return {
    op: 'fake',
    key: (s) => `n${s.n}`,
    variants: () => ['slow', 'fast'],
    defaultVariant: () => 'slow',
    workload: () => ({ run: (v) => void (runs[v] = (runs[v] ?? 0) + 1), dispose: () => {} }),
  };
}

/** A timer that runs the workload once and reports a fixed time per variant (which variant: from the run counts). */
function fakeMeasure(runs: Record<string, number>, ms: Record<string, number>): Measure {
  return async (run) => {
    const before = { ...runs };
    run();
    const variant = Object.keys(runs).find((v) => runs[v] !== before[v])!;
    return ms[variant];
  };
}

const noMeasuring: Measure = async () => {
  throw new Error('this tuner must not measure');
};

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yopo-tune-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'tuner: picks the faster variant, persists it, and a new tuner on the same adapter reloads it',
  withDir(async (dir) => {
    const runs: Record<string, number> = {};
    const op = fakeOp(runs);
    const store = fileTuneStore(dir);
    const tuner = new Tuner(gpu, 'abc', 'on', store, fakeMeasure(runs, { slow: 3, fast: 1 }));
    // First use: the default runs and the shape waits for the next await point.
    assert.is(tuner.choose(op, { n: 5 }), 'slow');
    assert.ok(tuner.hasPending);
    await tuner.tunePending();
    assert.not.ok(tuner.hasPending);
    assert.equal(runs, { slow: 1, fast: 1 });
    assert.is(tuner.choose(op, { n: 5 }), 'fast');
    assert.equal(tuner.choiceFor(op, { n: 5 }), { variant: 'fast', ms: { slow: 3, fast: 1 } });
    // Persisted atomically (no temporary left) and reloaded by a tuner that measures nothing.
    assert.equal(readdirSync(dir), ['tune-abc.json']);
    const again = new Tuner(gpu, 'abc', 'cached', store, noMeasuring);
    assert.is(again.choose(op, { n: 5 }), 'fast');
    // Another shape in cached mode: the default, not queued.
    assert.is(again.choose(op, { n: 6 }), 'slow');
    assert.not.ok(again.hasPending);
    // Another adapter has its own file.
    assert.is(new Tuner(gpu, 'other', 'cached', store).choose(op, { n: 5 }), 'slow');
  }),
);

test(
  'tuner: describe() names the mode, the store and the choices by op and variant (the bench prints it)',
  withDir(async (dir) => {
    const runs: Record<string, number> = {};
    const op = fakeOp(runs);
    const store = fileTuneStore(dir);
    const tuner = new Tuner(gpu, 'abc', 'on', store, fakeMeasure(runs, { slow: 3, fast: 1 }));
    assert.is(tuner.describe(), `YOPO_TUNE mode on; 0 choices from ${store.where('abc')}`);
    await tuner.tune(op, { n: 1 });
    await tuner.tune(op, { n: 2 });
    assert.is(
      new Tuner(gpu, 'abc', 'cached', store, noMeasuring).describe(),
      `YOPO_TUNE mode cached; 2 choices from ${store.where('abc')} (2 fake fast)`,
    );
    assert.is(
      new Tuner(gpu, 'abc', 'off', store, noMeasuring).describe(),
      `YOPO_TUNE mode off; 0 choices from ${store.where('abc')}`,
    );
  }),
);

test(
  "tuner: a second shape keeps the first one's choice in the file",
  withDir(async (dir) => {
    const runs: Record<string, number> = {};
    const op = fakeOp(runs);
    const store = fileTuneStore(dir);
    await new Tuner(gpu, 'a', 'on', store, fakeMeasure(runs, { slow: 3, fast: 1 })).tune(op, { n: 1 });
    await new Tuner(gpu, 'a', 'on', store, fakeMeasure(runs, { slow: 1, fast: 3 })).tune(op, { n: 2 });
    const file = JSON.parse(readFileSync(join(dir, 'tune-a.json'), 'utf8'));
    assert.equal(
      Object.fromEntries(Object.entries(file.choices).map(([k, c]) => [k, (c as { variant: string }).variant])),
      { 'fake n1': 'fast', 'fake n2': 'slow' },
    );
  }),
);

test(
  'tuner: YOPO_TUNE=off keeps the built-in default and measures nothing',
  withDir(async (dir) => {
    const store = fileTuneStore(dir);
    const runs: Record<string, number> = {};
    await new Tuner(gpu, 'a', 'on', store, fakeMeasure(runs, { slow: 3, fast: 1 })).tune(fakeOp(runs), { n: 1 });
    const off = new Tuner(gpu, 'a', tuneModeFromEnv('off', false), store, noMeasuring);
    assert.is(off.choose(fakeOp(), { n: 1 }), 'slow');
    assert.is(off.choose(fakeOp(), { n: 2 }), 'slow');
    assert.not.ok(off.hasPending);
  }),
);

test(
  'tuner: a corrupt cache file is reported with its path and ignored; the next choice replaces it',
  withDir(async (dir) => {
    const store = fileTuneStore(dir);
    const path = join(dir, 'tune-a.json');
    for (const text of ['{ not json', '{"version": 99, "choices": {}}', '{"version": 1, "choices": {"fake n1": 3}}']) {
      writeFileSync(path, text);
      const warnings: string[] = [];
      const runs: Record<string, number> = {};
      const tuner = new Tuner(gpu, 'a', 'on', store, fakeMeasure(runs, { slow: 3, fast: 1 }), (m) => warnings.push(m));
      assert.is(warnings.length, 1, text);
      assert.match(warnings[0], `ignoring the kernel tuning cache ${path}`);
      assert.is(tuner.choose(fakeOp(runs), { n: 1 }), 'slow');
      await tuner.tunePending();
      assert.is(JSON.parse(readFileSync(path, 'utf8')).choices['fake n1'].variant, 'fast');
    }
  }),
);

test(
  'tuner: a remembered variant this device cannot run falls back to the default',
  withDir(async (dir) => {
    writeFileSync(
      join(dir, 'tune-a.json'),
      JSON.stringify({ version: 1, choices: { 'fake n1': { variant: 'gone', ms: { gone: 1 } } } }),
    );
    assert.is(new Tuner(gpu, 'a', 'cached', fileTuneStore(dir)).choose(fakeOp(), { n: 1 }), 'slow');
  }),
);

test('tuner: a variant that fails on the device is reported and left out', async () => {
  const warnings: string[] = [];
  const runs: Record<string, number> = {};
  const measure: Measure = async (run) => {
    run();
    if (runs.fast) throw new Error('WebGPU kernel failed to compile\nsource...');
    return 2;
  };
  const tuner = new Tuner(gpu, 'a', 'on', null, measure, (m) => warnings.push(m));
  assert.equal(await tuner.tune(fakeOp(runs), { n: 1 }), { variant: 'slow', ms: { slow: 2 } });
  assert.equal(warnings, [
    'yopo: kernel variant fake fast failed on this device for n1, left out: WebGPU kernel failed to compile',
  ]);
});

test('tuner: collect lists the shapes an op sees, whatever the mode', () => {
  const tuner = new Tuner(gpu, 'a', 'off', null);
  const seen = tuner.collect(() => {
    tuner.choose(fakeOp(), { n: 1 });
    tuner.choose(fakeOp(), { n: 2 });
    tuner.choose(fakeOp(), { n: 1 });
  });
  assert.equal(
    seen.map((s) => s.key),
    ['fake n1', 'fake n2'],
  );
  assert.is(tuner.where(), 'memory only');
});

test('YOPO_TUNE: off, on, auto (tune at first use on hardware, cached choices only on a software adapter); anything else is an error', () => {
  assert.is(tuneModeFromEnv('off', false), 'off');
  assert.is(tuneModeFromEnv('0', true), 'off');
  assert.is(tuneModeFromEnv('on', true), 'on');
  assert.is(tuneModeFromEnv(undefined, false), 'on');
  assert.is(tuneModeFromEnv('auto', true), 'cached');
  assert.throws(() => tuneModeFromEnv('fast', false), /YOPO_TUNE must be on, off or auto \(got 'fast'\)/);
});

test('tune cache: YOPO_TUNE_CACHE names the folder, else XDG_CACHE_HOME/yopo; adapter ids are short and stable', () => {
  assert.is(tuneCacheDir({ YOPO_TUNE_CACHE: '/x/y' }), '/x/y');
  assert.is(tuneCacheDir({ XDG_CACHE_HOME: '/c' }), '/c/yopo');
  assert.match(adapterId('mesa|cpu|llvmpipe'), /^[0-9a-f]{8}$/);
  assert.is(adapterId('mesa|cpu|llvmpipe'), adapterId('mesa|cpu|llvmpipe'));
  assert.is.not(adapterId('mesa|cpu|llvmpipe'), adapterId('nvidia|hopper|h200'));
});

test.run();
