// yopo eval's researcher outputs, as a user runs them (a subprocess on the CPU backend, a tiny
// MNIST-format dataset of 4 test images, a SmallCNN checkpoint with random weights): an ε sweep with its table, SVG
// curve, per-sample JSON lines and model card; adversarial images in safetensors; L2; and a one-line
// error for every bad value of the new options, touching no file.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random, randn, useCpu } from '../../engine/index.js';
import { SmallCNN, decodeSafetensors, encodeSafetensors, saveModel } from '../../nn/index.js';
import { MARKS, type OwnedKind, hasMark } from '../../cli/file_ownership.js';
import { CliSandbox, type CliResult, tinyMnist } from './cli_helpers.js';

const box = new CliSandbox('yopo-cli-eval-', { train: 0, test: 4, seed: 9 });
const root = box.root;
const at = (...parts: string[]) => box.at(...parts);
const testSet = tinyMnist(4, new Random(9)); // the images of data/ (the same seed)
const yopo = (...args: string[]) => box.run(args);

function succeeds(r: CliResult, what: string): void {
  if (r.status !== 0) assert.unreachable(`${what}: exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}

const DATA = ['--data-dir', 'data', '--backend', 'cpu'];
const CKPT = ['--checkpoint', 'run/model.safetensors'];

test('setup: a SmallCNN checkpoint (random weights, a random last layer) and a config.json beside it', async () => {
  useCpu();
  const model = new SmallCNN(new Random(4));
  const fc3 = model.stateDict().get('classifier.fc3.weight')!;
  fc3.assign(randn(fc3.shape, new Random(5), 0, 0.1));
  mkdirSync(at('run'));
  await saveModel(at('run/model.safetensors'), model);
  writeFileSync(at('run/config.json'), JSON.stringify({ method: 'natural', data: 'mnist', model: 'smallcnn' }));
  model.dispose();
});

test('an ε sweep: table, curve, per-sample lines, model card with the checkpoint hash and training config', () => {
  mkdirSync(at('out'));
  const r = yopo(
    'eval',
    ...CKPT,
    ...DATA,
    '--attack',
    'fgsm+pgd-1',
    '--eps',
    '0.1,3/10',
    '--no-sanity',
    '--per-sample',
    'out/samples.jsonl',
    '--card',
    'out/card',
    '--curve',
    'out/curve.svg',
  );
  succeeds(r, 'yopo eval sweep');
  assert.match(r.stdout, /robust accuracy \d+\.\d% \[95% CI \d+\.\d, \d+\.\d\] under fgsm\+pgd-1, linf ε=0\.1, n=4/);
  assert.match(
    r.stdout,
    /under fgsm\+pgd-1, linf ε=0\.3, n=4 \[after fgsm: \d+\.\d% \((\d+m)?\d+s\), pgd-1: \d+\.\d% \((\d+m)?\d+s\)\]/,
    'each stage with its wall time',
  );
  assert.match(
    r.stdout,
    /^time: evaluation (\d+m)?\d+s$/m,
    'the evaluation time, without sanity checks under --no-sanity',
  );
  assert.match(r.stdout, /^ε\s+robust accuracy\s+95% interval/m);
  assert.match(r.stdout, /yopo eval --attack autoattack/, 'a quick attack points to the reportable one');
  const lines = readFileSync(at('out/samples.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.is(lines.length, 8, 'one line per example and ε');
  for (const e of lines) {
    for (const key of ['index', 'label', 'clean_pred', 'adv_pred', 'linf', 'l2', 'eps'])
      assert.type(e[key], 'number', key);
    assert.ok(e.linf <= e.eps + 1e-6, `‖δ‖∞ ${e.linf} ≤ ε ${e.eps}`);
    assert.ok(e.broken_by === null || ['fgsm', 'pgd-1'].includes(e.broken_by), String(e.broken_by));
    if (e.broken_by !== null) assert.ok(e.adv_pred !== e.label && e.clean_pred === e.label);
  }
  // A line per stage (of a composition) and batch that had images to attack, in ε order: what it broke, of how many, in what time.
  const expected: string[] = [];
  for (const eps of [0.1, 0.3]) {
    let left = lines.filter((e) => e.eps === eps && e.clean_pred === e.label);
    for (const stage of ['fgsm', 'pgd-1']) {
      const broken = left.filter((e) => e.broken_by === stage).length;
      if (left.length > 0) expected.push(`${stage} broke ${broken} of ${left.length}`);
      left = left.filter((e) => e.broken_by !== stage);
    }
  }
  const stageLines = r.stdout.split('\n').filter((l) => l.startsWith('  images '));
  assert.equal(
    stageLines.map((l) => l.replace(/^ {2}images 1-4: (.*) in (\d+m)?\d+s$/, '$1')),
    expected,
    r.stdout,
  );
  const card = JSON.parse(readFileSync(at('out/card.json'), 'utf8'));
  assert.is(
    card.checkpoint_sha256,
    createHash('sha256')
      .update(readFileSync(at('run/model.safetensors')))
      .digest('hex'),
  );
  assert.is(card.threat_model, 'Linf');
  assert.equal(
    card.evaluations.map((e: { eps: number }) => e.eps),
    [0.1, 0.3],
  );
  for (const e of card.evaluations) {
    assert.ok(e.robust_interval_95[0] <= e.robust_accuracy && e.robust_accuracy <= e.robust_interval_95[1]);
    assert.is(e.n, 4);
  }
  assert.is(card.training_config.method, 'natural');
  assert.match(readFileSync(at('out/card.md'), 'utf8'), /SHA-256/);
  const svg = readFileSync(at('out/curve.svg'), 'utf8');
  assert.ok(svg.includes('<svg') && svg.trimEnd().endsWith('</svg>') && !/NaN|undefined/.test(svg));
});

test('--save-adversarial writes images and labels; L2 with Square; --json carries stages and flags', () => {
  const r = yopo(
    'eval',
    ...CKPT,
    ...DATA,
    '--norm',
    'l2',
    '--attack',
    'fgm+square-10',
    '--limit',
    '3',
    '--save-adversarial',
    'out/adv.safetensors',
    '--json',
  );
  succeeds(r, 'yopo eval --save-adversarial');
  const result = JSON.parse(r.stdout);
  assert.is(result.norm, 'l2');
  assert.is(result.eps, 2, 'RobustBench L2 radius for MNIST');
  assert.equal(
    result.stages.map((s: { attack: string }) => s.attack),
    ['fgm', 'square-10'],
  );
  // Each stage's wall time, and the evaluation's and sanity checks' (what docs/notes/evaluation-cost.md records).
  for (const s of result.stages) assert.ok(s.seconds >= 0 && s.seconds < 600, `stage ${s.attack} seconds ${s.seconds}`);
  assert.ok(
    result.seconds.evaluation >= result.stages[0].seconds + result.stages[1].seconds,
    `evaluation ${result.seconds.evaluation} s covers its stages`,
  );
  assert.ok(result.seconds.sanity > 0, 'sanity checks ran and were timed');
  assert.ok(Array.isArray(result.sanity_flags));
  const file = decodeSafetensors(readFileSync(at('out/adv.safetensors')));
  assert.equal(file.tensors.get('adversarial')!.shape, [3, 1, 28, 28]);
  assert.equal(Array.from(file.tensors.get('labels')!.data), Array.from(testSet.labels.slice(0, 3)));
  assert.ok(
    existsSync(at('run/model-card.md')) && existsSync(at('run/model-card.json')),
    'the card goes beside the checkpoint by default',
  );
});

test('the writing rule: eval never replaces a file yopo did not write unless --force, never the checkpoint, and needs the folders it writes into', () => {
  const QUICK = [...CKPT, ...DATA, '--attack', 'fgsm', '--limit', '1', '--no-sanity'];
  const refused = (r: CliResult, message: RegExp, what: string) => {
    assert.is(r.status, 2, `${what}: exit 2 (stderr: ${r.stderr})`);
    assert.is(r.errorLines.length, 1, `${what}: one line: ${r.stderr}`);
    assert.match(r.errorLines[0], message, what);
  };
  // A card beside the checkpoint that the user wrote: kept, unless --force; then it is yopo's and may be redrawn.
  rmSync(at('run/model-card.json'), { force: true });
  writeFileSync(at('run/model-card.md'), 'my own notes');
  refused(
    yopo('eval', ...QUICK),
    /run\/model-card\.md already exists and is not a model card that yopo wrote; add --force to replace it/,
    "a user's model-card.md",
  );
  assert.is(readFileSync(at('run/model-card.md'), 'utf8'), 'my own notes');
  assert.not.ok(existsSync(at('run/model-card.json')), 'nothing written before the refusal');
  writeFileSync(at('run/model-card.json'), '{"mine": true}');
  refused(
    yopo('eval', ...QUICK),
    /run\/model-card\.json already exists and is not a model card that yopo wrote/,
    "a user's model-card.json",
  );
  succeeds(yopo('eval', ...QUICK, '--force'), 'eval --force');
  assert.match(readFileSync(at('run/model-card.md'), 'utf8'), /^<!-- written by yopo: model card -->\n# Model card/);
  succeeds(yopo('eval', ...QUICK), 'eval again over its own card');

  // The checkpoint itself is never replaced by adversarial images, not even with --force.
  const model = readFileSync(at('run/model.safetensors'));
  for (const force of [[], ['--force']]) {
    refused(
      yopo('eval', ...QUICK, '--save-adversarial', 'run/model.safetensors', ...force),
      /--save-adversarial run\/model\.safetensors is the checkpoint being evaluated; choose another file/,
      `--save-adversarial onto the checkpoint ${force.join('')}`,
    );
    refused(
      yopo('eval', ...QUICK, '--save-adversarial', './run/../run/model.safetensors', ...force),
      /is the checkpoint being evaluated/,
      'the checkpoint by another path',
    );
  }
  assert.ok(readFileSync(at('run/model.safetensors')).equals(model), 'the checkpoint is untouched');

  // Files of other kinds, or not yopo's: adversarial images, per-sample lines, the curve of a sweep.
  mkdirSync(at('mine'), { recursive: true });
  writeFileSync(at('mine/adv.safetensors'), 'mine');
  writeFileSync(at('mine/samples.jsonl'), '{"mine": 1}\n');
  writeFileSync(at('mine/curve.svg'), '<svg>mine</svg>');
  refused(
    yopo('eval', ...QUICK, '--save-adversarial', 'mine/adv.safetensors'),
    /mine\/adv\.safetensors already exists and is not adversarial images that yopo wrote; add --force to replace it, or choose another --save-adversarial/,
    'adversarial images',
  );
  refused(
    yopo('eval', ...QUICK, '--per-sample', 'mine/samples.jsonl'),
    /mine\/samples\.jsonl already exists and is not per-sample records that yopo wrote/,
    'per-sample',
  );
  refused(
    yopo('eval', ...QUICK, '--eps', '0.1,0.2', '--curve', 'mine/curve.svg'),
    /mine\/curve\.svg already exists and is not a robustness curve that yopo wrote/,
    'curve',
  );
  assert.is(readFileSync(at('mine/adv.safetensors'), 'utf8'), 'mine');
  assert.is(readFileSync(at('mine/samples.jsonl'), 'utf8'), '{"mine": 1}\n');
  assert.is(readFileSync(at('mine/curve.svg'), 'utf8'), '<svg>mine</svg>');
  // Its own files it rewrites: adversarial images over adversarial images, per-sample over per-sample.
  succeeds(
    yopo(
      'eval',
      ...QUICK,
      '--save-adversarial',
      'mine/adv.safetensors',
      '--per-sample',
      'mine/samples.jsonl',
      '--force',
    ),
    'with --force',
  );
  succeeds(
    yopo('eval', ...QUICK, '--save-adversarial', 'mine/adv.safetensors', '--per-sample', 'mine/samples.jsonl'),
    'over its own files',
  );
  assert.is(decodeSafetensors(readFileSync(at('mine/adv.safetensors'))).metadata['yopo.file'], 'adversarial-images');

  // A folder that does not exist is not created quietly: one line, nothing made.
  refused(
    yopo('eval', ...QUICK, '--card', 'nofolder/card'),
    /--card nofolder\/card\.json: the folder nofolder does not exist \(create it first\)/,
    '--card in a missing folder',
  );
  refused(
    yopo('eval', ...QUICK, '--per-sample', 'nofolder/s.jsonl'),
    /--per-sample nofolder\/s\.jsonl: the folder nofolder does not exist/,
    '--per-sample in a missing folder',
  );
  assert.not.ok(existsSync(at('nofolder')));
});

test("file marks: each kind of file is recognised by its own mark, and no other kind's", () => {
  mkdirSync(at('marks'), { recursive: true });
  const files: Record<OwnedKind, string | Uint8Array> = {
    checkpoint: encodeSafetensors({ w: { shape: [1], data: new Float32Array(1) } }, { 'yopo.step': '3' }),
    'adversarial-images': encodeSafetensors(
      { w: { shape: [1], data: new Float32Array(1) } },
      { 'yopo.file': MARKS.adversarialImages },
    ),
    'model-card': `${MARKS.modelCard}\n# Model card\n`,
    'model-card-json': JSON.stringify({ written_by: MARKS.modelCardJson }),
    'robustness-curve': `<svg xmlns="http://www.w3.org/2000/svg">${MARKS.robustnessCurve}</svg>`,
    'comparison-chart': `<svg xmlns="http://www.w3.org/2000/svg">${MARKS.comparisonChart}</svg>`,
    'per-sample': '{"eps":0.3,"norm":"linf","index":0,"label":7}\n',
    'tuning-cache': JSON.stringify({ version: 1, choices: {} }),
    'reproduction-report': `${MARKS.reproduction}\n# Report\n`,
    'reproduction-json': JSON.stringify({ written_by: MARKS.reproductionJson }),
  };
  const kinds = Object.keys(files) as OwnedKind[];
  for (const kind of kinds) writeFileSync(at('marks', kind), files[kind]);
  writeFileSync(at('marks', 'plain'), "a user's file");
  for (const kind of kinds) {
    // The two SVG kinds and reproduce's report share no mark; the JSON kinds differ by their written_by.
    const recognised = kinds.filter((k) => hasMark(at('marks', k), kind));
    assert.equal(recognised, [kind], `only a ${kind} file has the mark of ${kind}`);
    assert.not.ok(hasMark(at('marks', 'plain'), kind), `a plain file is no ${kind}`);
  }
});

test('bad values of the new options: one line on stderr, exit 2, no file written', () => {
  rmSync(at('out'), { recursive: true, force: true });
  const before = readdirSync(root).sort();
  const cases: [string[], RegExp][] = [
    [['--eps', '0.1,abc'], /--eps must be a non-negative number .*'abc'/],
    [['--eps', '0.1,0.1'], /--eps lists a value twice/],
    [['--norm', 'l3'], /--norm must be one of linf, l2/],
    [['--attack', 'apgd-x'], /--attack: unknown attack 'apgd-x'/],
    [['--attack', 'pgd-0'], /--attack: attack 'pgd-0' takes no step/],
    [['--attack', 'pgd-2+'], /--attack: unknown attack ''/],
    [['--per-sample', 'x.txt'], /--per-sample must name a \.jsonl file/],
    [['--save-adversarial', 'x.bin'], /--save-adversarial must name a \.safetensors file/],
    [['--save-adversarial', 'a.safetensors', '--eps', '0.1,0.2'], /--save-adversarial needs a single --eps/],
    [['--curve', 'c.png'], /--curve must name a \.svg file/],
  ];
  for (const [args, message] of cases) {
    const r = yopo('eval', ...CKPT, ...DATA, ...args);
    const what = `yopo eval ${args.join(' ')}`;
    assert.is(r.status, 2, `${what}: exit 2 (stderr: ${r.stderr})`);
    assert.is(r.errorLines.length, 1, `${what}: one line: ${r.stderr}`);
    assert.match(r.errorLines[0], message, what);
    assert.is(r.stdout, '', what);
  }
  assert.equal(readdirSync(root).sort(), before, 'no file or folder added');
});

test.after(() => box.remove());
test.run();
