// `yopo train` with --preset, --config and --val-split, as a user runs it (subprocesses on the CPU
// backend, a tiny MNIST-format dataset of 48 training and 16 test images in a temp folder; two-step runs).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CliSandbox, type CliResult } from './cli_helpers.js';

const box = new CliSandbox('yopo-cli-config-', { train: 48, test: 16, seed: 3 });
const at = (...parts: string[]) => box.at(...parts);
const yopo = (...args: string[]) => box.run(args);
function succeeds(r: CliResult, what: string): void {
  if (r.status !== 0) assert.unreachable(`${what}: exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}
const json = (file: string) => JSON.parse(readFileSync(at(file), 'utf8')) as Record<string, unknown>;
const metrics = (dir: string) =>
  readFileSync(at(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const RUN = [
  'train',
  '--data-dir',
  'data',
  '--backend',
  'cpu',
  '--method',
  'natural',
  '--limit',
  '24',
  '--batch-size',
  '8',
  '--epochs',
  '1',
  '--val-split',
  '8',
  '--eval-every',
  '1',
  '--eval-limit',
  '8',
  '--eval-attack',
  'fgsm',
  '--test-limit',
  '8',
  '--keep-checkpoints',
];

test('--val-split: evaluations on held-out training images, best.safetensors, one checkpoint per evaluation, last and best on the test set', () => {
  const r = yopo(...RUN, '--out', 'runs/a');
  succeeds(r, 'train with --val-split');
  const records = metrics('runs/a');
  const evals = records.filter((x) => 'clean_accuracy' in x);
  // 24 images − 8 held out = 16 = 2 batches: an evaluation after step 1, and the final one after step 2.
  assert.equal(
    evals.map((x) => x.step),
    [1, 2],
  );
  for (const e of evals) {
    assert.is(e.split, 'validation');
    assert.is(e.n, 8);
    assert.is(e.checkpoint, `checkpoints/step-${e.step}.safetensors`);
    assert.ok(existsSync(at('runs/a', e.checkpoint as string)), `${e.checkpoint} kept`);
  }
  const bestFlags = evals.filter((e) => e.best === true);
  assert.ok(bestFlags.length >= 1 && evals[0].best === true, 'the first evaluation is best so far');
  const bestRecord = bestFlags[bestFlags.length - 1];
  assert.ok(
    evals.every((e) => (e.robust_accuracy as number) <= (bestRecord.robust_accuracy as number)),
    'best is the highest robust accuracy',
  );
  assert.ok(existsSync(at('runs/a', 'best.safetensors')));
  assert.equal(
    readFileSync(at('runs/a', 'best.safetensors')),
    readFileSync(at('runs/a', bestRecord.checkpoint as string)),
    'best.safetensors is the selected checkpoint',
  );
  const finals = records.filter((x) => 'final' in x);
  assert.equal(
    finals.map((x) => [x.final, x.split, x.n]),
    [
      ['last', 'test', 8],
      ['best', 'test', 8],
    ],
  );
  assert.is(finals[1].checkpoint_step, bestRecord.step);
  if (finals[1].checkpoint_step === 2) {
    // Best at the last step: the same weights, so the same numbers (evaluated once).
    assert.equal(
      [finals[1].test_clean_accuracy, finals[1].test_robust_accuracy],
      [finals[0].test_clean_accuracy, finals[0].test_robust_accuracy],
    );
  }
  assert.match(
    r.stdout,
    /test set, last checkpoint \(step 2\): clean [\d.]+% \[95% CI [\d.]+, [\d.]+\], robust [\d.]+% \[95% CI [\d.]+, [\d.]+\] \(\S+, linf ε=[\d.]+, n=\d+ test images\)/,
  );
  assert.match(r.stdout, /test set, best checkpoint \(step \d\)/);
  assert.is(json('runs/a/config.json').valSplit, 8);
});

test('--config: a new run with exactly that config (same settings, same seed: the same model)', () => {
  const r = yopo('train', '--config', 'runs/a/config.json', '--out', 'runs/b');
  succeeds(r, 'train --config');
  const a = json('runs/a/config.json');
  const b = json('runs/b/config.json');
  assert.is(b.config, 'runs/a/config.json');
  for (const key of Object.keys(a))
    if (!['config', 'adapter', 'version'].includes(key)) assert.equal(b[key], a[key], `config ${key}`);
  // The tensors' bytes (the header's metadata holds the elapsed time, which differs).
  const tensorBytes = (file: string) => {
    const bytes = readFileSync(at(file));
    return bytes.subarray(8 + Number(bytes.readBigUInt64LE(0)));
  };
  assert.ok(
    tensorBytes('runs/b/model.safetensors').equals(tensorBytes('runs/a/model.safetensors')),
    'the rerun ends with the same weights',
  );
});

test('--config errors: one line, exit 2, nothing written', () => {
  const config = json('runs/a/config.json');
  writeFileSync(at('unknown.json'), JSON.stringify({ ...config, lr_typo: 1 }));
  writeFileSync(at('badtype.json'), JSON.stringify({ ...config, batchSize: 'big' }));
  const cases: [string[], RegExp][] = [
    [['--config', 'runs/a/config.json', '--lr', '0.5'], /--lr cannot be given beside it/],
    [['--config', 'unknown.json'], /unknown\.json: unknown field 'lr_typo'/],
    [['--config', 'badtype.json'], /field 'batchSize' must be a whole number ≥ 1 \(got "big"\)/],
    [['--config', 'missing.json'], /cannot read missing\.json/],
    [['--config', 'runs/a/config.json', '--preset', 'mnist-pgd-40'], /--config and --preset cannot be combined/],
    [['--preset', 'mnist-pgd-4'], /unknown preset 'mnist-pgd-4'/],
    [
      [...RUN.slice(1), '--val-split', '24'],
      /--val-split: validation split of 24 images: must be a whole number from 0 to 23/,
    ],
    [
      [...RUN.slice(1), '--budget-milestones', '0.5'],
      /--budget-milestones are fractions of the time budget: give --time-budget too/,
    ],
    [
      [...RUN.slice(1), '--time-budget', '1', '--budget-milestones', '0.6,0.5'],
      /--budget-milestones must be ascending fractions between 0 and 1/,
    ],
  ];
  for (const [args, error] of cases) {
    const r = yopo('train', ...args, '--out', 'runs/never');
    assert.is(r.status, 2, `${args.join(' ')}: exit 2 (${r.stderr})`);
    assert.is(r.errorLines.length, 1, `one line: ${r.stderr}`);
    assert.match(r.errorLines[0], error);
    assert.not.ok(existsSync(at('runs/never')), 'nothing written');
  }
});

test('--preset with overrides: the published settings plus the options given, both recorded', () => {
  // (yopo-1-1 instead of the preset's 5-10 keeps the step cheap, and is an override to record.)
  const r = yopo(
    'train',
    '--preset',
    'mnist-yopo-5-10',
    '--method',
    'yopo-1-1',
    '--data-dir',
    'data',
    '--backend',
    'cpu',
    '--limit',
    '8',
    '--batch-size',
    '8',
    '--epochs',
    '1',
    '--eval-limit',
    '4',
    '--eval-attack',
    'fgsm',
    '--out',
    'runs/preset',
  );
  succeeds(r, 'train --preset');
  const c = json('runs/preset/config.json');
  assert.equal(
    [c.preset, c.method, c.lr, c.milestones, c.firstLayerMilestones, c.eps, c.step, c.weightDecay],
    ['mnist-yopo-5-10', 'yopo-1-1', 0.01, [30, 35, 39], [15, 19], 0.3, 0.01, 5e-4],
  );
  assert.equal(c.overrides, {
    method: 'yopo-1-1',
    epochs: 1,
    limit: 8,
    'batch-size': 8,
    'eval-attack': 'fgsm',
    'eval-limit': 4,
  });
  assert.is(c.valSplit, 0, 'no default validation split on 8 images');
  const p = yopo('presets');
  succeeds(p, 'yopo presets');
  assert.match(p.stdout, /mnist-yopo-5-10 +smallcnn +yopo-5-10 +0\.3 \/ 0\.01/);
});

test.after(() => box.remove());
test.run();
