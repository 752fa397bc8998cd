// yopo train: trains a model with one of the methods, writing into --out:
//   config.json        every setting, the adapter, the package version
//   metrics.jsonl      one JSON object per step, plus one per evaluation (clean/robust accuracy)
//   training_state.safetensors  weights, optimiser (and Free-m's δ) state and position for --resume:
//                      one file, replaced atomically, so a crash leaves the previous or the new state
//   model.safetensors  the last good checkpoint's weights (PyTorch-readable state dict), written atomically
//   curve.svg          clean and robust accuracy against wall-clock time, redrawn at each evaluation
//   run.lock           while a train runs: one writer per folder (run_lock.ts)
//   best.safetensors   with a validation split (--val-split): the best robust accuracy there so far
//   checkpoints/       with --keep-checkpoints: one model checkpoint per evaluation
// Settings come from run_config.ts (options, --preset, --config) or resume_settings.ts (--resume); the
// session in the folder (checkpoints, metrics, Ctrl-C) is training_session.ts; model selection is
// model_selection.ts. Ctrl-C (or SIGTERM) stops after the current step and checkpoints; --resume
// continues exactly where it stopped, running first an evaluation that was due there.
//
// The command's steps: parse, settings, the run's parts (method, data, model: before the folder is
// touched, so a bad option leaves nothing behind), take the folder, run the session.

import { mkdirSync } from 'node:fs';
import { BatchLoader, defaultValidationSize } from '../yopo/data/index.js';
import { parseMethod, threatModel } from '../yopo/defaults.js';
import { type AttackSpec, parseAttack } from '../yopo/evaluate.js';
import type { Method } from '../yopo/method.js';
import { type ParsedCommand, UsageError, parseCommand } from './args.js';
import { splitForValidation } from './model_selection.js';
import { type RunConfig, resolveNewConfig } from './run_config.js';
import { RunFolder } from './run_folder.js';
import { resumedSettings } from './resume_settings.js';
import { type RunLock, acquireRunLock, checkNotHeld } from './run_lock.js';
import { buildModel, loadSplit, openBackend } from './session.js';
import { type RunSetup, type SessionSettings, TrainingSession } from './training_session.js';
import { trainSpec } from './train_options.js';

export { trainSpec } from './train_options.js';

/** `yopo train`: trains a model with one of the methods into the run folder --out (config, metrics, checkpoints, curve), or resumes one. */
export async function trainCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(trainSpec, argv);
  if (!parsed) return;
  if (!parsed.values.out)
    throw new UsageError('yopo train: --out DIR is required (the run folder for metrics, checkpoints and the curve)');
  const folder = new RunFolder(parsed.values.out);
  // A folder another train is writing: name that process before anything else (run_lock.ts).
  checkNotHeld(folder.dir);
  const settings = await readSettings(parsed, argv, folder);
  const setup = await prepareRun(settings.config);
  const lock = takeFolder(folder, settings.resume, setup);
  await new TrainingSession(folder, lock, settings, setup).run();
}

/** The settings: those of the run being resumed (epochs, budget and rate may change), or a new run's. */
async function readSettings(
  parsed: ParsedCommand<typeof trainSpec>,
  argv: string[],
  folder: RunFolder,
): Promise<SessionSettings> {
  const epochsGiven = parsed.given.has('epochs');
  if (parsed.values.resume) return { ...(await resumedSettings(parsed, folder)), resume: true, epochsGiven };
  folder.checkFreshStart();
  const config = resolveNewConfig(parsed, argv);
  return { config, savedConfig: null, recordedEpochs: config.epochs, resume: false, epochsGiven };
}

/** The run's method, evaluation attack, data (with its validation split), model and backend; each bad setting one line. */
async function prepareRun(config: RunConfig): Promise<RunSetup> {
  const norm = config.norm ?? 'linf';
  let method: Method;
  let attack: AttackSpec;
  try {
    method = parseMethod(
      config.method,
      { eps: config.eps, step: config.step, norm },
      {
        beta: config.beta ?? undefined,
        objective: config.objective ?? undefined,
        firstLayerGradient: config.firstLayerGradient ?? undefined,
        batchNormRefresh: config.bnRefresh,
      },
    );
  } catch (e) {
    throw new UsageError(`yopo train: --method: ${(e as Error).message}`);
  }
  try {
    attack = parseAttack(config.evalAttack, config.eps, threatModel(config.data, { norm }).step, 1, norm);
  } catch (e) {
    throw new UsageError(`yopo train: --eval-attack: ${(e as Error).message}`);
  }
  const loaded = loadSplit('train', config.data, config.dataDir ?? undefined, 'train', config.limit ?? undefined);
  config.valSplit ??= defaultValidationSize(loaded);
  const { train: trainSet, validation } = splitForValidation(loaded, config.valSplit, config.seed);
  const testSet = loadSplit(
    'train',
    config.data,
    config.dataDir ?? undefined,
    'test',
    validation ? (config.testLimit ?? undefined) : config.evalLimit,
  );
  const { backend, description } = await openBackend(config.backend);
  const newModel = () => buildModel('train', config.model, trainSet, config.seed, { wrnInit: config.wrnInit });
  const model = newModel();
  const batches = new BatchLoader(trainSet, {
    batchSize: config.batchSize,
    shuffle: true,
    seed: config.seed,
    augment: config.data === 'cifar10',
  });
  const epochs = Math.max(1, Math.round(config.epochs / method.epochDivisor));
  const hyper = { lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay };
  return {
    method,
    attack,
    trainSet,
    validation,
    testSet,
    batches,
    epochs,
    hyper,
    model,
    newModel,
    backend,
    description,
  };
}

/** Creates the folder if needed and takes its lock: from here on this process is its one writer (run_lock.ts). */
function takeFolder(folder: RunFolder, resume: boolean, setup: RunSetup): RunLock {
  folder.create((dir) => mkdirSync(dir, { recursive: true }));
  let lock: RunLock | undefined;
  try {
    lock = acquireRunLock(folder.dir);
    if (!resume) folder.checkFreshStart(); // again, now that no other run can be writing here
    return lock;
  } catch (e) {
    lock?.release();
    folder.removeIfEmptyAndOurs();
    setup.method.dispose();
    setup.model.dispose();
    throw e;
  }
}

export type { Classifier } from '../nn/index.js';
