// One session of `yopo train` in its run folder, once the settings, data and model are ready and the
// folder's lock is held (train_command.ts): it restores or starts the run, trains it with checkpoints,
// metrics, the curve and model selection, reports the result, and always releases what it holds.
//
// Crash safety: a checkpoint follows each evaluation and each epoch end, the first step, and at least
// every CHECKPOINT_INTERVAL_S; an evaluation's checkpoint comes after its records (one taken before
// would skip it on resume). Ctrl-C or SIGTERM finishes the step, checkpoints (saying whether an
// evaluation was due, for --resume to run it), says how to resume and exits 130 (143); a second one
// quits at once. Errors: the first one is reported first, clean-up errors on a second line.

import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { faultPoint } from '../nn/fault_point.js';
import { type Classifier, type HostTensor, NonFiniteError, multiStep, writeFileAtomic } from '../nn/index.js';
import type { BatchLoader, Dataset } from '../yopo/data/index.js';
import { type AttackSpec, type EvalData, QUICK_ATTACK_NOTE, attackName, isQuickAttack } from '../yopo/evaluate.js';
import { percentWithInterval } from '../yopo/interval.js';
import type { Hyper, Method } from '../yopo/method.js';
import {
  type MetricRecord,
  MetricsLog,
  Progress,
  formatDuration,
  keptOnResume,
  renderRunCurve,
} from '../yopo/report/index.js';
import {
  type EvalRecord,
  type StepRecord,
  type TrainPosition,
  type TrainResult,
  TrainingDiverged,
  train,
} from '../yopo/train.js';
import { UsageError } from './args.js';
import { explainDeviceLimit } from './device_limit.js';
import { explainFsErrors } from './fs_errors.js';
import { BEST_FILE, ModelSelection, finalRecord, finalTestEvaluation } from './model_selection.js';
import { SETTINGS_KEY, recordedSettings } from './resume_settings.js';
import type { RunConfig } from './run_config.js';
import { type RunFolder, positionMetadata } from './run_folder.js';
import type { RunLock } from './run_lock.js';
import { packageVersion } from './session.js';

/** Wall-clock seconds between checkpoints besides those at evaluations and epoch ends. */
const CHECKPOINT_INTERVAL_S = 600;

/** The settings of a session: the run's, what to write back once it checkpoints, and how it was started. */
export interface SessionSettings {
  config: RunConfig;
  /** The run's config.json to write with its first checkpoint (a resume that extends the run), or null. */
  savedConfig: RunConfig | null;
  /** --resume: continue the run in the folder. */
  resume: boolean;
  /** The run's epochs before this session's --epochs, and whether --epochs was given (for the "finished" message). */
  recordedEpochs: number;
  epochsGiven: boolean;
}

/** What a session trains: the method, the evaluation attack, the data, the model and the backend. */
export interface RunSetup {
  method: Method;
  attack: AttackSpec;
  trainSet: Dataset;
  validation: EvalData | null;
  testSet: Dataset;
  batches: BatchLoader;
  epochs: number;
  hyper: Hyper;
  model: Classifier;
  newModel: () => Classifier;
  backend: { sync(): Promise<void> };
  description: string;
}

/** A session of `yopo train` in its locked run folder (see the top of this file). */
export class TrainingSession {
  private readonly config: RunConfig;
  private savedConfig: RunConfig | null;
  /** Whether the folder holds a checkpoint; until it does, a failure removes the files this session created, so that the same command can simply be run again. */
  private checkpointed = false;
  private lastCommit = { step: 0, at: Date.now() };
  private records: MetricRecord[] = [];
  private metrics!: MetricsLog;
  private selection!: ModelSelection;
  private stopSignal: NodeJS.Signals | null = null;
  private progress: Progress | null = null;
  private progressEpoch = -1;
  /** Training seconds before the step in onStep (time marks of --eval-every-minutes). */
  private previousElapsed = 0;
  private readonly started = Date.now();

  constructor(
    private readonly folder: RunFolder,
    private readonly lock: RunLock,
    private readonly settings: SessionSettings,
    private readonly s: RunSetup,
  ) {
    this.config = settings.config;
    this.savedConfig = settings.savedConfig;
  }

  /** Runs the session to its end, a stop or a failure, then releases the model, the device and the lock. */
  async run(): Promise<void> {
    const onSignal = (signal: NodeJS.Signals) => this.onSignal(signal);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let failure: unknown;
    let cleanupErrors: string[] = [];
    try {
      const resume = await this.start();
      const result = await train(this.trainOptions(resume));
      this.report(result);
    } catch (error) {
      this.progress?.finish();
      // Only what this session created, and only before the first checkpoint.
      cleanupErrors = this.checkpointed ? [] : this.folder.removeCreated();
      failure = this.explainFailure(error);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    // The first error wins: a failure of the run is reported first, its clean-up's errors on a second line.
    cleanupErrors.push(...(await this.release()));
    if (!this.checkpointed) this.folder.removeIfEmptyAndOurs();
    if (failure !== undefined) {
      if (cleanupErrors.length)
        Object.assign(failure as object, { secondLine: `(cleaning up: ${cleanupErrors.join('; ')})` });
      throw failure;
    }
    if (cleanupErrors.length) throw new Error(`cleaning up: ${cleanupErrors.join('; ')}`);
  }

  /** Ctrl-C or SIGTERM: stop after this step; a second one quits at once. */
  private onSignal(signal: NodeJS.Signals): void {
    if (this.stopSignal) {
      try {
        this.lock.release();
      } catch {
        // quitting at once was asked for: a lock left behind is taken over as stale by the next run
      }
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    }
    this.stopSignal = signal;
    this.progress?.log('stopping after this step (Ctrl-C again to quit now)...');
  }

  /** Restores the checkpoint, restarts a run that had none, or starts a new run; opens the metrics. Returns where training continues. */
  private async start(): Promise<TrainPosition | undefined> {
    const { folder, config } = this;
    const { dir: out, files } = folder;
    const removed = folder.removeStaleTemps();
    if (removed.length) console.log(`removed ${removed.length} temp file(s) left in ${out} by an interrupted write`);
    let resume: TrainPosition | undefined;
    if (this.settings.resume && folder.hasCheckpoint()) {
      resume = await this.restore();
    } else if (this.settings.resume) {
      // Stopped before its first checkpoint: the same run again from its first step.
      MetricsLog.truncateAfterStep(files.metrics, 0);
      console.log(`${out} has no checkpoint yet: starting its run again from the first step`);
    } else {
      config.adapter = this.s.description;
      config.version = packageVersion();
      await writeFileAtomic(
        folder.willWrite('config'),
        new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`),
      );
      MetricsLog.truncateAfterStep(files.metrics, 0); // a restarted run's own earlier records
    }
    folder.willWrite('metrics');
    this.metrics = new MetricsLog(files.metrics);
    this.selection = new ModelSelection(out, this.s.validation !== null, config.keepCheckpoints, this.records, () =>
      folder.willWrite('best'),
    );
    const { trainSet, batches, epochs, description } = this.s;
    console.log(
      `yopo ${packageVersion()}: ${config.method} on ${config.model}, ${trainSet.name} (${trainSet.count} images), ε=${round(config.eps)}, ${epochs} epochs of ${batches.batchesPerEpoch} batches, on ${description}`,
    );
    return resume;
  }

  /** Loads the checkpoint into the model and the method, and cuts the metrics back to it. */
  private async restore(): Promise<TrainPosition> {
    const { folder, s } = this;
    const { dir: out, files } = folder;
    // The optimisers must exist to load their state; train() leaves them alone when resuming.
    s.method.init(s.model, s.hyper);
    const checkpoint = await folder.load(s.model, s.method.optimizers());
    if (checkpoint.extra.size) s.method.restoreState?.(checkpoint.extra);
    const at = checkpoint.position;
    this.previousElapsed = at.elapsed;
    this.checkpointed = true;
    this.lastCommit = { step: at.step, at: Date.now() };
    // Finished, unless stopped before its final evaluation (then the resume runs it).
    if (at.epoch >= s.epochs && !at.evaluationDue) {
      const asked = this.settings.epochsGiven ? ` (--epochs ${this.config.epochs} is not more)` : '';
      throw new UsageError(
        `yopo train: ${out} has finished its ${this.settings.recordedEpochs} epochs${asked}; pass a larger --epochs with --resume to train longer`,
      );
    }
    // An evaluation still due at the checkpoint's step is run again, so its record is written once.
    if (folder.has('metrics'))
      this.records = MetricsLog.read(files.metrics).filter((r) => keptOnResume(r, at.step, at.evaluationDue));
    else console.log(`${files.metrics} is missing: its records before step ${at.step} are lost; a new one starts here`);
    MetricsLog.truncateAfterStep(files.metrics, at.step, at.evaluationDue);
    console.log(
      `resuming ${out} at epoch ${at.epoch + 1}, batch ${at.batch + 1} (step ${at.step}, ${formatDuration(at.elapsed)} trained)`,
    );
    return at;
  }

  /** The training loop's options: the run's schedule, budget and evaluation, and this session's callbacks. */
  private trainOptions(resume: TrainPosition | undefined): Parameters<typeof train>[0] {
    const { config, s } = this;
    return {
      model: s.model,
      method: s.method,
      batches: s.batches,
      epochs: s.epochs,
      hyper: s.hyper,
      seed: config.seed,
      schedule: multiStep(
        config.lr,
        config.milestones.map((m) => m / s.method.epochDivisor),
      ),
      firstLayerSchedule: config.firstLayerMilestones ? multiStep(config.lr, config.firstLayerMilestones) : undefined,
      timeBudgetS: config.timeBudgetMin === null ? undefined : config.timeBudgetMin * 60,
      budgetMilestones: config.budgetMilestones ?? undefined,
      warmupSteps: config.warmupSteps ?? undefined,
      evalEverySeconds: config.evalEveryMinutes ? config.evalEveryMinutes * 60 : undefined,
      evalData: s.validation ?? s.testSet,
      evalAttack: s.attack,
      evalLimit: config.evalLimit,
      evalEverySteps: config.evalEvery ?? undefined,
      resume,
      shouldStop: () => this.stopSignal !== null,
      onStep: (r) => this.onStep(r),
      onEvaluate: (r) => this.onEvaluate(r),
      onCheckpoint: (p) => this.commit(p),
      onFinish: (p) => this.onFinish(p),
    };
  }

  /** After each step: progress, its metrics record, and a checkpoint when one is due. */
  private async onStep(r: StepRecord): Promise<void> {
    const { config, s } = this;
    if (r.epoch !== this.progressEpoch) {
      this.progress?.finish();
      this.progress = new Progress({
        total: s.batches.batchesPerEpoch,
        label: `epoch ${r.epoch + 1}/${s.epochs}`,
        unit: 'batch',
      });
      this.progressEpoch = r.epoch;
    }
    // With a time budget the run ends when it is spent, usually long before the epoch does.
    const budgetLeftS = config.timeBudgetMin === null ? Infinity : config.timeBudgetMin * 60 - r.elapsed;
    this.progress!.update(
      r.batch,
      { 'img/s': Math.round(r.images_per_s), loss: r.loss.toFixed(4), acc: `${(100 * r.train_accuracy).toFixed(1)}%` },
      budgetLeftS,
    );
    const record = {
      epoch: r.epoch,
      step: r.step,
      elapsed_s: r.elapsed,
      loss: r.loss,
      train_accuracy: r.train_accuracy,
      lr: r.lr,
      images_per_s: r.images_per_s,
    };
    this.metrics.append(record);
    faultPoint('metrics.jsonl: step appended');
    this.records.push(record);
    // The first checkpoint right after the first step, then one at least every CHECKPOINT_INTERVAL_S
    // (at an epoch's last batch the epoch-end checkpoint follows at once).
    // Not where an evaluation is due: its checkpoint follows it (one taken before it would skip it on resume).
    const minutes = config.evalEveryMinutes;
    const markPassed = minutes
      ? Math.floor(r.elapsed / (60 * minutes)) > Math.floor(this.previousElapsed / (60 * minutes))
      : false;
    this.previousElapsed = r.elapsed;
    const evalDue = (config.evalEvery !== null && r.step % config.evalEvery === 0) || markPassed;
    const due = !this.checkpointed || Date.now() - this.lastCommit.at > CHECKPOINT_INTERVAL_S * 1000;
    if (due && !evalDue && r.batch < s.batches.batchesPerEpoch) await this.commit(r);
    // Let a Ctrl-C be handled before the next step: the CPU backend never yields to the event loop
    // during a step. Two turns, so that one of them polls for I/O, where Node reads signals.
    await new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));
  }

  /** After each evaluation: model selection, its metrics record, the curve, a line of output. */
  private async onEvaluate(r: EvalRecord): Promise<void> {
    const { config } = this;
    const selected = await this.selection.afterEvaluation(this.s.model, r.step, r.robust_accuracy, {
      ...positionMetadata(r),
      'yopo.method': config.method,
      'yopo.model': config.model,
    });
    // The load average says how busy the machine was while it trained (times depend on it).
    const record = {
      epoch: r.epoch,
      step: r.step,
      elapsed_s: r.elapsed,
      clean_accuracy: r.clean_accuracy,
      robust_accuracy: r.robust_accuracy,
      attack: r.attack,
      norm: r.norm,
      eps: r.eps,
      n: r.n,
      ...selected,
      load_average: Number(loadavg()[0].toFixed(2)),
    };
    this.metrics.append(record);
    faultPoint('metrics.jsonl: evaluation appended');
    this.records.push(record);
    await writeFileAtomic(
      this.folder.willWrite('curve'),
      new TextEncoder().encode(renderRunCurve(this.records, `${config.method} on ${config.model} (${config.data})`)),
    );
    const line = `evaluation at step ${r.step}: clean ${(100 * r.clean_accuracy).toFixed(2)}%, robust (${r.attack}, ${r.norm} ε=${round(r.eps)}) ${percentWithInterval(r.robust_accuracy, r.n)} on ${r.n} ${selected.split} images${selected.best ? ' (best so far)' : ''}`;
    this.progress ? this.progress.log(line) : console.log(line);
  }

  /** The last and the best checkpoint on the test set, before the checkpoint that says the run is finished. */
  private async onFinish(p: TrainPosition): Promise<void> {
    const { s, config } = this;
    if (!s.validation) return;
    this.progress?.finish();
    for (const f of await finalTestEvaluation(
      s.model,
      p.step,
      s.newModel,
      this.folder.dir,
      s.testSet,
      s.attack,
      config.seed + 2,
      this.selection.hasBest,
    )) {
      this.metrics.append(finalRecord(f, p));
      faultPoint('metrics.jsonl: final test evaluation appended');
      console.log(
        `test set, ${f.final} checkpoint (step ${f.checkpointStep}): clean ${percentWithInterval(f.clean_accuracy, f.n)}, robust ${percentWithInterval(f.robust_accuracy, f.n)} (${f.attack}, ${f.norm} ε=${round(f.eps)}, n=${f.n} test images)`,
      );
    }
  }

  /** Commits a checkpoint (and an extended run's config.json first), recording the run's settings in it. */
  private async commit(p: TrainPosition): Promise<void> {
    const { config, folder, s } = this;
    if (this.savedConfig)
      await writeFileAtomic(
        folder.willWrite('config'),
        new TextEncoder().encode(`${JSON.stringify(this.savedConfig, null, 2)}\n`),
      );
    this.savedConfig = null;
    await folder.commit(p, s.model, s.method.optimizers(), await persistentStateData(s.method), {
      'yopo.method': config.method,
      'yopo.model': config.model,
      [SETTINGS_KEY]: recordedSettings(config),
    });
    this.checkpointed = true;
    this.lastCommit = { step: p.step, at: Date.now() };
  }

  /** The summary: why it stopped, the last evaluation, the files, how to resume. */
  private report(result: TrainResult): void {
    const { config, folder, s } = this;
    const { dir: out, files } = folder;
    this.progress?.finish();
    const last = result.lastEval;
    const why =
      result.stoppedBy === 'time-budget'
        ? 'time budget reached'
        : result.stoppedBy === 'stop-request'
          ? 'stopped'
          : 'done';
    console.log(
      `${why} after ${result.position.step} steps, ${formatDuration(result.position.elapsed)} of training (${formatDuration((Date.now() - this.started) / 1000)} wall time this session)`,
    );
    if (last) {
      console.log(
        `clean accuracy ${percentWithInterval(last.clean_accuracy, last.n)}, robust accuracy ${percentWithInterval(last.robust_accuracy, last.n)} (${attackName(s.attack)}, ${config.norm ?? 'linf'} ε=${round(config.eps)}, n=${last.n} ${s.validation ? 'validation' : 'held-out test'} images)`,
      );
      if (isQuickAttack(s.attack)) console.log(QUICK_ATTACK_NOTE);
    }
    // (No curve before the first evaluation, e.g. when stopped early.)
    console.log(
      `${existsSync(files.curve) ? `curve: ${files.curve}\n` : ''}checkpoint: ${files.model}${this.selection.hasBest ? `\nbest checkpoint: ${join(out, BEST_FILE)}` : ''}\nmetrics: ${files.metrics}`,
    );
    if (result.stoppedBy === 'stop-request') {
      console.log(`resume with: yopo train --out ${out} --resume`);
      process.exitCode = this.stopSignal === 'SIGTERM' ? 143 : 130;
    }
  }

  /** The error to report for a failure: a device limit explained, a divergence with the last good checkpoint and how to resume from it. */
  private explainFailure(error: unknown): unknown {
    const { config } = this;
    const out = this.folder.dir;
    if (error instanceof TrainingDiverged || error instanceof NonFiniteError) {
      const first = error instanceof NonFiniteError ? `training diverged: ${error.message}` : error.message;
      const advice = `resume from it with a lower rate: yopo train --out ${out} --resume --lr ${Number((config.lr / 10).toPrecision(3))}`;
      return new Error(
        `${first}. ${this.checkpointed ? `The last good checkpoint (finite weights and loss) is ${this.folder.files.model}, at step ${this.lastCommit.step}; ${advice}.` : `No checkpoint had been written; what this run wrote in ${out} was removed.`}`,
      );
    }
    return explainDeviceLimit(error, config.batchSize);
  }

  /** Frees the model and the method, lets the device finish, and removes the run lock; returns the errors met (one line each), never throws. */
  private async release(): Promise<string[]> {
    const errors: string[] = [];
    const attempt = async (what: string, release: () => unknown) => {
      try {
        await release();
      } catch (e) {
        errors.push(explainFsErrors(`${what}: ${(e as Error).message}`, (e as { path?: string }).path));
      }
    };
    await attempt('freeing the model', () => {
      this.s.method.dispose();
      this.s.model.dispose();
    });
    await attempt("waiting for the device's work", () => this.s.backend.sync());
    await attempt(`removing the run lock ${this.lock.path}`, () => this.lock.release());
    return errors;
  }
}

/** Method state besides optimisers (Free-m's δ), as host tensors for the training state file. */
async function persistentStateData(method: Method): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of method.persistentState?.() ?? [])
    out.set(`state.${name}`, { shape: [...t.shape], data: Float32Array.from(await t.data()) });
  return out;
}

function round(x: number): number {
  return Number(x.toPrecision(4));
}
