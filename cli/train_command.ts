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
// Settings come from run_config.ts (options, --preset, --config); model selection from model_selection.ts.
// Ctrl-C (or SIGTERM) stops after the current step and checkpoints; --resume continues exactly where
// it stopped. The first checkpoint is written after the first step, then at least every 10 minutes.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { faultPoint } from '../nn/fault_point.js';
import { type Classifier, type HostTensor, NonFiniteError, multiStep, writeFileAtomic } from '../nn/index.js';
import { BatchLoader, type Dataset, defaultValidationSize } from '../yopo/data/index.js';
import { parseMethod, threatModel } from '../yopo/defaults.js';
import { type AttackSpec, QUICK_ATTACK_NOTE, attackName, isQuickAttack, parseAttack } from '../yopo/evaluate.js';
import { percentWithInterval } from '../yopo/interval.js';
import type { Method } from '../yopo/method.js';
import { type MetricRecord, MetricsLog, Progress, formatDuration, keptOnResume, renderRunCurve } from '../yopo/report/index.js';
import { type TrainPosition, TrainingDiverged, train } from '../yopo/train.js';
import { UsageError, parseCommand } from './args.js';
import { explainDeviceLimit } from './device_limit.js';
import { BEST_FILE, ModelSelection, finalRecord, finalTestEvaluation, splitForValidation } from './model_selection.js';
import { type RunConfig, readRunConfig, resolveNewConfig } from './run_config.js';
import { RunFolder, positionMetadata } from './run_folder.js';
import { SETTINGS_KEY, recordedSettings, resumedSettings } from './resume_settings.js';
import { type RunLock, acquireRunLock, checkNotHeld } from './run_lock.js';
import { explainFsErrors } from './fs_errors.js';
import { buildModel, loadSplit, openBackend, packageVersion } from './session.js';
import { trainSpec } from './train_options.js';

export { trainSpec } from './train_options.js';

/** Wall-clock seconds between checkpoints besides those at evaluations and epoch ends. */
const CHECKPOINT_INTERVAL_S = 600;

/** `yopo train`: trains a model with one of the methods into the run folder --out (config, metrics, checkpoints, curve), or resumes one. */
export async function trainCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(trainSpec, argv);
  if (!parsed) return;
  const v = parsed.values;
  if (!v.out) throw new UsageError("yopo train: --out DIR is required (the run folder for metrics, checkpoints and the curve)");
  const out = v.out;
  const folder = new RunFolder(out);
  const files = folder.files;

  // A folder another train is writing: name that process before anything else (run_lock.ts).
  checkNotHeld(out);
  // The settings: new, or those of the run being resumed (epochs and the budget may be extended).
  let config: RunConfig;
  let savedConfig: RunConfig | null = null;
  let recordedEpochs = 0;
  if (v.resume) {
    ({ config, savedConfig, recordedEpochs } = await resumedSettings(parsed, folder));
  } else {
    folder.checkFreshStart();
    config = resolveNewConfig(parsed, argv);
  }
  const norm = config.norm ?? 'linf';
  const threat = { eps: config.eps, step: config.step, norm };
  let method: Method;
  let attack: AttackSpec;
  try {
    method = parseMethod(config.method, threat, { beta: config.beta ?? undefined, objective: config.objective ?? undefined, firstLayerGradient: config.firstLayerGradient ?? undefined, batchNormRefresh: config.bnRefresh });
  } catch (e) {
    throw new UsageError(`yopo train: --method: ${(e as Error).message}`);
  }
  try {
    attack = parseAttack(config.evalAttack, config.eps, threatModel(config.data, { norm }).step, 1, norm);
  } catch (e) {
    throw new UsageError(`yopo train: --eval-attack: ${(e as Error).message}`);
  }

  // Data and model before touching the run folder, so a bad option leaves nothing behind.
  const loaded: Dataset = loadSplit('train', config.data, config.dataDir ?? undefined, 'train', config.limit ?? undefined);
  config.valSplit ??= defaultValidationSize(loaded);
  const { train: trainSet, validation } = splitForValidation(loaded, config.valSplit, config.seed);
  const testSet = loadSplit('train', config.data, config.dataDir ?? undefined, 'test', validation ? config.testLimit ?? undefined : config.evalLimit);
  const { backend, description } = await openBackend(config.backend);
  const newModel = () => buildModel('train', config.model, trainSet, config.seed, { wrnInit: config.wrnInit });
  const model = newModel();
  const batches = new BatchLoader(trainSet, { batchSize: config.batchSize, shuffle: true, seed: config.seed, augment: config.data === 'cifar10' });
  const epochs = Math.max(1, Math.round(config.epochs / method.epochDivisor));
  const hyper = { lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay };

  // From here on this process is the folder's one writer (run_lock.ts).
  folder.create((dir) => mkdirSync(dir, { recursive: true }));
  let lock;
  try {
    lock = acquireRunLock(out);
    if (!v.resume) folder.checkFreshStart(); // again, now that no other run can be writing here
  } catch (e) {
    lock?.release();
    folder.removeIfEmptyAndOurs();
    method.dispose();
    model.dispose();
    throw e;
  }
  let resume: TrainPosition | undefined;
  // Whether --out holds a checkpoint; until it does, a failure removes the files this run created,
  // so that the same command can simply be run again.
  let checkpointed = false;
  let lastCommit = { step: 0, at: Date.now() };
  const commit = async (p: TrainPosition) => {
    if (savedConfig) await writeFileAtomic(folder.willWrite('config'), new TextEncoder().encode(`${JSON.stringify(savedConfig, null, 2)}\n`));
    savedConfig = null;
    await folder.commit(p, model, method.optimizers(), await persistentStateData(method), { 'yopo.method': config.method, 'yopo.model': config.model, [SETTINGS_KEY]: recordedSettings(config) });
    checkpointed = true;
    lastCommit = { step: p.step, at: Date.now() };
  };
  let records: MetricRecord[] = [];


  // Ctrl-C or SIGTERM: finish the step, checkpoint, say how to resume, exit 130 (143). A second one quits at once.
  let stopSignal: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopSignal) {
      try {
        lock.release();
      } catch {
        // quitting at once was asked for: a lock left behind is taken over as stale by the next run
      }
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    }
    stopSignal = signal;
    progress?.log('stopping after this step (Ctrl-C again to quit now)...');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let progress: Progress | null = null;
  let progressEpoch = -1;
  let previousElapsed = 0; // training seconds before the step in onStep (time marks of --eval-every-minutes)
  const checkpointMetadata = (p: TrainPosition) => ({ ...positionMetadata(p), 'yopo.method': config.method, 'yopo.model': config.model });
  const started = Date.now();
  let failure: unknown;
  let cleanupErrors: string[] = [];
  try {
    const removed = folder.removeStaleTemps();
    if (removed.length) console.log(`removed ${removed.length} temp file(s) left in ${out} by an interrupted write`);
    if (v.resume && folder.hasCheckpoint()) {
      // The optimisers must exist to load their state; train() leaves them alone when resuming.
      method.init(model, hyper);
      const checkpoint = await folder.load(model, method.optimizers());
      if (checkpoint.extra.size) method.restoreState?.(checkpoint.extra);
      const at = checkpoint.position;
      resume = at;
      previousElapsed = at.elapsed;
      checkpointed = true;
      lastCommit = { step: at.step, at: Date.now() };
      // Finished, unless stopped before its final evaluation (then the resume runs it).
      if (at.epoch >= epochs && !at.evaluationDue) {
        const asked = parsed.given.has('epochs') ? ` (--epochs ${config.epochs} is not more)` : '';
        throw new UsageError(`yopo train: ${out} has finished its ${recordedEpochs} epochs${asked}; pass a larger --epochs with --resume to train longer`);
      }
      // An evaluation still due at the checkpoint's step is run again, so its record is written once.
      if (folder.has('metrics')) records = MetricsLog.read(files.metrics).filter((r) => keptOnResume(r, at.step, at.evaluationDue));
      else console.log(`${files.metrics} is missing: its records before step ${at.step} are lost; a new one starts here`);
      MetricsLog.truncateAfterStep(files.metrics, at.step, at.evaluationDue);
      console.log(`resuming ${out} at epoch ${at.epoch + 1}, batch ${at.batch + 1} (step ${at.step}, ${formatDuration(at.elapsed)} trained)`);
    } else if (v.resume) {
      // Stopped before its first checkpoint: the same run again from its first step.
      MetricsLog.truncateAfterStep(files.metrics, 0);
      console.log(`${out} has no checkpoint yet: starting its run again from the first step`);
    } else {
      config.adapter = description;
      config.version = packageVersion();
      await writeFileAtomic(folder.willWrite('config'), new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`));
      MetricsLog.truncateAfterStep(files.metrics, 0); // a restarted run's own earlier records
    }
    folder.willWrite('metrics');
    const metrics = new MetricsLog(files.metrics);
    const selection = new ModelSelection(out, validation !== null, config.keepCheckpoints, records, () => folder.willWrite('best'));
    console.log(`yopo ${packageVersion()}: ${config.method} on ${config.model}, ${trainSet.name} (${trainSet.count} images), ε=${round(config.eps)}, ${epochs} epochs of ${batches.batchesPerEpoch} batches, on ${description}`);
    const result = await train({
      model, method, batches, epochs, hyper, seed: config.seed,
      schedule: multiStep(config.lr, config.milestones.map((m) => m / method.epochDivisor)),
      firstLayerSchedule: config.firstLayerMilestones ? multiStep(config.lr, config.firstLayerMilestones) : undefined,
      timeBudgetS: config.timeBudgetMin === null ? undefined : config.timeBudgetMin * 60,
      budgetMilestones: config.budgetMilestones ?? undefined,
      warmupSteps: config.warmupSteps ?? undefined,
      evalEverySeconds: config.evalEveryMinutes ? config.evalEveryMinutes * 60 : undefined,
      evalData: validation ?? testSet, evalAttack: attack, evalLimit: config.evalLimit,
      evalEverySteps: config.evalEvery ?? undefined,
      resume,
      shouldStop: () => stopSignal !== null,
      onStep: async (r) => {
        if (r.epoch !== progressEpoch) {
          progress?.finish();
          progress = new Progress({ total: batches.batchesPerEpoch, label: `epoch ${r.epoch + 1}/${epochs}`, unit: 'batch' });
          progressEpoch = r.epoch;
        }
        // With a time budget the run ends when it is spent, usually long before the epoch does.
        const budgetLeftS = config.timeBudgetMin === null ? Infinity : config.timeBudgetMin * 60 - r.elapsed;
        progress!.update(r.batch, { 'img/s': Math.round(r.images_per_s), loss: r.loss.toFixed(4), acc: `${(100 * r.train_accuracy).toFixed(1)}%` }, budgetLeftS);
        const record = { epoch: r.epoch, step: r.step, elapsed_s: r.elapsed, loss: r.loss, train_accuracy: r.train_accuracy, lr: r.lr, images_per_s: r.images_per_s };
        metrics.append(record);
        faultPoint('metrics.jsonl: step appended');
        records.push(record);
        // The first checkpoint right after the first step, then one at least every CHECKPOINT_INTERVAL_S
        // (at an epoch's last batch the epoch-end checkpoint follows at once).
        // Not where an evaluation is due: its checkpoint follows it (one taken before it would skip it on resume).
        const markPassed = config.evalEveryMinutes ? Math.floor(r.elapsed / (60 * config.evalEveryMinutes)) > Math.floor(previousElapsed / (60 * config.evalEveryMinutes)) : false;
        previousElapsed = r.elapsed;
        const evalDue = (config.evalEvery !== null && r.step % config.evalEvery === 0) || markPassed;
        const due = !checkpointed || Date.now() - lastCommit.at > CHECKPOINT_INTERVAL_S * 1000;
        if (due && !evalDue && r.batch < batches.batchesPerEpoch) await commit(r);
        // Let a Ctrl-C be handled before the next step: the CPU backend never yields to the event
        // loop during a step, so without this the signal would wait for the next checkpoint's I/O.
        // Two turns, so that one of them polls for I/O, where Node reads signals.
        await new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));
      },
      onEvaluate: async (r) => {
        const selected = await selection.afterEvaluation(model, r.step, r.robust_accuracy, checkpointMetadata(r));
        // The load average says how busy the machine was while it trained (times depend on it).
        const record = { epoch: r.epoch, step: r.step, elapsed_s: r.elapsed, clean_accuracy: r.clean_accuracy, robust_accuracy: r.robust_accuracy, attack: r.attack, norm: r.norm, eps: r.eps, n: r.n, ...selected, load_average: Number(loadavg()[0].toFixed(2)) };
        metrics.append(record);
        faultPoint('metrics.jsonl: evaluation appended');
        records.push(record);
        await writeFileAtomic(folder.willWrite('curve'), new TextEncoder().encode(renderRunCurve(records, `${config.method} on ${config.model} (${config.data})`)));
        const line = `evaluation at step ${r.step}: clean ${(100 * r.clean_accuracy).toFixed(2)}%, robust (${r.attack}, ${r.norm} ε=${round(r.eps)}) ${percentWithInterval(r.robust_accuracy, r.n)} on ${r.n} ${selected.split} images${selected.best ? ' (best so far)' : ''}`;
        progress ? progress.log(line) : console.log(line);
      },
      onCheckpoint: commit,
      // The last and the best checkpoint on the test set, before the checkpoint that says the run is finished.
      onFinish: async (p) => {
        if (!validation) return;
        (progress as Progress | null)?.finish();
        for (const f of await finalTestEvaluation(model, p.step, newModel, out, testSet, attack, config.seed + 2, selection.hasBest)) {
          metrics.append(finalRecord(f, p));
          faultPoint('metrics.jsonl: final test evaluation appended');
          console.log(`test set, ${f.final} checkpoint (step ${f.checkpointStep}): clean ${percentWithInterval(f.clean_accuracy, f.n)}, robust ${percentWithInterval(f.robust_accuracy, f.n)} (${f.attack}, ${f.norm} ε=${round(f.eps)}, n=${f.n} test images)`);
        }
      },
    });
    (progress as Progress | null)?.finish();
    const last = result.lastEval;
    console.log(`${result.stoppedBy === 'time-budget' ? 'time budget reached' : result.stoppedBy === 'stop-request' ? 'stopped' : 'done'} after ${result.position.step} steps, ${formatDuration(result.position.elapsed)} of training (${formatDuration((Date.now() - started) / 1000)} wall time this session)`);
    if (last) {
      console.log(`clean accuracy ${percentWithInterval(last.clean_accuracy, last.n)}, robust accuracy ${percentWithInterval(last.robust_accuracy, last.n)} (${attackName(attack)}, ${norm} ε=${round(config.eps)}, n=${last.n} ${validation ? 'validation' : 'held-out test'} images)`);
      if (isQuickAttack(attack)) console.log(QUICK_ATTACK_NOTE);
    }
    // (No curve before the first evaluation, e.g. when stopped early.)
    console.log(`${existsSync(files.curve) ? `curve: ${files.curve}\n` : ''}checkpoint: ${files.model}${selection.hasBest ? `\nbest checkpoint: ${join(out, BEST_FILE)}` : ''}\nmetrics: ${files.metrics}`);
    if (result.stoppedBy === 'stop-request') {
      console.log(`resume with: yopo train --out ${out} --resume`);
      process.exitCode = stopSignal === 'SIGTERM' ? 143 : 130;
    }
  } catch (error) {
    (progress as Progress | null)?.finish();
    // Only what this run created, and only before its first checkpoint; errors on the way are
    // reported after the one that caused the cleanup, never instead of it.
    cleanupErrors = checkpointed ? [] : folder.removeCreated();
    failure = explainDeviceLimit(error, config.batchSize);
    if (error instanceof TrainingDiverged || error instanceof NonFiniteError) {
      const first = error instanceof NonFiniteError ? `training diverged: ${error.message}` : error.message;
      const advice = `resume from it with a lower rate: yopo train --out ${out} --resume --lr ${Number((config.lr / 10).toPrecision(3))}`;
      failure = new Error(`${first}. ${checkpointed ? `The last good checkpoint (finite weights and loss) is ${files.model}, at step ${lastCommit.step}; ${advice}.` : `No checkpoint had been written; what this run wrote in ${out} was removed.`}`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  // The first error wins: a failure of the run is reported first, its clean-up's errors on a second line.
  cleanupErrors.push(...(await releaseRun(method, model, backend, lock)));
  if (!checkpointed) folder.removeIfEmptyAndOurs();
  if (failure !== undefined) {
    if (cleanupErrors.length) Object.assign(failure as object, { secondLine: `(cleaning up: ${cleanupErrors.join('; ')})` });
    throw failure;
  }
  if (cleanupErrors.length) throw new Error(`cleaning up: ${cleanupErrors.join('; ')}`);
}

/** Frees the model and the method, lets the device finish, and removes the run lock; returns the errors met (one line each), never throws. */
async function releaseRun(method: Method, model: Classifier, backend: { sync(): Promise<void> }, lock: RunLock): Promise<string[]> {
  const errors: string[] = [];
  const attempt = async (what: string, release: () => unknown) => {
    try {
      await release();
    } catch (e) {
      errors.push(explainFsErrors(`${what}: ${(e as Error).message}`, (e as { path?: string }).path));
    }
  };
  await attempt('freeing the model', () => {
    method.dispose();
    model.dispose();
  });
  await attempt("waiting for the device's work", () => backend.sync());
  await attempt(`removing the run lock ${lock.path}`, () => lock.release());
  return errors;
}

/** Method state besides optimisers (Free-m's δ), as host tensors for the optimizer file. */
async function persistentStateData(method: Method): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of method.persistentState?.() ?? []) out.set(`state.${name}`, { shape: [...t.shape], data: Float32Array.from(await t.data()) });
  return out;
}

function round(x: number): number {
  return Number(x.toPrecision(4));
}

export type { Classifier };
