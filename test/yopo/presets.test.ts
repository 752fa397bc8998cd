// The published configurations as presets, their resolution with overrides, reading a config.json back,
// and the validation split. Pure host logic: no backend.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCommand } from '../../cli/args.js';
import { presetArguments, readRunConfig, resolveNewConfig } from '../../cli/run_config.js';
import { trainSpec } from '../../cli/train_options.js';
import { type Dataset, holdOut, defaultValidationSize } from '../../yopo/data/index.js';
import { warmupFactor } from '../../nn/schedule.js';
import { FIGURE_WARMUP_STEPS, PRESETS, PRESET_NAMES, findPreset, presetTable } from '../../yopo/presets.js';

const resolve = (...argv: string[]) => resolveNewConfig(parseCommand(trainSpec, argv)!, argv);
const dir = mkdtempSync(join(tmpdir(), 'yopo-presets-'));

test("every configuration of the paper's tables is a preset", () => {
  const expected = [
    'mnist-yopo-5-10',
    'mnist-yopo-5-10-figure',
    'mnist-yopo-5-10-warmup',
    'mnist-pgd-40',
    'cifar10-preact-resnet18-yopo-5-3',
    'cifar10-preact-resnet18-yopo-3-5',
    'cifar10-preact-resnet18-pgd-10',
    'cifar10-wrn-34-10-yopo-5-3',
    'cifar10-wrn-34-10-yopo-3-5',
    'cifar10-wrn-34-10-pgd-10',
    'cifar10-wrn-34-10-free-8',
    'cifar10-preact-resnet18-trades-10',
    'cifar10-preact-resnet18-trades-yopo-3-4',
    'cifar10-preact-resnet18-trades-yopo-2-5',
  ];
  assert.equal([...PRESET_NAMES].sort(), [...expected].sort());
  const table = presetTable();
  for (const name of expected) assert.ok(table.includes(name), `yopo presets lists ${name}`);
  assert.match(table, /num_epochs \+ 1/, 'the table says which epoch count presets run');
});

test('each published preset parses as train options, and the defaults for its data/model/method are the same settings', () => {
  for (const p of PRESETS.filter((p) => p.variantOf === undefined)) {
    const viaPreset = resolve('--preset', p.name, '--out', 'x');
    const { data, model, method } = p.options;
    const viaDefaults = resolve(
      '--data',
      String(data),
      '--model',
      String(model),
      '--method',
      String(method),
      '--out',
      'x',
    );
    for (const key of [
      'epochs',
      'lr',
      'weightDecay',
      'batchSize',
      'milestones',
      'firstLayerMilestones',
      'eps',
      'step',
      'beta',
      'bnRefresh',
      'wrnInit',
      'momentum',
    ] as const) {
      assert.equal(viaPreset[key], viaDefaults[key], `${p.name}: ${key}`);
    }
    assert.is(viaPreset.preset, p.name);
    assert.is(viaPreset.overrides, null);
  }
});

test('the TRADES-10 preset is the published baseline: β 1, lr 0.1, wd 2e-4, batch 200, 100 epochs, one decay', () => {
  const c = resolve('--preset', 'cifar10-preact-resnet18-trades-10', '--out', 'x');
  assert.equal(
    [c.method, c.beta, c.lr, c.weightDecay, c.batchSize, c.epochs, c.milestones, c.eps, c.step],
    ['trades-10', 1, 0.1, 2e-4, 200, 100, [74], 0.031, 0.007],
  );
  const m = resolve('--preset', 'mnist-yopo-5-10', '--out', 'x');
  assert.equal([m.milestones, m.firstLayerMilestones, m.evalAttack], [[30, 35, 39], [15, 19], 'pgd-40']);
});

test('the figure-era MNIST setting: lr 0.1 (0.1/5 per summed gradient), 20 epochs, ×0.1 at 15 and 19 for both optimisers, the rest as the final code', () => {
  const final = resolve('--preset', 'mnist-yopo-5-10', '--out', 'x');
  const figure = resolve('--preset', 'mnist-yopo-5-10-figure', '--out', 'x');
  assert.equal(
    [figure.lr, figure.epochs, figure.milestones, figure.firstLayerMilestones, figure.warmupSteps],
    [0.1, 20, [15, 19], [15, 19], null],
  );
  const same = [
    'method',
    'model',
    'data',
    'batchSize',
    'eps',
    'step',
    'weightDecay',
    'momentum',
    'evalAttack',
    'seed',
    'bnRefresh',
  ] as const;
  for (const key of same) assert.equal(figure[key], final[key], key);
  assert.is(figure.batchSize, 256);
  // The warm-up setting is the figure-era one plus its warm-up, and nothing else.
  const warmup = resolve('--preset', 'mnist-yopo-5-10-warmup', '--out', 'x');
  assert.equal({ ...warmup, preset: null, warmupSteps: null }, { ...figure, preset: null });
  assert.is(warmup.warmupSteps, FIGURE_WARMUP_STEPS);
  for (const p of PRESETS.filter((p) => p.variantOf))
    assert.ok(findPreset(p.variantOf!), `${p.name} departs from a preset that exists`);
});

test('the warm-up schedule: (step + 1)/N of the rate for N steps, then the rate; 20-40% of it where the figure-era run collapsed (steps 40-80)', () => {
  const rate = (step: number) => 0.1 * warmupFactor(step, FIGURE_WARMUP_STEPS);
  assert.is(rate(0), 0.1 / FIGURE_WARMUP_STEPS);
  assert.ok(
    Math.abs(rate(39) - 0.02) < 1e-12 && Math.abs(rate(79) - 0.04) < 1e-12,
    'steps 40 and 80 (1-based) at 20% and 40%',
  );
  assert.is(rate(FIGURE_WARMUP_STEPS - 1), 0.1);
  assert.is(rate(5000), 0.1);
  for (let s = 1; s < FIGURE_WARMUP_STEPS; s++) assert.ok(rate(s) > rate(s - 1), 'rising at every step');
  assert.is(warmupFactor(7, 0), 1, 'no warm-up');
});

test('yopo presets says which setting each preset follows, and the learning-rate wording is per summed gradient divided by m', () => {
  const table = presetTable();
  for (const p of PRESETS) {
    assert.ok(p.follows.length > 0, `${p.name} says what it follows`);
    assert.ok(table.includes(`  ${p.name}: ${p.follows}`), `${p.name}'s line`);
  }
  assert.match(findPreset('mnist-yopo-5-10-figure')!.follows, /cd758b3/);
  assert.match(table, /0\.01\/5 per summed gradient/);
  assert.not.match(table, /is per summed gradient \(divided by m\)/);
  assert.match(table, /warm-up 200 steps/);
});

test('options beside a preset override it, and config.json records the preset and the overrides', () => {
  const c = resolve(
    '--preset',
    'mnist-yopo-5-10',
    '--lr',
    '0.02',
    '--epochs',
    '3',
    '--eps',
    '0.2',
    '--out',
    'runs/x',
    '--backend',
    'cpu',
  );
  assert.equal([c.lr, c.epochs, c.eps, c.method, c.backend], [0.02, 3, 0.2, 'yopo-5-10', 'cpu']);
  assert.is(c.preset, 'mnist-yopo-5-10');
  assert.equal(c.overrides, { epochs: 3, lr: 0.02, eps: '0.2' });
  assert.throws(
    () => resolve('--preset', 'mnist-yopo-5-11', '--out', 'x'),
    /unknown preset 'mnist-yopo-5-11'; expected one of mnist-yopo-5-10, /,
  );
  assert.equal(presetArguments(findPreset('mnist-pgd-40')!).slice(0, 4), ['--data', 'mnist', '--model', 'smallcnn']);
});

test('readRunConfig: a written config reads back; unknown, missing and ill-typed fields are one-line errors', () => {
  const config = resolve('--preset', 'mnist-pgd-40', '--out', 'x');
  const write = (name: string, value: unknown) => {
    const file = join(dir, name);
    writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
    return file;
  };
  assert.equal(readRunConfig(write('good.json', { ...config, adapter: 'CPU', version: '1' })), {
    ...config,
    adapter: 'CPU',
    version: '1',
  });
  const cases: [unknown, RegExp][] = [
    [{ ...config, learningRate: 0.1 }, /: unknown field 'learningRate'$/],
    [{ ...config, lr: 'fast' }, /: field 'lr' must be a number > 0 \(got "fast"\)$/],
    [{ ...config, epochs: 0 }, /: field 'epochs' must be a whole number ≥ 1 \(got 0\)$/],
    [{ ...config, milestones: [1, 'x'] }, /: field 'milestones' must be a list of whole epochs/],
    [{ ...config, data: 'svhn' }, /: field 'data' must be one of mnist, fashion-mnist, cifar10 \(got "svhn"\)$/],
    [{ ...config, valSplit: -1 }, /: field 'valSplit' must be a whole number ≥ 0 or null \(got -1\)$/],
    [{ ...config, preset: 'nope' }, /: field 'preset' must be one of .* or null/],
    [Object.fromEntries(Object.entries(config).filter(([k]) => k !== 'seed')), /: missing field 'seed'$/],
    ['[1, 2]', /is not a run's config.json \(not a JSON object\)/],
    ['{ not json', /cannot read .*bad.json: /],
  ];
  cases.forEach(([value, error], i) => {
    const file = write(i === cases.length - 1 ? 'bad.json' : `case-${i}.json`, value);
    assert.throws(
      () => readRunConfig(file),
      (e: Error) => error.test(e.message) && !e.message.includes('\n'),
      `case ${i}: ${error}`,
    );
  });
  // An older run's config (before these fields) resumes as it ran: legacy values fill the gaps.
  const old = Object.fromEntries(
    Object.entries(config).filter(
      ([k]) =>
        ![
          'valSplit',
          'bnRefresh',
          'wrnInit',
          'firstLayerMilestones',
          'keepCheckpoints',
          'testLimit',
          'preset',
          'overrides',
          'config',
        ].includes(k),
    ),
  );
  const legacy = readRunConfig(write('old.json', old), { legacy: true });
  assert.equal(
    [legacy.valSplit, legacy.bnRefresh, legacy.wrnInit, legacy.firstLayerMilestones],
    [0, false, 'trades', null],
  );
  assert.throws(() => readRunConfig(join(dir, 'old.json')), /missing field/);
});

function fakeSet(count: number): Dataset {
  return {
    name: 'fake',
    images: Float32Array.from({ length: count * 4 }, (_, i) => (i % 97) / 97),
    labels: Int32Array.from({ length: count }, (_, i) => i),
    count,
    shape: [1, 2, 2],
    classes: count,
  };
}

test('the validation split: seeded, disjoint from training, the right sizes; default 1000 on full sets only', () => {
  const ds = fakeSet(50);
  const a = holdOut(ds, 7, 3);
  const b = holdOut(ds, 7, 3);
  const c = holdOut(ds, 7, 4);
  assert.equal(Array.from(a.validation.labels), Array.from(b.validation.labels), 'same seed, same split');
  assert.not.equal(Array.from(a.validation.labels), Array.from(c.validation.labels), 'another seed, another split');
  assert.is(a.validation.count, 7);
  assert.is(a.train.count, 43);
  const all = [...a.train.labels, ...a.validation.labels].sort((x, y) => x - y);
  assert.equal(
    all,
    Array.from({ length: 50 }, (_, i) => i),
    'every image once: none lost, none in both',
  );
  const k = a.validation.labels[2];
  assert.equal(
    Array.from(a.validation.images.subarray(8, 12)),
    Array.from(ds.images.subarray(k * 4, k * 4 + 4)),
    'images travel with their labels',
  );
  assert.throws(() => holdOut(ds, 50, 0), /from 0 to 49/);
  assert.is(defaultValidationSize(fakeSet(10_000)), 1000);
  assert.is(defaultValidationSize(fakeSet(9_999)), 0);
});

test.run();
