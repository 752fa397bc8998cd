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

import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random } from '../engine/random.js';
import { decodeSafetensors, encodeSafetensors } from '../nn/safetensors.js';
import { CpuBackend } from '../engine/cpu/backend.js';
import { setBackend } from '../engine/index.js';
import { type Classifier, Linear } from '../nn/index.js';
import { ModelSelection } from '../cli/model_selection.js';
import { RunFolder } from '../cli/run_folder.js';
import { writeMnist } from '../yopo/data/index.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'yopo-run-state-'));
const at = (...parts: string[]) => join(root, ...parts);

function tinyMnist(count: number, rng: Random): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(count * 784);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 10;
    for (let p = 0; p < 784; p++) images[i * 784 + p] = rng.int(256);
  }
  return { images, labels };
}
const rng = new Random(3);
const train = tinyMnist(4, rng);
const testSplit = tinyMnist(2, rng);
writeMnist(at('data'), 'train', train.images, train.labels);
writeMnist(at('data'), 'test', testSplit.images, testSplit.labels);

interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', ...extra };
  delete e.YOPO_DEBUG;
  delete e.YOPO_KILL_AT;
  delete e.YOPO_FAULT_TRACE;
  return { ...e, ...extra };
}

function yopo(args: string[], extraEnv: Record<string, string> = {}): Result {
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [CLI, ...args], { cwd: root, env: env(extraEnv), encoding: 'utf8', timeout: 180_000 });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const RUN = ['train', '--data-dir', 'data', '--method', 'natural', '--limit', '2', '--batch-size', '1', '--eval-limit', '1', '--eval-attack', 'none', '--eval-every', '1', '--epochs', '1', '--backend', 'cpu'];

type Json = Record<string, unknown>;
const metrics = (dir: string): Json[] =>
  readFileSync(at(dir, 'metrics.jsonl'), 'utf8').trimEnd().split('\n').map((l) => {
    const { elapsed_s: _e, images_per_s: _i, ...rest } = JSON.parse(l) as Json;
    return rest;
  });
const tensorBytes = (path: string) => {
  const bytes = readFileSync(path);
  return bytes.subarray(8 + Number(bytes.readBigUInt64LE(0)));
};

test('SIGKILL between any two file writes: --resume (or a plain restart) ends exactly like an uninterrupted run', () => {
  const traced = yopo([...RUN, '--out', 'runs/reference'], { YOPO_FAULT_TRACE: at('trace.txt') });
  assert.is(traced.status, 0, traced.stderr);
  const points = readFileSync(at('trace.txt'), 'utf8').trimEnd().split('\n');
  const reference = { metrics: metrics('runs/reference'), model: tensorBytes(at('runs/reference/model.safetensors')) };
  // One checkpoint cycle holds every kind of transition (config, a step record, the training state,
  // the exported model, an evaluation record, the curve, and the state again); then the run's end.
  const cycleEnd = points.indexOf('metrics.jsonl: step appended', points.indexOf('metrics.jsonl: step appended') + 1);
  const chosen = process.env.YOPO_KILL_ALL ? points.map((_, i) => i + 1) : [...Array.from({ length: cycleEnd }, (_, i) => i + 1), points.length - 1];
  for (const k of chosen) {
    const dir = `runs/kill-${k}`;
    const killed = yopo([...RUN, '--out', dir], { YOPO_KILL_AT: String(k) });
    assert.is(killed.signal, 'SIGKILL', `killed at point ${k} (${points[k - 1]}): ${killed.stderr}`);
    const hasState = existsSync(at(dir, 'training_state.safetensors'));
    // No checkpoint yet: the same command again (its own files are replaced); else --resume.
    const again = hasState ? yopo(['train', '--out', dir, '--resume']) : yopo([...RUN, '--out', dir]);
    const what = `after SIGKILL at point ${k} (${points[k - 1]}), ${hasState ? '--resume' : 'a restart'}`;
    const finished = again.status === 2 && /has finished its 1 epochs/.test(again.stderr);
    assert.ok(again.status === 0 || finished, `${what}: exit ${again.status}\n${again.stdout}\n${again.stderr}`);
    assert.equal(metrics(dir), reference.metrics, `${what}: the same records as the uninterrupted run`);
    assert.ok(tensorBytes(at(dir, 'model.safetensors')).equals(reference.model), `${what}: the same final weights`);
    assert.equal(readdirSync(at(dir)).filter((f) => f.includes('.tmp')), [], `${what}: no temp file left`);
    assert.not.ok(existsSync(at(dir, 'run.lock')), `${what}: the lock is released`);
  }
});

test('two trains on one folder: the second fails with one line naming the first; a stale lock is taken over', async () => {
  // The first runs 12 epochs (24 steps, several seconds; a small rate, so batch-1 steps do not diverge), so it
  // still holds the lock while the second and the --resume below start and fail (with 2 steps it could
  // finish first, and the --resume then found no lock).
  const first = spawn(process.execPath, [CLI, ...RUN, '--epochs', '12', '--lr', '0.001', '--out', 'runs/shared'], { cwd: root, env: env() });
  let out = '';
  first.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const firstDone = new Promise<number | null>((resolve) => first.on('close', resolve));
  // Wait until it holds the lock (it prints its banner once it does).
  while (!/^yopo \d/m.test(out)) await new Promise((r) => setTimeout(r, 50));
  const second = yopo([...RUN, '--out', 'runs/shared']);
  assert.is(second.status, 2);
  assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);
  assert.match(second.stderr, new RegExp(`runs/shared is in use by another yopo process \\(pid ${first.pid}, since `));
  const resumed = yopo(['train', '--out', 'runs/shared', '--resume']);
  assert.is(resumed.status, 2, 'a --resume is refused too');
  assert.match(resumed.stderr, /is in use by another yopo process/);
  assert.is(await firstDone, 0, out);
  const steps = metrics('runs/shared').filter((r) => 'loss' in r).map((r) => r.step);
  assert.equal(steps, Array.from({ length: 24 }, (_, i) => i + 1), 'each step recorded once');

  // A lock whose process is gone (killed by SIGKILL) is stale.
  mkdirSync(at('runs/stale'));
  writeFileSync(at('runs/stale/run.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname(), started: 'then' }));
  const r = yopo([...RUN, '--out', 'runs/stale']);
  assert.is(r.status, 0, r.stderr);
  assert.not.ok(existsSync(at('runs/stale/run.lock')));
});

test('SIGTERM stops like Ctrl-C: a checkpoint, how to resume, exit 143', async () => {
  const child = spawn(process.execPath, [CLI, ...RUN, '--epochs', '2', '--out', 'runs/term'], { cwd: root, env: env() });
  let out = '';
  let sent = false;
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    out += c;
    if (!sent && /batch 1\//.test(out)) {
      sent = true;
      child.kill('SIGTERM');
    }
  });
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.is(status, 143, out);
  assert.match(out, /resume with: yopo train --out runs\/term --resume/);
  const resumed = yopo(['train', '--out', 'runs/term', '--resume']);
  assert.is(resumed.status, 0, resumed.stderr);
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
  assert.match(c.stderr, /precious\.svg already exists and was not written by yopo compare; add --force to replace it/);
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
  writeFileSync(at('runs/badstate/training_state.safetensors'), readFileSync(at('runs/reference/training_state.safetensors')).subarray(0, 500));
  const r = yopo(['train', '--out', 'runs/badstate', '--resume', '--epochs', '3', '--lr', '1e-3']);
  assert.is(r.status, 1);
  assert.is(readFileSync(at('runs/badstate/config.json'), 'utf8'), config, 'config.json untouched');
  assert.not.ok(existsSync(at('runs/badstate/run.lock')));

  // No metrics.jsonl: the resume says so in one line and starts a new one; --lr is recorded.
  const dir = 'runs/nometrics';
  mkdirSync(at(dir));
  for (const f of ['config.json', 'training_state.safetensors', 'model.safetensors']) writeFileSync(at(dir, f), readFileSync(at('runs/reference', f)));
  const m = yopo(['train', '--out', dir, '--resume', '--epochs', '2', '--lr', '1e-3']);
  assert.is(m.status, 0, m.stderr);
  assert.match(m.stdout, /metrics\.jsonl is missing: its records before step 2 are lost; a new one starts here/);
  assert.is((JSON.parse(readFileSync(at(dir, 'config.json'), 'utf8')) as Json).lr, 1e-3);
  const lrs = metrics(dir).filter((x) => 'loss' in x).map((x) => x.lr);
  assert.equal(lrs, [1e-3, 1e-3], 'the new rate in every step record');
});

test('options: exponent notation is a number; zero-strength attacks and methods are refused', () => {
  const eps = yopo([...RUN, '--eps', '1e-3', '--out', 'runs/exp']);
  assert.is(eps.status, 0, eps.stderr);
  assert.is((JSON.parse(readFileSync(at('runs/exp/config.json'), 'utf8')) as Json).eps, 1e-3);
  for (const [args, message] of [
    [['eval', '--checkpoint', 'runs/exp/model.safetensors', '--data-dir', 'data', '--attack', 'pgd-0', '--backend', 'cpu'], /attack 'pgd-0' takes no step/],
    [['eval', '--checkpoint', 'runs/exp/model.safetensors', '--data-dir', 'data', '--attack', 'pgd-3', '--step', '0', '--backend', 'cpu'], /step size 0 never moves/],
    [['eval', '--checkpoint', 'runs/exp/model.safetensors', '--data-dir', 'data', '--attack', 'fgsm', '--eps', '0', '--backend', 'cpu'], /with ε = 0 changes no image/],
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
  const r = yopo(['eval', '--checkpoint', 'nan.safetensors', '--data-dir', 'data', '--attack', 'fgsm', '--backend', 'cpu']);
  assert.is(r.status, 1);
  assert.match(r.stderr, /^yopo eval: checkpoint nan\.safetensors: tensor classifier\.fc3\.bias holds NaN \(at flat index 3 of 10\)/);

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
    [['eval', '--checkpoint', 'runs', '--data-dir', 'data', '--backend', 'cpu'], /^yopo eval: cannot read checkpoint runs: is a folder, expected a file$/],
    [[...RUN, '--out', 'a-file'], /^yopo train: --out a-file is a file, not a folder$/],
    [[...RUN, '--out', 'a-file/run'], /^yopo train: a-file\/run: goes through a file where a folder was expected$/],
    [[...RUN, '--out', long], /^yopo train: runs\/d+…d+\/run \(a path of 309 characters\): is too long a name for this file system$/],
    [['train', '--data-dir', 'a-file', '--out', 'runs/x', '--backend', 'cpu'], /^yopo train: --data-dir a-file is a file, expected a folder$/],
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

test.after(() => {
  rmSync(root, { recursive: true, force: true });
});

test.run();
