// Runs that survive anything: `yopo train` as a subprocess, broken on purpose.
//
// - A kill harness: SIGKILL at named instants of a tiny run (YOPO_KILL_AT, see nn/fault_point.ts),
//   between every pair of file writes of a checkpoint cycle, then the run is resumed (or, with no
//   checkpoint yet, simply started again) and must end exactly where an uninterrupted run ends.
// - Two trains on one folder: the second fails with one line naming the first; a stale lock is taken over.
// - SIGTERM stops like Ctrl-C (exit 143, checkpoint); files yopo did not write are never touched;
//   config.json is validated on --resume and a failed resume changes nothing; NaN in a checkpoint is refused.
//
// Tiny and on the CPU backend: 2 training images in batches of 1 (2 steps), 1 test image, no attack.
// YOPO_KILL_ALL=1 kills at every instant of the run instead of one cycle's worth.

import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random } from '../../engine/random.js';
import { decodeSafetensors, encodeSafetensors } from '../../nn/safetensors.js';
import { CpuBackend } from '../../engine/cpu/backend.js';
import { setBackend } from '../../engine/index.js';
import { type Classifier, Linear } from '../../nn/index.js';
import { ModelSelection } from '../../cli/model_selection.js';
import { RunFolder } from '../../cli/run_folder.js';
import { CliSandbox, type CliResult } from './cli_helpers.js';

const box = new CliSandbox('yopo-run-state-', { train: 4, test: 2, seed: 3 });
const root = box.root;
const at = (...parts: string[]) => box.at(...parts);
const yopo = (args: string[], extraEnv: Record<string, string> = {}): CliResult => box.run(args, extraEnv);

const RUN = [
  'train',
  '--data-dir',
  'data',
  '--method',
  'natural',
  '--limit',
  '2',
  '--batch-size',
  '1',
  '--eval-limit',
  '1',
  '--eval-attack',
  'none',
  '--eval-every',
  '1',
  '--epochs',
  '1',
  '--backend',
  'cpu',
];
/** RUN with a validation split (best.safetensors, the final test evaluations) and --keep-checkpoints: every file an evaluation writes. */
const EVAL_RUN = [
  ...RUN.filter((a, i) => a !== '--limit' && RUN[i - 1] !== '--limit'),
  '--limit',
  '3',
  '--val-split',
  '1',
  '--keep-checkpoints',
];

type Json = Record<string, unknown>;
/** What differs between two runs of the same settings: times, and the machine's load. */
const NOT_REPRODUCIBLE = new Set(['elapsed_s', 'images_per_s', 'load_average']);
const metrics = (dir: string): Json[] =>
  readFileSync(at(dir, 'metrics.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => Object.fromEntries(Object.entries(JSON.parse(l) as Json).filter(([k]) => !NOT_REPRODUCIBLE.has(k))));
const tensorBytes = (path: string) => {
  const bytes = readFileSync(path);
  return bytes.subarray(8 + Number(bytes.readBigUInt64LE(0)));
};
/** The points of curve.svg, by series colour, as their accuracy (y); x is wall-clock time and differs between runs. */
const curvePoints = (dir: string) =>
  [...readFileSync(at(dir, 'curve.svg'), 'utf8').matchAll(/<circle cx="[^"]*" cy="([^"]*)"[^>]*fill="([^"]*)"/g)].map(
    (m) => `${m[2]} ${m[1]}`,
  );

/** Everything a finished run of EVAL_RUN records, timing aside: metrics (steps and evaluations), weights, best, kept checkpoints, the curve. */
function record(dir: string) {
  const kept = existsSync(at(dir, 'checkpoints')) ? readdirSync(at(dir, 'checkpoints')).sort() : [];
  return {
    metrics: metrics(dir),
    model: tensorBytes(at(dir, 'model.safetensors')),
    best: existsSync(at(dir, 'best.safetensors'))
      ? {
          bytes: tensorBytes(at(dir, 'best.safetensors')),
          step: decodeSafetensors(readFileSync(at(dir, 'best.safetensors'))).metadata['yopo.step'],
        }
      : null,
    kept: kept.map((f) => ({ f, bytes: tensorBytes(at(dir, 'checkpoints', f)) })),
    curve: curvePoints(dir),
  };
}

function assertSameRecord(dir: string, reference: ReturnType<typeof record>, what: string): void {
  const got = record(dir);
  assert.equal(
    got.metrics,
    reference.metrics,
    `${what}: the same records (steps and evaluations) as the uninterrupted run`,
  );
  assert.ok(got.model.equals(reference.model), `${what}: the same final weights`);
  assert.is(got.best?.step, reference.best?.step, `${what}: best.safetensors from the same step`);
  assert.ok(
    got.best !== null && reference.best !== null && got.best.bytes.equals(reference.best.bytes),
    `${what}: the same best weights`,
  );
  assert.equal(
    got.kept.map((k) => k.f),
    reference.kept.map((k) => k.f),
    `${what}: the same kept checkpoints`,
  );
  got.kept.forEach((k, i) =>
    assert.ok(k.bytes.equals(reference.kept[i].bytes), `${what}: ${k.f} has the same weights`),
  );
  assert.equal(got.curve, reference.curve, `${what}: the same points on the curve`);
  assert.equal(
    readdirSync(at(dir)).filter((f) => f.includes('.tmp')),
    [],
    `${what}: no temp file left`,
  );
  assert.not.ok(existsSync(at(dir, 'run.lock')), `${what}: the lock is released`);
}

test('SIGKILL between any two file writes: --resume (or a plain restart) ends exactly like an uninterrupted run, evaluations included', () => {
  const traced = yopo([...EVAL_RUN, '--out', 'runs/reference'], { YOPO_FAULT_TRACE: at('trace.txt') });
  assert.is(traced.status, 0, traced.stderr);
  const points = readFileSync(at('trace.txt'), 'utf8').trimEnd().split('\n');
  const reference = record('runs/reference');
  assert.is(
    reference.metrics.filter((r) => 'clean_accuracy' in r).length,
    2,
    'two evaluations on the validation split',
  );
  assert.is(reference.metrics.filter((r) => 'final' in r).length, 2, 'last and best on the test set');
  // One checkpoint cycle holds every kind of transition (config, a step record, the kept checkpoint,
  // best, an evaluation record, the curve, the training state, the exported model); then the run's end.
  const cycleEnd = points.indexOf('metrics.jsonl: step appended', points.indexOf('metrics.jsonl: step appended') + 1);
  const chosen = process.env.YOPO_KILL_ALL
    ? points.map((_, i) => i + 1)
    : [...Array.from({ length: cycleEnd }, (_, i) => i + 1), points.length - 1];
  for (const k of chosen) {
    const dir = `runs/kill-${k}`;
    const killed = yopo([...EVAL_RUN, '--out', dir], { YOPO_KILL_AT: String(k) });
    assert.is(killed.signal, 'SIGKILL', `killed at point ${k} (${points[k - 1]}): ${killed.stderr}`);
    const hasState = existsSync(at(dir, 'training_state.safetensors'));
    // No checkpoint yet: the same command again (its own files are replaced); else --resume.
    const again = hasState ? yopo(['train', '--out', dir, '--resume']) : yopo([...EVAL_RUN, '--out', dir]);
    const what = `after SIGKILL at point ${k} (${points[k - 1]}), ${hasState ? '--resume' : 'a restart'}`;
    const finished = again.status === 2 && /has finished its 1 epochs/.test(again.stderr);
    assert.ok(again.status === 0 || finished, `${what}: exit ${again.status}\n${again.stdout}\n${again.stderr}`);
    assertSameRecord(dir, reference, what);
  }
});

test('Ctrl-C after any step, where an evaluation is due: --resume runs that evaluation, and the record equals an uninterrupted run', () => {
  const points = readFileSync(at('trace.txt'), 'utf8').trimEnd().split('\n');
  const reference = record('runs/reference');
  // SIGINT at each step's record: after step 1 an --eval-every evaluation is due, after step 2 the final one.
  const steps = points.flatMap((p, i) => (p === 'metrics.jsonl: step appended' ? [i + 1] : []));
  assert.is(steps.length, 2);
  for (const k of steps) {
    const dir = `runs/stop-${k}`;
    const stopped = yopo([...EVAL_RUN, '--out', dir], { YOPO_STOP_AT: String(k) });
    const what = `Ctrl-C at point ${k} (${points[k - 1]})`;
    assert.is(stopped.status, 130, `${what}: exit 130\n${stopped.stdout}\n${stopped.stderr}`);
    assert.match(stopped.stdout, /resume with: yopo train --out runs\/stop-\d+ --resume/);
    const dir2 = `runs/stop-kill-${k}`;
    cpSync(at(dir), at(dir2), { recursive: true });
    const trace = at(`resume-trace-${k}.txt`);
    const resumed = yopo(['train', '--out', dir, '--resume'], { YOPO_FAULT_TRACE: trace });
    assert.is(resumed.status, 0, `${what}, then --resume: ${resumed.stdout}\n${resumed.stderr}`);
    assertSameRecord(dir, reference, `${what}, then --resume`);
    // Killed right after the resume recorded that evaluation: resumed again, the evaluation is recorded once.
    const evalPoint = readFileSync(trace, 'utf8').split('\n').indexOf('metrics.jsonl: evaluation appended') + 1;
    assert.ok(evalPoint > 0, 'the resume evaluated');
    assert.is(yopo(['train', '--out', dir2, '--resume'], { YOPO_KILL_AT: String(evalPoint) }).signal, 'SIGKILL');
    const again = yopo(['train', '--out', dir2, '--resume']);
    assert.is(again.status, 0, again.stderr);
    assertSameRecord(dir2, reference, `${what}, then a --resume killed after the evaluation's record, then --resume`);
  }
});

test('two trains on one folder: the second fails with one line naming the first, even once it has a checkpoint; a stale lock is taken over', async () => {
  // The first runs 12 epochs (24 steps, several seconds; a small rate, so batch-1 steps do not diverge), so it
  // still holds the lock while the second and the --resume below start and fail (with 2 steps it could
  // finish first, and the --resume then found no lock).
  const first = box.start([...RUN, '--epochs', '12', '--lr', '0.001', '--out', 'runs/shared']);
  let out = '';
  first.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const firstDone = new Promise<number | null>((resolve) => first.on('close', resolve));
  // Wait until it holds the lock and has written its first checkpoint (the folder now "holds a run").
  while (!/^yopo \d/m.test(out) || !existsSync(at('runs/shared/training_state.safetensors')))
    await new Promise((r) => setTimeout(r, 50));
  const second = yopo([...RUN, '--out', 'runs/shared']);
  assert.is(second.status, 2);
  assert.equal(second.errorLines.length, 1, second.stderr);
  assert.match(second.stderr, new RegExp(`runs/shared is in use by another yopo process \\(pid ${first.pid}, since `));
  const resumed = yopo(['train', '--out', 'runs/shared', '--resume']);
  assert.is(resumed.status, 2, 'a --resume is refused too');
  assert.match(resumed.stderr, new RegExp(`is in use by another yopo process \\(pid ${first.pid},`));
  assert.is(await firstDone, 0, out);
  const steps = metrics('runs/shared')
    .filter((r) => 'loss' in r)
    .map((r) => r.step);
  assert.equal(
    steps,
    Array.from({ length: 24 }, (_, i) => i + 1),
    'each step recorded once',
  );

  // A lock whose process is gone (killed by SIGKILL) is stale.
  mkdirSync(at('runs/stale'));
  writeFileSync(at('runs/stale/run.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), started: 'then' }));
  const r = yopo([...RUN, '--out', 'runs/stale']);
  assert.is(r.status, 0, r.stderr);
  assert.not.ok(existsSync(at('runs/stale/run.lock')));
});

test('an empty or unreadable run.lock is being created, not stale, until it is a few seconds old', () => {
  mkdirSync(at('runs/young-lock'));
  for (const content of ['', '{"pid": 1']) {
    writeFileSync(at('runs/young-lock/run.lock'), content);
    const r = yopo([...RUN, '--out', 'runs/young-lock']);
    assert.is(r.status, 2, r.stderr);
    assert.equal(r.errorLines, [
      `yopo train: runs/young-lock is being taken by another process (its run.lock is not readable yet); try again in a few seconds`,
    ]);
    assert.equal(readdirSync(at('runs/young-lock')), ['run.lock'], 'nothing written, the lock left alone');
  }
  // Old enough: left by a process killed while an older yopo wrote it; taken over.
  const then = new Date(Date.now() - 60_000);
  utimesSync(at('runs/young-lock/run.lock'), then, then);
  const r = yopo([...RUN, '--out', 'runs/young-lock']);
  assert.is(r.status, 0, r.stderr);
  assert.not.ok(existsSync(at('runs/young-lock/run.lock')));
});

test('SIGTERM stops like Ctrl-C: a checkpoint, how to resume, exit 143; a finished run says how many epochs it had', async () => {
  const stopped = await box.interrupted(/batch 1\//, [...RUN, '--epochs', '2', '--out', 'runs/term'], 'SIGTERM');
  assert.is(stopped.status, 143, stopped.stdout);
  assert.match(stopped.stdout, /resume with: yopo train --out runs\/term --resume/);
  const resumed = yopo(['train', '--out', 'runs/term', '--resume']);
  assert.is(resumed.status, 0, resumed.stderr);
  const shorter = yopo(['train', '--out', 'runs/term', '--resume', '--epochs', '1']);
  assert.is(shorter.status, 2);
  assert.equal(shorter.errorLines, [
    'yopo train: runs/term has finished its 2 epochs (--epochs 1 is not more); pass a larger --epochs with --resume to train longer',
  ]);
});

test('files yopo did not write are never deleted or overwritten', () => {
  mkdirSync(at('runs/mine'));
  writeFileSync(at('runs/mine/curve.svg'), 'my own chart');
  const r = yopo([...RUN, '--out', 'runs/mine']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /runs\/mine holds curve\.svg that no yopo run wrote there/);
  assert.is(readFileSync(at('runs/mine/curve.svg'), 'utf8'), 'my own chart');
  assert.equal(readdirSync(at('runs/mine')), ['curve.svg']);

  // compare refuses to overwrite a file it did not write, unless --force.
  writeFileSync(at('precious.svg'), 'not a chart of yopo');
  const c = yopo(['compare', 'runs/reference', '--out', 'precious.svg']);
  assert.is(c.status, 2, c.stderr);
  assert.match(
    c.stderr,
    /precious\.svg already exists and is not a comparison chart that yopo wrote; add --force to replace it, or choose another --out/,
  );
  assert.is(readFileSync(at('precious.svg'), 'utf8'), 'not a chart of yopo');
  assert.is(yopo(['compare', 'runs/reference', '--out', 'precious.svg', '--force']).status, 0);
  assert.is(yopo(['compare', 'runs/reference', '--out', 'precious.svg']).status, 0, 'its own chart it may redraw');
  const refuseModel = yopo(['compare', 'runs/reference', '--out', 'runs/reference/model.safetensors']);
  assert.is(refuseModel.status, 2, 'a checkpoint is never overwritten by a chart');
});

test('--resume checks config.json field by field; a failed resume changes nothing; a missing metrics.jsonl is explained', () => {
  const config = readFileSync(at('runs/reference/config.json'), 'utf8');
  for (const [field, value, message] of [
    ['eps', '"x"', /field 'eps' must be a number ≥ 0 \(got "x"\)/],
    ['batchSize', 'null', /field 'batchSize' must be a whole number ≥ 1 \(got null\)/],
    ['method', '7', /field 'method' must be a string \(got 7\)/],
  ] as const) {
    rmSync(at('runs/badconfig'), { recursive: true, force: true });
    mkdirSync(at('runs/badconfig'));
    const broken = config.replace(new RegExp(`"${field}": [^,\\n]+`), `"${field}": ${value}`);
    writeFileSync(at('runs/badconfig/config.json'), broken);
    const r = yopo(['train', '--out', 'runs/badconfig', '--resume', '--epochs', '3']);
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.is(r.stderr.trim().split('\n').length, 1);
    assert.is(readFileSync(at('runs/badconfig/config.json'), 'utf8'), broken, 'config.json untouched');
  }
  // A resume that fails on its checkpoint does not record its new settings.
  mkdirSync(at('runs/badstate'));
  writeFileSync(at('runs/badstate/config.json'), config);
  writeFileSync(
    at('runs/badstate/training_state.safetensors'),
    readFileSync(at('runs/reference/training_state.safetensors')).subarray(0, 500),
  );
  const r = yopo(['train', '--out', 'runs/badstate', '--resume', '--epochs', '3', '--lr', '1e-3']);
  assert.is(r.status, 1);
  assert.is(readFileSync(at('runs/badstate/config.json'), 'utf8'), config, 'config.json untouched');
  assert.not.ok(existsSync(at('runs/badstate/run.lock')));

  // No metrics.jsonl: the resume says so in one line and starts a new one; --lr is recorded.
  const dir = 'runs/nometrics';
  mkdirSync(at(dir));
  for (const f of ['config.json', 'training_state.safetensors', 'model.safetensors'])
    writeFileSync(at(dir, f), readFileSync(at('runs/reference', f)));
  const m = yopo(['train', '--out', dir, '--resume', '--epochs', '2', '--lr', '1e-3']);
  assert.is(m.status, 0, m.stderr);
  assert.match(m.stdout, /metrics\.jsonl is missing: its records before step 2 are lost; a new one starts here/);
  assert.is((JSON.parse(readFileSync(at(dir, 'config.json'), 'utf8')) as Json).lr, 1e-3);
  const lrs = metrics(dir)
    .filter((x) => 'loss' in x)
    .map((x) => x.lr);
  assert.equal(lrs, [1e-3, 1e-3], 'the new rate in every step record');
});

test("--keep-checkpoints never writes over a user's checkpoints/step-N.safetensors", async () => {
  mkdirSync(at('runs/kept/checkpoints'), { recursive: true });
  writeFileSync(at('runs/kept/checkpoints/step-1.safetensors'), 'my own file');
  const r = yopo([...EVAL_RUN, '--out', 'runs/kept']);
  assert.is(r.status, 2, r.stderr);
  assert.equal(r.errorLines, [
    'yopo train: runs/kept/checkpoints holds step-1.safetensors that no yopo run wrote there; choose another --out (nothing was changed)',
  ]);
  assert.is(readFileSync(at('runs/kept/checkpoints/step-1.safetensors'), 'utf8'), 'my own file');
  assert.equal(readdirSync(at('runs/kept')), ['checkpoints'], 'nothing else written');
  // And where it writes one (a file that appeared since the start, or a resume's step): refused, the file kept.
  setBackend(new CpuBackend());
  const model = new Linear(3, 2, new Random(1)) as unknown as Classifier;
  const selection = new ModelSelection(at('runs/kept'), false, true);
  await selection.afterEvaluation(model, 1, 0.5, {}).then(
    () => assert.unreachable("written over a user's file"),
    (e: Error) =>
      assert.match(
        e.message,
        /checkpoints\/step-1\.safetensors already exists and is not a checkpoint that yopo wrote; move it away first/,
      ),
  );
  assert.is(readFileSync(at('runs/kept/checkpoints/step-1.safetensors'), 'utf8'), 'my own file');
  // Its own checkpoint of that step (a resumed run redoing the evaluation) it replaces.
  rmSync(at('runs/kept/checkpoints/step-1.safetensors'));
  await selection.afterEvaluation(model, 1, 0.5, { 'yopo.step': '1' });
  await selection.afterEvaluation(model, 1, 0.5, { 'yopo.step': '1' });
});

test('--resume resumes the run that was started: an edited config.json is refused naming the field; the same options are accepted', () => {
  const config = readFileSync(at('runs/reference/config.json'), 'utf8');
  for (const [field, value, message] of [
    [
      'method',
      '"pgd-5"',
      /config\.json says method "pgd-5", but the run's training state .*training_state\.safetensors was trained with method "natural"; restore method in config\.json/,
    ],
    ['eps', '0.1', /says eps 0\.1, but .* was trained with eps 0\.3;/],
    ['batchSize', '128', /says batchSize 128, but .* was trained with batchSize 1;/],
  ] as const) {
    const dir = `runs/edited-${field}`;
    cpSync(at('runs/reference'), at(dir), { recursive: true });
    const edited = config.replace(new RegExp(`"${field}": [^,\\n]+`), `"${field}": ${value}`);
    assert.is.not(edited, config);
    writeFileSync(at(dir, 'config.json'), edited);
    const r = yopo(['train', '--out', dir, '--resume', '--epochs', '2']);
    assert.is(r.status, 2, r.stderr);
    assert.is(r.errorLines.length, 1, r.stderr);
    assert.match(r.errorLines[0], message);
    assert.is(readFileSync(at(dir, 'config.json'), 'utf8'), edited, 'config.json untouched');
    assert.equal(metrics(dir), metrics('runs/reference'), 'metrics untouched');
  }
  // Options that say what the run already is are no change.
  cpSync(at('runs/reference'), at('runs/same'), { recursive: true });
  const same = yopo([
    'train',
    '--out',
    'runs/same',
    '--resume',
    '--epochs',
    '2',
    '--method',
    'natural',
    '--batch-size',
    '1',
    '--eps',
    '3/10',
    '--eval-every',
    '1',
    '--data',
    'mnist',
    '--keep-checkpoints',
  ]);
  assert.is(same.status, 0, same.stderr);
  const changed = yopo([
    'train',
    '--out',
    'runs/same',
    '--resume',
    '--epochs',
    '3',
    '--method',
    'natural',
    '--batch-size',
    '2',
  ]);
  assert.is(changed.status, 2);
  assert.match(changed.errorLines[0], /--batch-size cannot be changed/);
  assert.not.match(changed.errorLines[0], /--method/);
});

test('the first error wins: a checkpoint write that fails is reported first, the clean-up on a second line', async () => {
  // As a user who cannot write to a folder made read-only during the run (root could).
  const nobody = { uid: 65534, gid: 65534 };
  mkdirSync(at('ro'));
  chownSync(at('ro'), nobody.uid, nobody.gid);
  chmodSync(root, 0o755);
  const child = box.start([...RUN, '--epochs', '200', '--lr', '0.001', '--out', 'ro/run'], {}, nobody);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const done = new Promise<number | null>((resolve) => child.on('close', resolve));
  // Once its first checkpoint is complete (the state, then the exported model), the folder turns read-only.
  while (!existsSync(at('ro/run/model.safetensors'))) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  chmodSync(at('ro/run'), 0o555);
  const status = await done;
  chmodSync(at('ro/run'), 0o755);
  assert.is(status, 1, `${out}\n${err}`);
  const lines = err.trim().split('\n');
  assert.is(lines.length, 2, err);
  assert.match(
    lines[0],
    /^yopo train: .*ro\/run\/\.(curve\.svg|training_state\.safetensors|model\.safetensors|step-\d+\.safetensors)\.tmp-\d+-[0-9a-f]+: permission denied$/,
  );
  assert.match(lines[1], /^\(cleaning up: removing the run lock ro\/run\/run\.lock: permission denied\)$/, err);
});

test('options are range-checked before anything starts: one line each, nothing written', () => {
  for (const [args, message] of [
    [['--lr', '0'], /^yopo train: --lr must be greater than 0 \(got '0'\)$/],
    [['--momentum', '5'], /^yopo train: --momentum must be less than 1 \(got '5'\)$/],
    [['--momentum', '1'], /^yopo train: --momentum must be less than 1 \(got '1'\)$/],
    [
      ['--eps', '2'],
      /^yopo train: --eps 2 is larger than 1 \(no pixel of an image in \[0, 1\] can move further under L∞\)$/,
    ],
    [['--step', '1.5'], /^yopo train: --step 1\.5 is larger than 1/],
    [
      ['--norm', 'l2', '--eps', '30'],
      /^yopo train: --eps 30 is larger than 28 \(no mnist image in \[0, 1\] is further than that from another under L2\)$/,
    ],
  ] as const) {
    const r = yopo([...RUN, ...args, '--out', 'runs/range']);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.errorLines.length, 1, r.stderr);
    assert.match(r.errorLines[0], message);
    assert.is(r.stdout, '', 'before the banner');
  }
  const e = yopo([
    'eval',
    '--checkpoint',
    'runs/reference/model.safetensors',
    '--data-dir',
    'data',
    '--eps',
    '0.1,2',
    '--backend',
    'cpu',
  ]);
  assert.is(e.status, 2);
  assert.match(e.errorLines[0], /^yopo eval: --eps 2 is larger than 1/);
  assert.not.ok(existsSync(at('runs/range')));
});

test('options: exponent notation is a number; zero-strength attacks and methods are refused', () => {
  const eps = yopo([...RUN, '--eps', '1e-3', '--out', 'runs/exp']);
  assert.is(eps.status, 0, eps.stderr);
  assert.is((JSON.parse(readFileSync(at('runs/exp/config.json'), 'utf8')) as Json).eps, 1e-3);
  for (const [args, message] of [
    [
      [
        'eval',
        '--checkpoint',
        'runs/exp/model.safetensors',
        '--data-dir',
        'data',
        '--attack',
        'pgd-0',
        '--backend',
        'cpu',
      ],
      /attack 'pgd-0' takes no step/,
    ],
    [
      [
        'eval',
        '--checkpoint',
        'runs/exp/model.safetensors',
        '--data-dir',
        'data',
        '--attack',
        'pgd-3',
        '--step',
        '0',
        '--backend',
        'cpu',
      ],
      /step size 0 never moves/,
    ],
    [
      [
        'eval',
        '--checkpoint',
        'runs/exp/model.safetensors',
        '--data-dir',
        'data',
        '--attack',
        'fgsm',
        '--eps',
        '0',
        '--backend',
        'cpu',
      ],
      /with ε = 0 changes no image/,
    ],
    [[...RUN, '--method', 'yopo-2-2', '--step', '0', '--out', 'runs/zero'], /has an adversary that never moves/],
    [[...RUN, '--method', 'pgd-2', '--eps', '0e0', '--out', 'runs/zero'], /with ε = 0 has no adversary/],
  ] as const) {
    const r = yopo([...args]);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.not.ok(existsSync(at('runs/zero')));
});

test('NaN injection: a checkpoint holding NaN is refused on load, naming the tensor', () => {
  const file = decodeSafetensors(readFileSync(at('runs/reference/model.safetensors')));
  (file.tensors.get('classifier.fc3.bias')!.data as Float32Array)[3] = Number.NaN;
  writeFileSync(at('nan.safetensors'), encodeSafetensors(file.tensors, file.metadata));
  const r = yopo([
    'eval',
    '--checkpoint',
    'nan.safetensors',
    '--data-dir',
    'data',
    '--attack',
    'fgsm',
    '--backend',
    'cpu',
  ]);
  assert.is(r.status, 1);
  assert.match(
    r.stderr,
    /^yopo eval: checkpoint nan\.safetensors: tensor classifier\.fc3\.bias holds NaN \(at flat index 3 of 10\)/,
  );

  const state = decodeSafetensors(readFileSync(at('runs/reference/training_state.safetensors')));
  (state.tensors.get('model.conv1.weight')!.data as Float32Array)[0] = Number.POSITIVE_INFINITY;
  mkdirSync(at('runs/naninf'));
  writeFileSync(at('runs/naninf/config.json'), readFileSync(at('runs/reference/config.json')));
  writeFileSync(at('runs/naninf/training_state.safetensors'), encodeSafetensors(state.tensors, state.metadata));
  const resumed = yopo(['train', '--out', 'runs/naninf', '--resume', '--epochs', '2']);
  assert.is(resumed.status, 1);
  assert.match(resumed.stderr, /tensor model\.conv1\.weight holds Infinity/);
});

test('path errors are one line naming the path and what was expected', () => {
  writeFileSync(at('a-file'), 'x');
  const long = `runs/${'d'.repeat(300)}/run`;
  for (const [args, message] of [
    [
      ['eval', '--checkpoint', 'runs', '--data-dir', 'data', '--backend', 'cpu'],
      /^yopo eval: cannot read checkpoint runs: is a folder, expected a file$/,
    ],
    [[...RUN, '--out', 'a-file'], /^yopo train: --out a-file is a file, not a folder$/],
    [[...RUN, '--out', 'a-file/run'], /^yopo train: a-file\/run: goes through a file where a folder was expected$/],
    [
      [...RUN, '--out', long],
      /^yopo train: runs\/d+…d+\/run \(a path of 309 characters\): is too long a name for this file system$/,
    ],
    [
      ['train', '--data-dir', 'a-file', '--out', 'runs/x', '--backend', 'cpu'],
      /^yopo train: --data-dir a-file is a file, expected a folder$/,
    ],
  ] as const) {
    const r = yopo([...args]);
    assert.ok(r.status === 1 || r.status === 2, `${args.join(' ')}: exit ${r.status}`);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, r.stderr);
    assert.match(lines[0], message);
  }
});

test('cleanup after a failure removes only what this run created, and reports its own errors instead of raising them', () => {
  mkdirSync(at('runs/cleanup'));
  writeFileSync(at('runs/cleanup/notes.txt'), 'mine');
  const folder = new RunFolder(at('runs/cleanup'));
  writeFileSync(folder.willWrite('config'), '{}');
  writeFileSync(folder.willWrite('metrics'), '');
  // A created file that cannot be removed (replaced by a non-empty folder).
  mkdirSync(folder.willWrite('curve'));
  writeFileSync(join(folder.files.curve, 'x'), 'x');
  const errors = folder.removeCreated();
  assert.is(errors.length, 1);
  assert.match(errors[0], /could not remove .*curve\.svg/);
  assert.equal(readdirSync(at('runs/cleanup')).sort(), ['curve.svg', 'notes.txt']);
});

test('best.safetensors is a run file: a failed run removes the one it wrote; a folder holding one that no yopo run wrote is refused', async () => {
  setBackend(new CpuBackend());
  const model = new Linear(3, 2, new Random(1)) as unknown as Classifier;
  const dir = at('runs/best');
  mkdirSync(dir);
  const folder = new RunFolder(dir);
  const selection = new ModelSelection(dir, true, false, [], () => folder.willWrite('best'));
  const record = await selection.afterEvaluation(model, 1, 0.5, {});
  assert.is(record.best, true);
  assert.ok(existsSync(join(dir, 'best.safetensors')), 'written');
  assert.equal(folder.removeCreated(), []);
  assert.equal(readdirSync(dir), [], 'removed with the files the run created');
  writeFileSync(join(dir, 'best.safetensors'), 'not from yopo');
  assert.throws(() => new RunFolder(dir).checkFreshStart(), /holds best\.safetensors that no yopo run wrote there/);
});

test('yopo demo refuses a model card it did not write before it trains', () => {
  mkdirSync(at('runs/demo-mine'));
  writeFileSync(at('runs/demo-mine/model-card.md'), 'my card');
  const r = yopo(['demo', '--out', 'runs/demo-mine', '--backend', 'cpu', '--minutes', '0.01']);
  assert.is(r.status, 2, r.stderr);
  assert.equal(r.errorLines, [
    'yopo demo: runs/demo-mine/model-card.md already exists and is not a model card that yopo wrote; move it away first (nothing was changed)',
  ]);
  assert.is(r.stdout, '', 'before its banner, before training');
  assert.equal(readdirSync(at('runs/demo-mine')), ['model-card.md']);
});

test('yopo tune never writes its cache over a file that is not a tuning cache, unless --force', async () => {
  // The cache file's name depends on the adapter: ask a device of this process where it would be.
  const cacheDir = at('tune-cache');
  mkdirSync(cacheDir);
  process.env.YOPO_TUNE_CACHE = cacheDir;
  const { useWebGPU, tunerOf } = await import('../../kernels/index.js');
  const backend = await useWebGPU();
  const where = tunerOf(backend.gpu)!.where();
  setBackend(new CpuBackend());
  assert.ok(where.startsWith(cacheDir), where);
  writeFileSync(where, 'my notes, not a cache');
  const r = yopo(['tune', '--batch-size', '1'], { YOPO_TUNE_CACHE: cacheDir });
  assert.is(r.status, 2, r.stderr);
  // (Before it, the device's tuner says it ignores that file: it reads the cache when the device opens.)
  assert.is(
    r.errorLines[r.errorLines.length - 1],
    `yopo tune: ${where} already exists and is not a kernel tuning cache that yopo wrote; add --force to replace it (nothing was changed)`,
  );
  assert.ok(
    r.errorLines.slice(0, -1).every((l) => l.startsWith('yopo: ignoring the kernel tuning cache')),
    r.stderr,
  );
  assert.is(readFileSync(where, 'utf8'), 'my notes, not a cache');
});

test.after(() => box.remove());

test.run();
