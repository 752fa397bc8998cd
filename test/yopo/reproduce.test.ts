// `yopo reproduce` end to end at a tiny scale, as a user runs it (`node dist/cli/main.js` subprocesses,
// CPU backend, the first 12 MNIST training images with 4 held out, batches of 4, one epoch: two steps
// per method, evaluated after each step). A quick PGD-2 stands in for the paper's PGD-40 and FGSM for
// APGD-CE + APGD-T, so that the test checks the experiment's bookkeeping, not the attacks (tested
// elsewhere): the run order, resume after a kill between the two methods, the report's numbers against
// the run folders' metrics, the figure's series, the shared baseline, and the folders it refuses.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MetricsLog } from '../../yopo/report/index.js';
import {
  type ExperimentResults,
  type MethodResult,
  collapseSentence,
  detectCollapse,
  measured,
  renderFigure,
} from '../../yopo/reproduce/index.js';

const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const RUNTIME_DIR = process.env.XDG_RUNTIME_DIR ?? '/tmp/yopo-runtime';
const root = mkdtempSync(join(tmpdir(), 'yopo-reproduce-'));
const out = join(root, 'figure');
const TINY = [
  '--epochs',
  '1',
  '--eval-every-minutes',
  '0.001',
  '--batch-size',
  '4',
  '--limit',
  '12',
  '--val-split',
  '4',
  '--eval-limit',
  '4',
  '--test-limit',
  '4',
  '--attack',
  'pgd-2',
  '--strong-attack',
  'fgsm',
  '--backend',
  'cpu',
];
const command = (dir: string, ...more: string[]) => ['reproduce', 'mnist-time', '--out', dir, ...TINY, ...more];

function yopo(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: RUNTIME_DIR },
    timeout: 600_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `yopo ARGS` and SIGKILLs it at the first stdout line matching `at`; resolves with its output. */
function killAt(args: string[], at: RegExp): Promise<{ stdout: string; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, XDG_RUNTIME_DIR: RUNTIME_DIR },
    });
    let stdout = '';
    let killed = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!killed && at.test(stdout)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', () => resolve({ stdout, killed }));
  });
}

const read = (file: string) => readFileSync(file, 'utf8');

test('the methods run one after another; a kill between them resumes where it stopped, redoing nothing', async () => {
  const first = await killAt(command(out), /\[2\/2 pgd-40\] training/);
  assert.ok(first.killed, `killed when the second method started:\n${first.stdout}`);
  const yopoAt = first.stdout.indexOf('[1/2 yopo-5-10-figure] training');
  assert.ok(yopoAt >= 0 && yopoAt < first.stdout.indexOf('[2/2 pgd-40] training'), 'YOPO first, then PGD-40');
  const yopoDir = join(out, 'yopo-5-10-figure');
  assert.ok(existsSync(join(out, 'reproduce.json')), "the folder is marked as reproduce's");
  assert.not.ok(existsSync(join(out, 'report.md')), 'no report before every method is measured');
  const before = {
    metrics: read(join(yopoDir, 'metrics.jsonl')),
    added: read(join(yopoDir, 'reproduce_evaluations.jsonl')),
  };
  const added = MetricsLog.read(join(yopoDir, 'reproduce_evaluations.jsonl'));
  assert.equal(
    added.map((a) => a.kind),
    ['mark', 'mark', 'last', 'best'],
    'both marks under the strong attack, then the final checkpoints',
  );

  const second = yopo(command(out));
  assert.is(second.status, 0, second.stderr);
  assert.not.match(
    second.stdout,
    /\[1\/2 yopo-5-10-figure\] (training|resuming)/,
    'the finished method is not trained again',
  );
  assert.not.match(second.stdout, /\[1\/2 yopo-5-10-figure\] mark/, 'nor evaluated again');
  assert.match(second.stdout, /\[2\/2 pgd-40\] (training|resuming)/);
  assert.is(read(join(yopoDir, 'metrics.jsonl')), before.metrics);
  assert.is(read(join(yopoDir, 'reproduce_evaluations.jsonl')), before.added);
  for (const file of ['report.md', 'figure.svg', 'results.json']) assert.ok(existsSync(join(out, file)), file);
  // Once finished, the same command again only rewrites the report.
  const third = yopo(command(out));
  assert.is(third.status, 0, third.stderr);
  assert.not.match(third.stdout, /\] (training|resuming|mark)/);
});

test("the report's numbers are the run folders' metrics", () => {
  const results = JSON.parse(read(join(out, 'results.json'))) as ExperimentResults;
  const report = read(join(out, 'report.md'));
  assert.equal(
    results.methods.map((m) => m.name),
    ['yopo-5-10-figure', 'pgd-40'],
  );
  for (const m of results.methods) {
    const records = MetricsLog.read(join(out, m.name, 'metrics.jsonl'));
    const added = MetricsLog.read(join(out, m.name, 'reproduce_evaluations.jsonl'));
    const evaluations = records.filter((r) => r.final === undefined && typeof r.robust_accuracy === 'number');
    const steps = records.filter((r) => 'loss' in r);
    assert.is(m.steps, 2, `${m.name}: two steps`);
    assert.is(m.trainingS, steps[steps.length - 1].elapsed_s);
    assert.is(m.firstStepS, steps[0].elapsed_s);
    assert.ok(
      Math.abs(m.secondsPerStep! - (steps[1].elapsed_s - steps[0].elapsed_s)) < 1e-9,
      'time per step after the first',
    );
    assert.equal(
      m.marks.map((k) => k.step),
      evaluations.map((r) => r.step),
      `${m.name}: one mark per evaluation`,
    );
    assert.is(m.marks.length, 2);
    for (const [i, k] of m.marks.entries()) {
      const r = evaluations[i];
      assert.equal(
        [k.elapsed_s, k.clean.accuracy, k.paper.accuracy, k.paper.n, k.load_average],
        [r.elapsed_s, r.clean_accuracy, r.robust_accuracy, r.n, r.load_average],
      );
      const strong = added.find((a) => a.kind === 'mark' && a.step === r.step)!;
      assert.equal([k.strong!.accuracy, k.strong!.n], [strong.robust_accuracy, strong.n]);
      assert.is(typeof r.load_average, 'number', 'the load average is recorded at every evaluation');
      const row = `| ${m.name} | ${k.step} | `;
      assert.ok(
        report
          .split('\n')
          .some((line) => line.startsWith(row) && line.includes(`${(100 * k.paper.accuracy).toFixed(1)}% [`)),
        `report row for ${m.name} step ${k.step}`,
      );
    }
    const finalLast = records.find((r) => r.final === 'last')!;
    assert.is(m.last.paper!.accuracy, finalLast.test_robust_accuracy);
    assert.is(m.last.strong!.accuracy, added.find((a) => a.kind === 'last')!.robust_accuracy);
    assert.is(m.last.paper!.n, 4);
  }
  assert.match(report, /pgd-2 \(the paper's\) and fgsm/);
  assert.match(
    report,
    /Its points \(pgd-40 robust accuracy first reached at\), with the first mark where ours \(pgd-2\) reached the same: 50% at 13 s \(ours: /,
    "the paper's points beside ours",
  );
  assert.is(results.timeToReach.length, 4, 'each method against the other, under both attacks');
});

test("the figure: robust accuracy of both methods under both attacks, and the paper's points", () => {
  const results = JSON.parse(read(join(out, 'results.json'))) as ExperimentResults;
  const svg = read(join(out, 'figure.svg'));
  assert.is(
    svg.replace('\n<!-- written by yopo reproduce -->', ''),
    renderFigure(results),
    'drawn from the same numbers as results.json',
  );
  assert.ok(
    read(join(out, 'report.md')).startsWith('<!-- written by yopo reproduce -->\n'),
    "the report carries reproduce's mark",
  );
  for (const label of [
    'yopo-5-10-figure, pgd-2',
    'yopo-5-10-figure, fgsm',
    'pgd-40, pgd-2',
    'pgd-40, fgsm',
    'paper (yopo-5-10-figure), pgd-2',
    'paper (pgd-40), pgd-2',
  ]) {
    assert.ok(svg.includes(`>${label}<`), `legend: ${label}`);
  }
  const curves = svg.slice(svg.indexOf('<g clip-path'));
  assert.is((curves.match(/<path d="M/g) ?? []).length, 4, "four curves; the paper's points are not joined");
  assert.is(
    (curves.match(/<circle [^>]*r="4"/g) ?? []).length,
    6 + 2,
    "the paper's three points per method, and their two legend marks",
  );
});

test("a second setting shares the first one's PGD-40 run (--baseline) instead of training it again", () => {
  const shared = join(root, 'final');
  const r = yopo(command(shared, '--setting', 'final', '--baseline', join(out, 'pgd-40')));
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /\[1\/2 yopo-5-10\] training/);
  assert.not.match(r.stdout, /\[2\/2 pgd-40\] (training|resuming|mark)/);
  const results = JSON.parse(read(join(shared, 'results.json'))) as ExperimentResults;
  assert.equal(
    results.methods.map((m) => [m.name, m.preset]),
    [
      ['yopo-5-10', 'mnist-yopo-5-10'],
      ['pgd-40', 'mnist-pgd-40'],
    ],
  );
  assert.is(results.methods[1].dir, join(out, 'pgd-40'));
  // A baseline trained with other settings is refused.
  const other = yopo([
    'reproduce',
    'mnist-time',
    '--out',
    join(root, 'other'),
    ...TINY.map((a) => (a === '12' ? '16' : a)),
    '--baseline',
    join(out, 'pgd-40'),
  ]);
  assert.is(other.status, 2);
  assert.match(other.stderr, /--baseline .* was trained with other settings/);
});

test('reproduce refuses folders it did not write and other settings in its own, in one line, touching nothing', () => {
  const foreign = join(root, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'notes.txt'), 'mine');
  const cases: [string[], RegExp][] = [
    [command(foreign), /holds notes\.txt that yopo reproduce did not write/],
    [command(out, '--seed', '1'), /holds a yopo reproduce run with other settings \(seed: 0\)/],
    [['reproduce', 'mnist-tme', '--out', foreign], /unknown experiment 'mnist-tme'/],
    [
      ['reproduce', 'mnist-time', '--out', foreign, '--setting', 'fast'],
      /--setting must be one of figure, final, warmup/,
    ],
    [['reproduce', 'mnist-time', '--out', foreign, '--epochs', '2'], /--epochs needs --eval-every-minutes/],
  ];
  for (const [args, error] of cases) {
    const r = yopo(args);
    assert.is(r.status, 2, args.join(' '));
    assert.match(r.stderr, error);
    assert.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  assert.is(read(join(foreign, 'notes.txt')), 'mine');
  // In its own folder, a report.md it did not write is refused before any training.
  const own = join(root, 'own');
  mkdirSync(own);
  writeFileSync(join(own, 'reproduce.json'), JSON.stringify({ settings: { experiment: 'mnist-time' } }));
  writeFileSync(join(own, 'report.md'), 'my notes');
  const r = yopo(command(own));
  assert.is(r.status, 2);
  assert.match(r.stderr, /report\.md already exists and is not a reproduction report that yopo wrote/);
  assert.is(read(join(own, 'report.md')), 'my notes');
  const list = yopo(['reproduce', '--list']);
  assert.is(list.status, 0);
  for (const name of ['mnist-time', 'cifar10-time', 'cifar10-wrn', 'cifar10-trades'])
    assert.match(list.stdout, new RegExp(`^${name} `, 'm'));
  assert.match(list.stdout, /--setting figure\|final\|warmup/);
});

test('the warm-up preset trains at (step + 1)/200 of 0.1 at its first steps', () => {
  const dir = join(root, 'warmup-run');
  const r = yopo([
    'train',
    '--preset',
    'mnist-yopo-5-10-warmup',
    '--epochs',
    '1',
    '--batch-size',
    '4',
    '--limit',
    '12',
    '--val-split',
    '4',
    '--eval-limit',
    '4',
    '--test-limit',
    '4',
    '--eval-attack',
    'fgsm',
    '--backend',
    'cpu',
    '--out',
    dir,
  ]);
  assert.is(r.status, 0, r.stderr);
  const lrs = MetricsLog.read(join(dir, 'metrics.jsonl'))
    .filter((x) => 'loss' in x)
    .map((x) => x.lr as number);
  assert.equal(
    lrs.map((lr) => Number(lr.toPrecision(6))),
    [0.1 / 200, 0.2 / 200],
  );
});

test('a collapse is clean accuracy falling to 25% or below after reaching 50%, said plainly, with whether it recovered', () => {
  const marks = (...clean: number[]) => clean.map((c, i) => ({ elapsed_s: 60 * (i + 1), clean: measured(c, 200) }));
  assert.is(detectCollapse(marks(0.1, 0.3, 0.45, 0.2)), null, 'never well above chance');
  assert.is(detectCollapse(marks(0.4, 0.7, 0.3, 0.9)), null, 'a dip that stays above 25%');
  assert.equal(detectCollapse(marks(0.4, 0.7, 0.22, 0.21)), {
    peak: 0.7,
    peakS: 120,
    fallen: 0.22,
    fallenS: 180,
    recovered: false,
  });
  assert.equal(detectCollapse(marks(0.6, 0.1, 0.8))?.recovered, true);
  const method = {
    name: 'yopo-5-10-figure',
    collapse: detectCollapse(marks(0.4, 0.7, 0.22)),
    diverged: null,
  } as MethodResult;
  assert.is(
    collapseSentence(method),
    'yopo-5-10-figure collapsed: its clean accuracy reached 70.0% at 2m00s, then fell to 22.0% at 3m00s, near chance (10%) and did not recover in its budget.',
  );
});

test.run();
