// The published configurations as presets, their resolution with overrides, reading a config.json back,
// and the validation split. Pure host logic: no backend.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCommand } from '../cli/args.js';
import { presetArguments, readRunConfig, resolveNewConfig } from '../cli/run_config.js';
import { trainSpec } from '../cli/train_options.js';
import { type Dataset, holdOut, defaultValidationSize } from '../yopo/data/index.js';
import { PRESETS, PRESET_NAMES, findPreset, presetTable } from '../yopo/presets.js';

const resolve = (...argv: string[]) => resolveNewConfig(parseCommand(trainSpec, argv)!, argv);
const dir = mkdtempSync(join(tmpdir(), 'yopo-presets-'));

test("every configuration of the paper's tables is a preset", () => {
  const expected = ['mnist-yopo-5-10', 'mnist-pgd-40', 'cifar10-preact-resnet18-yopo-5-3', 'cifar10-preact-resnet18-yopo-3-5',
    'cifar10-preact-resnet18-pgd-10', 'cifar10-wrn-34-10-yopo-5-3', 'cifar10-wrn-34-10-yopo-3-5', 'cifar10-wrn-34-10-pgd-10',
    'cifar10-wrn-34-10-free-8', 'cifar10-preact-resnet18-trades-10', 'cifar10-preact-resnet18-trades-yopo-3-4', 'cifar10-preact-resnet18-trades-yopo-2-5'];
  assert.equal([...PRESET_NAMES].sort(), [...expected].sort());
  const table = presetTable();
  for (const name of expected) assert.ok(table.includes(name), `yopo presets lists ${name}`);
  assert.match(table, /num_epochs \+ 1/, 'the table says which epoch count presets run');
});

test('each preset parses as train options, and the defaults for its data/model/method are the same settings', () => {
  for (const p of PRESETS) {
    const viaPreset = resolve('--preset', p.name, '--out', 'x');
    const { data, model, method } = p.options;
    const viaDefaults = resolve('--data', String(data), '--model', String(model), '--method', String(method), '--out', 'x');
    for (const key of ['epochs', 'lr', 'weightDecay', 'batchSize', 'milestones', 'firstLayerMilestones', 'eps', 'step', 'beta', 'bnRefresh', 'wrnInit', 'momentum'] as const) {
      assert.equal(viaPreset[key], viaDefaults[key], `${p.name}: ${key}`);
    }
    assert.is(viaPreset.preset, p.name);
    assert.is(viaPreset.overrides, null);
  }
});

test('the TRADES-10 preset is the published baseline: β 1, lr 0.1, wd 2e-4, batch 200, 100 epochs, one decay', () => {
  const c = resolve('--preset', 'cifar10-preact-resnet18-trades-10', '--out', 'x');
  assert.equal([c.method, c.beta, c.lr, c.weightDecay, c.batchSize, c.epochs, c.milestones, c.eps, c.step], ['trades-10', 1, 0.1, 2e-4, 200, 100, [74], 0.031, 0.007]);
  const m = resolve('--preset', 'mnist-yopo-5-10', '--out', 'x');
  assert.equal([m.milestones, m.firstLayerMilestones, m.evalAttack], [[30, 35, 39], [15, 19], 'pgd-40']);
});

test('options beside a preset override it, and config.json records the preset and the overrides', () => {
  const c = resolve('--preset', 'mnist-yopo-5-10', '--lr', '0.02', '--epochs', '3', '--eps', '0.2', '--out', 'runs/x', '--backend', 'cpu');
  assert.equal([c.lr, c.epochs, c.eps, c.method, c.backend], [0.02, 3, 0.2, 'yopo-5-10', 'cpu']);
  assert.is(c.preset, 'mnist-yopo-5-10');
  assert.equal(c.overrides, { epochs: 3, lr: 0.02, eps: '0.2' });
  assert.throws(() => resolve('--preset', 'mnist-yopo-5-11', '--out', 'x'), /unknown preset 'mnist-yopo-5-11'; expected one of mnist-yopo-5-10, /);
  assert.equal(presetArguments(findPreset('mnist-pgd-40')!).slice(0, 4), ['--data', 'mnist', '--model', 'smallcnn']);
});

test('readRunConfig: a written config reads back; unknown, missing and ill-typed fields are one-line errors', () => {
  const config = resolve('--preset', 'mnist-pgd-40', '--out', 'x');
  const write = (name: string, value: unknown) => {
    const file = join(dir, name);
    writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
    return file;
  };
  assert.equal(readRunConfig(write('good.json', { ...config, adapter: 'CPU', version: '1' })), { ...config, adapter: 'CPU', version: '1' });
  const cases: [unknown, RegExp][] = [
    [{ ...config, learningRate: 0.1 }, /: unknown field 'learningRate'$/],
    [{ ...config, lr: 'fast' }, /: field 'lr' must be a number ≥ 0 \(got "fast"\)$/],
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
    assert.throws(() => readRunConfig(file), (e: Error) => error.test(e.message) && !e.message.includes('\n'), `case ${i}: ${error}`);
  });
  // An older run's config (before these fields) resumes as it ran: legacy values fill the gaps.
  const old = Object.fromEntries(Object.entries(config).filter(([k]) => !['valSplit', 'bnRefresh', 'wrnInit', 'firstLayerMilestones', 'keepCheckpoints', 'testLimit', 'preset', 'overrides', 'config'].includes(k)));
  const legacy = readRunConfig(write('old.json', old), { legacy: true });
  assert.equal([legacy.valSplit, legacy.bnRefresh, legacy.wrnInit, legacy.firstLayerMilestones], [0, false, 'trades', null]);
  assert.throws(() => readRunConfig(join(dir, 'old.json')), /missing field/);
});

function fakeSet(count: number): Dataset {
  return { name: 'fake', images: Float32Array.from({ length: count * 4 }, (_, i) => (i % 97) / 97), labels: Int32Array.from({ length: count }, (_, i) => i), count, shape: [1, 2, 2], classes: count };
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
  assert.equal(all, Array.from({ length: 50 }, (_, i) => i), 'every image once: none lost, none in both');
  const k = a.validation.labels[2];
  assert.equal(Array.from(a.validation.images.subarray(8, 12)), Array.from(ds.images.subarray(k * 4, k * 4 + 4)), 'images travel with their labels');
  assert.throws(() => holdOut(ds, 50, 0), /from 0 to 49/);
  assert.is(defaultValidationSize(fakeSet(10_000)), 1000);
  assert.is(defaultValidationSize(fakeSet(9_999)), 0);
});

test.run();
