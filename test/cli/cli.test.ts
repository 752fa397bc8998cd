// The yopo command as a user runs it: `node dist/cli/main.js ...` as a subprocess, on a tiny
// MNIST-format dataset written into a temp folder (64 training and 40 test images; the test split
// gzip-compressed). Checks the run folder (metrics.jsonl, model.safetensors, config.json, curve.svg),
// that --resume ends exactly where an uninterrupted run ends, `eval --json`, `compare`, --help on every
// command, and that every error is one line on stderr with a non-zero exit and no file touched.
//
// Kept fast: two to four steps on 8-image batches. One training run uses the default WebGPU backend
// (lavapipe here); the others use --backend cpu, whose time does not depend on Mesa's shader cache
// (each new process compiles every WebGPU kernel, which with a cold cache is most of its time).

import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { trainSpec } from '../../cli/train_command.js';
import { CliSandbox, type CliResult } from './cli_helpers.js';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

// 64 training and 40 test images (the test split gzip-compressed).
const box = new CliSandbox('yopo-cli-', { train: 64, test: 40, seed: 7, gzipTest: true });
const root = box.root;
const at = (...parts: string[]) => box.at(...parts);
const yopo = (...args: string[]): CliResult => box.run(args);
/** Runs yopo and sends it SIGINT (Ctrl-C) as soon as its stdout matches `when`. */
const yopoInterrupted = (when: RegExp, ...args: string[]): Promise<CliResult> => box.interrupted(when, args);

function succeeds(r: CliResult, what: string): void {
  if (r.status !== 0) assert.unreachable(`${what}: exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  assert.equal(r.errorLines, [], `${what}: nothing on stderr but Dawn's warnings`);
}

// The tiny runs. --limit and --eval-limit keep them to a few steps and images.
const DATA = ['--data-dir', 'data'];
const YOPO_RUN = [
  'train',
  ...DATA,
  '--method',
  'yopo-2-2',
  '--epochs',
  '1',
  '--limit',
  '16',
  '--batch-size',
  '8',
  '--eval-limit',
  '8',
  '--eval-attack',
  'pgd-2',
];
const NATURAL_RUN = [
  'train',
  ...DATA,
  '--method',
  'natural',
  '--limit',
  '16',
  '--batch-size',
  '8',
  '--eval-limit',
  '8',
  '--eval-attack',
  'fgsm',
  '--eval-every',
  '1',
  '--backend',
  'cpu',
];

// ---- reading what a run wrote ----

type Json = Record<string, unknown>;

function readMetrics(dir: string): Json[] {
  const text = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
  assert.ok(text.endsWith('\n'), 'metrics.jsonl ends with a newline');
  return text
    .trimEnd()
    .split('\n')
    .map((line, i) => {
      try {
        return JSON.parse(line) as Json;
      } catch (e) {
        throw new Error(`${dir}/metrics.jsonl line ${i + 1} is not JSON (${(e as Error).message}): ${line}`);
      }
    });
}

// Times, and the machine's load while it trained, differ between two runs of the same settings.
const TIMING = new Set(['elapsed_s', 'images_per_s', 'load_average']);
const withoutTiming = (records: Json[]) =>
  records.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !TIMING.has(k))));

interface Safetensors {
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  metadata: Record<string, string>;
  data: Buffer;
}

/** A safetensors file, parsed by hand: u64 header length, JSON header, raw tensor bytes. */
function readSafetensors(path: string): Safetensors {
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Json;
  const { __metadata__: metadata = {}, ...tensors } = header;
  const data = bytes.subarray(8 + headerLength);
  const end = Math.max(...Object.values(tensors as Safetensors['header']).map((t) => t.data_offsets[1]));
  assert.is(data.length, end, `${path}: the data section ends where the last tensor does`);
  return { header: tensors as Safetensors['header'], metadata: metadata as Record<string, string>, data };
}

/** Tag balance and nesting of an SVG file (enough to catch a cut-off or garbled file). */
function assertWellFormedSvg(svg: string, what: string): void {
  assert.ok(/^(<\?xml[^>]*\?>\s*)?<svg[\s>]/.test(svg), `${what}: starts with <svg`);
  assert.ok(svg.includes('xmlns="http://www.w3.org/2000/svg"'), `${what}: has the SVG namespace`);
  assert.ok(svg.trimEnd().endsWith('</svg>'), `${what}: ends with </svg>`);
  const stack: string[] = [];
  for (const m of svg
    .replace(/<\?xml[^>]*\?>/, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .matchAll(/<(\/?)([A-Za-z][\w:-]*)\b[^>]*?(\/?)>/g)) {
    const [, close, name, selfClose] = m;
    if (selfClose) continue;
    if (!close) stack.push(name);
    else if (stack.pop() !== name) assert.unreachable(`${what}: </${name}> closes the wrong element`);
  }
  assert.equal(stack, [], `${what}: every element is closed`);
  assert.not.ok(/NaN|undefined|Infinity/.test(svg), `${what}: no NaN/undefined/Infinity in the drawing`);
}

/** Legend labels of a chart (the text of its <text> elements). */
const svgTexts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

/** The option names of `yopo train` as config.json keys ('batch-size' → 'batchSize'). */
function configKey(option: string): string {
  if (option === 'time-budget') return 'timeBudgetMin';
  return option.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
}

interface Expected {
  method: string;
  steps: number;
  attack: string;
  backend: string;
  evalSteps: number[];
}

/** Everything a finished run folder must hold. */
function checkRunFolder(dir: string, stdout: string, e: Expected): Json[] {
  for (const file of ['metrics.jsonl', 'model.safetensors', 'training_state.safetensors', 'config.json', 'curve.svg']) {
    assert.ok(existsSync(join(dir, file)), `${dir}/${file} was written`);
  }
  assert.not.ok(
    readdirSync(dir).some((f) => f.endsWith('.tmp')),
    'no temporary files are left behind',
  );

  // metrics.jsonl: a step record per step, an evaluation record per evaluation.
  const records = readMetrics(dir);
  const steps = records.filter((r) => 'loss' in r);
  const evals = records.filter((r) => 'clean_accuracy' in r);
  assert.is(steps.length + evals.length, records.length, 'every record is a step or an evaluation');
  assert.equal(
    steps.map((r) => r.step),
    Array.from({ length: e.steps }, (_, i) => i + 1),
    'one record per step, in order',
  );
  let lastElapsed = 0;
  for (const r of records) {
    for (const key of ['epoch', 'step', 'elapsed_s']) assert.type(r[key], 'number', `${key} in ${JSON.stringify(r)}`);
    assert.ok((r.elapsed_s as number) >= lastElapsed, 'elapsed_s never goes back');
    lastElapsed = r.elapsed_s as number;
  }
  for (const r of steps) {
    assert.ok(Number.isFinite(r.loss) && (r.loss as number) > 0, `loss is a positive number: ${r.loss}`);
    assert.ok(
      (r.train_accuracy as number) >= 0 && (r.train_accuracy as number) <= 1,
      `train_accuracy in [0, 1]: ${r.train_accuracy}`,
    );
  }
  assert.equal(
    evals.map((r) => r.step),
    e.evalSteps,
    'evaluations where expected, each once',
  );
  for (const r of evals) {
    assert.ok(
      (r.clean_accuracy as number) >= 0 && (r.clean_accuracy as number) <= 1,
      `clean_accuracy in [0, 1]: ${r.clean_accuracy}`,
    );
    assert.ok(
      (r.robust_accuracy as number) >= 0 && (r.robust_accuracy as number) <= 1,
      `robust_accuracy in [0, 1]: ${r.robust_accuracy}`,
    );
    assert.is(r.attack, e.attack);
    assert.is(r.eps, 0.3);
    assert.is(r.n, 8);
  }
  assert.ok('clean_accuracy' in records[records.length - 1], 'the log ends with the final evaluation');

  // model.safetensors: a state dict with the training position.
  const model = readSafetensors(join(dir, 'model.safetensors'));
  assert.ok(Object.keys(model.header).length > 0, 'the checkpoint holds tensors');
  for (const t of Object.values(model.header)) assert.is(t.dtype, 'F32');
  assert.is(model.metadata['yopo.step'], String(e.steps));
  assert.is(model.metadata['yopo.method'], e.method);

  // config.json: every setting of `yopo train`, the adapter and the version.
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Json;
  for (const option of Object.keys(trainSpec.options)) {
    if (option === 'out' || option === 'resume') continue;
    assert.ok(configKey(option) in config, `config.json records --${option} (as ${configKey(option)})`);
  }
  assert.is(config.method, e.method);
  assert.is(config.backend, e.backend);
  assert.is(config.eps, 0.3);
  assert.is(config.version, VERSION);
  assert.type(config.adapter, 'string');
  assert.ok(
    (config.adapter as string).length > 0 && stdout.includes(`on ${config.adapter as string}`),
    `the adapter '${config.adapter}' is the one the run reported`,
  );

  // curve.svg: axes and two labelled curves, clean and robust.
  const svg = readFileSync(join(dir, 'curve.svg'), 'utf8');
  assertWellFormedSvg(svg, `${dir}/curve.svg`);
  const texts = svgTexts(svg);
  for (const label of ['clean', `robust (${e.attack}, eps 0.3)`, 'accuracy (%)'])
    assert.ok(texts.includes(label), `curve.svg has the label '${label}' (has ${texts.join(' | ')})`);
  assert.ok(
    texts.some((t) => t.startsWith('wall-clock time')),
    'curve.svg labels its time axis',
  );
  return records;
}

/** Every file under `dir` with its bytes and modification time. */
function snapshot(dir: string): Map<string, { bytes: Buffer; mtimeMs: number }> {
  const out = new Map<string, { bytes: Buffer; mtimeMs: number }>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path);
      else out.set(path.slice(root.length + 1), { bytes: readFileSync(path), mtimeMs: st.mtimeMs });
    }
  };
  walk(dir);
  return out;
}

function assertUnchanged(before: ReturnType<typeof snapshot>, after: ReturnType<typeof snapshot>, what: string): void {
  assert.equal([...after.keys()], [...before.keys()], `${what}: no file added or removed`);
  for (const [path, b] of before) {
    const a = after.get(path)!;
    assert.ok(a.bytes.equals(b.bytes), `${what}: ${path} has the same bytes`);
    assert.is(a.mtimeMs, b.mtimeMs, `${what}: ${path} was not rewritten`);
  }
}

// ---- the tests ----

test('--help on every command: exit 0, usage on stdout', () => {
  const top = yopo('--help');
  succeeds(top, 'yopo --help');
  assert.ok(top.stdout.includes('usage: yopo COMMAND'), top.stdout);
  const commands = top.stdout
    .split('commands:')[1]
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0]);
  for (const name of ['train', 'eval', 'compare', 'doctor', 'tune'])
    assert.ok(commands.includes(name), `yopo --help lists ${name}`);
  for (const name of commands) {
    for (const flag of ['--help', '-h']) {
      const r = yopo(name, flag);
      succeeds(r, `yopo ${name} ${flag}`);
      assert.ok(r.stdout.startsWith(`yopo ${name}: `), `yopo ${name} ${flag} starts with a summary:\n${r.stdout}`);
      assert.ok(r.stdout.includes(`usage: yopo ${name}`), `yopo ${name} ${flag} shows its usage`);
      assert.ok(r.stdout.includes('--help'), `yopo ${name} ${flag} lists its options`);
    }
  }
  const train = yopo('train', '--help').stdout;
  for (const option of Object.keys(trainSpec.options))
    assert.ok(train.includes(`--${option}`), `train --help describes --${option}`);
  // No command at all: the usage, but a failing exit (it did nothing).
  const bare = yopo();
  assert.is(bare.status, 2);
  assert.ok(bare.stdout.includes('usage: yopo COMMAND'));
});

test('doctor: the adapter, and whether a second device compiles ahead and why', () => {
  const json = yopo('doctor', '--json');
  succeeds(json, 'yopo doctor --json');
  const info = JSON.parse(json.stdout) as { description: string; compileAhead: { on: boolean; why: string } };
  // The tests run on lavapipe with Mesa's cache on unless the environment says otherwise.
  const lavapipe = /llvmpipe|lavapipe/i.test(info.description);
  const expected =
    process.env.YOPO_COMPILE_AHEAD === 'off' || /^(1|true|yes)$/i.test(process.env.MESA_SHADER_CACHE_DISABLE ?? '')
      ? false
      : lavapipe || process.env.YOPO_COMPILE_AHEAD === 'on';
  assert.is(info.compileAhead.on, expected, JSON.stringify(info.compileAhead));
  const text = yopo('doctor');
  succeeds(text, 'yopo doctor');
  assert.match(
    text.stdout,
    new RegExp(
      `compiling ahead on a second device: ${expected ? 'on' : 'off'} \\(${info.compileAhead.why.replace(/[()]/g, '\\$&')}`,
    ),
  );
});

test('train yopo-2-2 on the default backend (WebGPU): metrics, checkpoint, config and curve', () => {
  const r = yopo(...YOPO_RUN, '--out', 'runs/yopo');
  succeeds(r, 'yopo train yopo-2-2');
  assert.ok(r.stdout.includes('done after 2 steps'), r.stdout);
  // No --eval-every: one evaluation, at the end of the run.
  checkRunFolder(at('runs/yopo'), r.stdout, {
    method: 'yopo-2-2',
    steps: 2,
    attack: 'pgd-2',
    backend: 'webgpu',
    evalSteps: [2],
  });
});

test('train natural on the CPU backend, evaluating every step: a two-point curve for each series', () => {
  const r = yopo(...NATURAL_RUN, '--epochs', '1', '--out', 'runs/natural');
  succeeds(r, 'yopo train natural');
  const records = checkRunFolder(at('runs/natural'), r.stdout, {
    method: 'natural',
    steps: 2,
    attack: 'fgsm',
    backend: 'cpu',
    evalSteps: [1, 2],
  });
  assert.equal(
    records.map((x) => ('loss' in x ? `step ${x.step}` : `eval ${x.step}`)),
    ['step 1', 'eval 1', 'step 2', 'eval 2'],
  );
  // Two evaluations: each series is a line (a path), not just a point, in its own color.
  const svg = readFileSync(at('runs/natural/curve.svg'), 'utf8');
  const lines = [...svg.matchAll(/<path d="M[^"]*" stroke="([^"]+)"/g)].map((m) => m[1]);
  assert.is(new Set(lines).size, 2, `two curves in two colors (found ${lines.join(', ')})`);
});

test('--resume continues from the saved step and ends identical to an uninterrupted run', () => {
  // The natural run stopped after epoch 1 of what is now a 2-epoch run; its copy is resumed.
  cpSync(at('runs/natural'), at('runs/resumed'), { recursive: true });
  const resumed = yopo('train', '--out', 'runs/resumed', '--resume', '--epochs', '2');
  succeeds(resumed, 'yopo train --resume');
  assert.ok(resumed.stdout.includes('resuming runs/resumed at epoch 2, batch 1 (step 2,'), resumed.stdout);
  assert.ok(resumed.stdout.includes('done after 4 steps'), resumed.stdout);

  const straight = yopo(...NATURAL_RUN, '--epochs', '2', '--out', 'runs/straight');
  succeeds(straight, 'uninterrupted 2-epoch run');

  // The same records (losses, accuracies, learning rates, evaluations), timing aside.
  const a = withoutTiming(readMetrics(at('runs/straight')));
  const b = withoutTiming(readMetrics(at('runs/resumed')));
  assert.is(a.filter((r) => 'loss' in r).length, 4);
  assert.equal(b, a, 'resumed metrics match the uninterrupted run');

  // The same final weights and optimiser state, bit for bit; the same metadata but the time trained.
  for (const file of ['model.safetensors', 'training_state.safetensors']) {
    const x = readSafetensors(at('runs/straight', file));
    const y = readSafetensors(at('runs/resumed', file));
    assert.equal(y.header, x.header, `${file}: same tensors, shapes and offsets`);
    assert.ok(y.data.equals(x.data), `${file}: identical tensor bytes`);
    const { 'yopo.elapsed': _x, ...metaX } = x.metadata;
    const { 'yopo.elapsed': _y, ...metaY } = y.metadata;
    assert.equal(metaY, metaX, `${file}: same metadata`);
    assert.is(metaY['yopo.step'], '4');
  }
  // The extended run records its new length.
  assert.equal(
    JSON.parse(readFileSync(at('runs/resumed/config.json'), 'utf8')),
    JSON.parse(readFileSync(at('runs/straight/config.json'), 'utf8')),
  );
});

test('Ctrl-C stops after the current step with a checkpoint; --resume then ends identical to an uninterrupted run', async () => {
  // Interrupted during its first epoch (after the first step's progress line), wherever that lands.
  const stopped = await yopoInterrupted(/batch 1\//, ...NATURAL_RUN, '--epochs', '2', '--out', 'runs/interrupted');
  assert.is(stopped.status, 130, `Ctrl-C exits 130 like any interrupted command:\n${stopped.stderr}`);
  assert.equal(stopped.errorLines, [], 'nothing on stderr');
  const match = /stopped after (\d+) steps/.exec(stopped.stdout);
  assert.ok(match, `the run says it stopped:\n${stopped.stdout}`);
  const stopStep = Number(match![1]);
  assert.ok(stopStep >= 1 && stopStep < 4, `stopped early (after ${stopStep} of 4 steps)`);
  assert.ok(stopped.stdout.includes('resume with: yopo train --out runs/interrupted --resume'), stopped.stdout);
  assert.is(
    readSafetensors(at('runs/interrupted/model.safetensors')).metadata['yopo.step'],
    String(stopStep),
    'checkpointed at the step it stopped',
  );

  const resumed = yopo('train', '--out', 'runs/interrupted', '--resume');
  succeeds(resumed, 'yopo train --resume after Ctrl-C');
  assert.ok(resumed.stdout.includes(`(step ${stopStep},`), resumed.stdout);
  assert.ok(resumed.stdout.includes('done after 4 steps'), resumed.stdout);

  // The same steps, evaluations and final weights as the uninterrupted run: the evaluation due at the
  // step where Ctrl-C arrived was skipped to stop quickly, and the resume ran it first.
  const straight = withoutTiming(readMetrics(at('runs/straight')));
  assert.equal(
    withoutTiming(readMetrics(at('runs/interrupted'))),
    straight,
    'resumed metrics, evaluations included, match the uninterrupted run',
  );
  for (const file of ['model.safetensors', 'training_state.safetensors']) {
    assert.ok(
      readSafetensors(at('runs/interrupted', file)).data.equals(readSafetensors(at('runs/straight', file)).data),
      `${file}: identical tensor bytes`,
    );
  }
});

test('eval --json prints one JSON object with the accuracies of the checkpoint', () => {
  const r = yopo(
    'eval',
    '--checkpoint',
    'runs/natural/model.safetensors',
    ...DATA,
    '--limit',
    '8',
    '--attack',
    'fgsm',
    '--eps',
    '3/10',
    '--backend',
    'cpu',
    '--json',
  );
  succeeds(r, 'yopo eval --json');
  const lines = r.stdout.trim().split('\n');
  assert.is(lines.length, 1, `one line on stdout:\n${r.stdout}`);
  const result = JSON.parse(lines[0]) as Json;
  for (const key of ['clean_accuracy', 'robust_accuracy']) {
    assert.type(result[key], 'number');
    assert.ok((result[key] as number) >= 0 && (result[key] as number) <= 1, `${key} in [0, 1]`);
  }
  assert.is(result.attack, 'fgsm');
  assert.is(result.eps, 0.3);
  assert.is(result.n, 8);
  // FGSM has no randomness: the same numbers as the run's own last evaluation (same images, backend).
  const last = readMetrics(at('runs/natural'))
    .filter((x) => 'clean_accuracy' in x)
    .pop()!;
  assert.is(result.clean_accuracy, last.clean_accuracy);
  assert.is(result.robust_accuracy, last.robust_accuracy);

  // The WebGPU run's checkpoint loads on the CPU backend too.
  const cross = yopo(
    'eval',
    '--checkpoint',
    'runs/yopo/model.safetensors',
    ...DATA,
    '--limit',
    '8',
    '--attack',
    'pgd-2',
    '--backend',
    'cpu',
    '--json',
  );
  succeeds(cross, 'yopo eval of the WebGPU checkpoint on the CPU backend');
  const crossResult = JSON.parse(cross.stdout) as Json;
  assert.is(crossResult.attack, 'pgd-2');
  assert.is(crossResult.n, 8);
});

test('compare writes one SVG for several runs and prints a table', () => {
  mkdirSync(at('charts')); // (a folder it writes into must exist)
  const r = yopo('compare', 'runs/yopo', 'runs/natural/', '--out', 'charts/compare.svg');
  succeeds(r, 'yopo compare');
  const svg = readFileSync(at('charts/compare.svg'), 'utf8');
  assertWellFormedSvg(svg, 'compare.svg');
  const texts = svgTexts(svg);
  for (const label of [
    'yopo clean',
    'yopo robust (pgd-2, eps 0.3)',
    'natural clean',
    'natural robust (fgsm, eps 0.3)',
  ]) {
    assert.ok(texts.includes(label), `compare.svg has the legend entry '${label}'`);
  }
  const rows = r.stdout.trim().split('\n');
  assert.ok(/^run\s+clean %\s+robust %\s+wall time\s+epochs\s+steps$/.test(rows[0]), `table header: ${rows[0]}`);
  for (const name of ['yopo', 'natural']) {
    const final = readMetrics(at('runs', name))
      .filter((x) => 'clean_accuracy' in x)
      .pop()!;
    const row = rows.find((line) => line.startsWith(`${name} `));
    assert.ok(row, `a table row for ${name}`);
    const cells = row!.trim().split(/\s+/);
    assert.is(cells[1], (100 * (final.clean_accuracy as number)).toFixed(2), `${name}: final clean accuracy`);
    assert.is(cells[2], (100 * (final.robust_accuracy as number)).toFixed(2), `${name}: final robust accuracy`);
    assert.is(cells[cells.length - 1], '2', `${name}: steps`);
  }
  assert.ok(r.stdout.includes('chart: charts/compare.svg'));
});

test('errors: one line on stderr naming the problem, a non-zero exit, no file written or changed', () => {
  // A truncated copy of a checkpoint, and a run folder whose checkpoint is truncated.
  const model = readFileSync(at('runs/natural/model.safetensors'));
  writeFileSync(at('corrupt.safetensors'), model.subarray(0, 3000));
  cpSync(at('runs/natural'), at('runs/broken'), { recursive: true });
  const state = readFileSync(at('runs/natural/training_state.safetensors'));
  writeFileSync(at('runs/broken/training_state.safetensors'), state.subarray(0, state.length - 100));
  mkdirSync(at('empty'));

  const fresh = ['--out', 'runs/new'];
  const cases: [args: string[], status: number, message: RegExp][] = [
    [[...NATURAL_RUN, '--method', 'bogus', ...fresh], 2, /--method: unknown method 'bogus'/],
    [
      [...NATURAL_RUN, '--method', 'yopo-0-3', ...fresh],
      2,
      /--method: method 'yopo-0-3': every count must be at least 1/,
    ],
    [[...NATURAL_RUN, '--no-such-option', ...fresh], 2, /unknown option '--no-such-option'/],
    [[...NATURAL_RUN, '--eps', 'abc', ...fresh], 2, /--eps must be a non-negative number .*'abc'/],
    [[...NATURAL_RUN, '--eps', '8/0', ...fresh], 2, /--eps must be .*'8\/0'/],
    [[...NATURAL_RUN, '--eps', '-1', ...fresh], 2, /'--eps' argument is ambiguous/],
    [[...NATURAL_RUN, '--epochs', '0', ...fresh], 2, /--epochs must be at least 1 \(got '0'\)/],
    [[...NATURAL_RUN, '--eval-attack', 'pgd', ...fresh], 2, /--eval-attack: unknown attack 'pgd'/],
    [['train', '--data-dir', 'no-such-folder', ...fresh], 2, /--data-dir no-such-folder does not exist/],
    [
      ['train', '--data-dir', 'empty', ...fresh],
      1,
      /mnist: no train images file in empty; looked for train-images-idx3-ubyte/,
    ],
    [['train', ...DATA], 2, /--out DIR is required/],
    [[...NATURAL_RUN, '--epochs', '1', '--out', 'runs/natural'], 2, /runs\/natural already holds a run; add --resume/],
    [['train', '--resume', '--out', 'runs/natural'], 2, /has finished its 1 epochs; pass a larger --epochs/],
    [['train', '--resume', '--out', 'runs/natural', '--momentum', '0.5'], 2, /--momentum cannot be changed/],
    [['train', '--resume', '--out', 'runs/new'], 2, /runs\/new holds no run/],
    [
      ['train', '--resume', '--epochs', '3', '--out', 'runs/broken'],
      1,
      /^yopo train: checkpoint runs\/broken\/training_state\.safetensors is truncated/,
    ],
    [
      ['eval', '--checkpoint', 'corrupt.safetensors', ...DATA, '--limit', '4'],
      1,
      /^yopo eval: checkpoint corrupt\.safetensors is truncated/,
    ],
    [
      ['eval', '--checkpoint', 'runs/natural/training_state.safetensors', ...DATA, '--limit', '4', '--backend', 'cpu'],
      1,
      /does not match the model: missing tensors: conv1\.weight/,
    ],
    [
      ['eval', '--checkpoint', 'no-such.safetensors', ...DATA, '--limit', '4', '--backend', 'cpu'],
      1,
      /cannot read checkpoint no-such\.safetensors/,
    ],
    [
      ['eval', '--checkpoint', 'corrupt.safetensors', '--data-dir', 'no-such-folder'],
      2,
      /--data-dir no-such-folder does not exist/,
    ],
    [['eval', '--checkpoint', 'corrupt.safetensors', '--attack', 'pgd-x'], 2, /--attack: unknown attack 'pgd-x'/],
    [['compare', 'runs/no-such-run'], 2, /runs\/no-such-run has no metrics\.jsonl/],
    [['no-such-command'], 2, /unknown command 'no-such-command'/],
  ];
  const before = snapshot(root);
  for (const [args, status, message] of cases) {
    const what = `yopo ${args.join(' ')}`;
    const r = yopo(...args);
    assert.is(r.status, status, `${what}: exit ${status} (got ${r.status}; stderr: ${r.stderr})`);
    assert.is(r.errorLines.length, 1, `${what}: one line on stderr, got:\n${r.errorLines.join('\n')}`);
    assert.ok(r.errorLines[0].startsWith('yopo'), `${what}: the line says it is from yopo: ${r.errorLines[0]}`);
    assert.ok(message.test(r.errorLines[0]), `${what}: '${r.errorLines[0]}' should match ${message}`);
    assert.is(r.stdout, '', `${what}: nothing on stdout`);
    assertUnchanged(before, snapshot(root), what);
  }
  assert.not.ok(existsSync(at('runs/new')), 'no run folder was created');
});

test('a run that diverges keeps its last good checkpoint and says how to resume with a lower rate', () => {
  // A learning rate this large makes the loss NaN at the second step; the first step was checkpointed.
  const r = yopo(...NATURAL_RUN, '--epochs', '1', '--lr', '1e38', '--eval-every', '100', '--out', 'runs/diverged');
  assert.is(r.status, 1);
  assert.is(r.errorLines.length, 1, r.errorLines.join('\n'));
  assert.ok(
    /^yopo train: training diverged: .*The last good checkpoint \(finite weights and loss\) is runs\/diverged\/model\.safetensors, at step 1; resume from it with a lower rate: yopo train --out runs\/diverged --resume --lr 1e\+37\.$/.test(
      r.errorLines[0],
    ),
    r.errorLines[0],
  );
  assert.ok(existsSync(at('runs/diverged/training_state.safetensors')), 'the first step was checkpointed');
});

test.after(() => box.remove());

test.run();
