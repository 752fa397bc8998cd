// yopo train: trains a model with one of the methods, writing into --out:
//   config.json        every setting, the adapter, the package version
//   metrics.jsonl      one JSON object per step, plus one per evaluation (clean/robust accuracy)
//   model.safetensors  the last good checkpoint (PyTorch-readable state dict), written atomically
//   optimizer.safetensors  optimiser (and Free-m's δ) state for --resume, written atomically
//   curve.svg          clean and robust accuracy against wall-clock time, redrawn at each evaluation
//   best.safetensors   with a validation split (--val-split): the best robust accuracy there so far
//   checkpoints/       with --keep-checkpoints: one model checkpoint per evaluation
// Settings come from run_config.ts (options, --preset, --config); model selection from model_selection.ts.
// Ctrl-C stops after the current step and checkpoints; --resume continues exactly where it stopped.

import { existsSync, mkdirSync, rmSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Classifier, type HostTensor, loadModel, loadOptimizers, multiStep, saveModel, saveOptimizers, writeFileAtomic } from '../../nn/index.js';
import { BatchLoader, type Dataset, defaultValidationSize } from '../data/index.js';
import { parseMethod, threatModel } from '../defaults.js';
import { type AttackSpec, attackName, parseAttack } from '../evaluate.js';
import type { Method } from '../method.js';
import { MetricsLog, Progress, formatDuration, renderRunCurve } from '../report/index.js';
import { type TrainPosition, TrainingDiverged, train } from '../train.js';
import { UsageError, parseCommand } from './args.js';
import { BEST_FILE, ModelSelection, finalRecord, finalTestEvaluation, splitForValidation } from './model_selection.js';
import { type RunConfig, readRunConfig, resolveNewConfig } from './run_config.js';
import { buildModel, loadSplit, openBackend, packageVersion } from './session.js';
import { trainSpec } from './train_options.js';

export { trainSpec } from './train_options.js';

/** The options --resume accepts (to extend the run, or where it runs); the rest are the run's saved settings. */
const RESUME_OPTIONS = ['out', 'resume', 'epochs', 'time-budget', 'backend', 'data-dir'];

const POSITION_KEYS = ['epoch', 'batch', 'step', 'elapsed'] as const;

function positionMetadata(p: TrainPosition): Record<string, string> {
  return Object.fromEntries(POSITION_KEYS.map((k) => [`yopo.${k}`, String(p[k])]));
}

function positionFrom(meta: Record<string, string>, file: string): TrainPosition {
  const p = Object.fromEntries(POSITION_KEYS.map((k) => [k, Number(meta[`yopo.${k}`])])) as unknown as TrainPosition;
  if (POSITION_KEYS.some((k) => !Number.isFinite(p[k]))) throw new Error(`checkpoint ${file} has no training position (not written by yopo train?)`);
  return p;
}

export async function trainCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(trainSpec, argv);
  if (!parsed) return;
  const v = parsed.values;
  if (!v.out) throw new UsageError("yopo train: --out DIR is required (the run folder for metrics, checkpoints and the curve)");
  const out = v.out;
  const files = {
    config: join(out, 'config.json'),
    metrics: join(out, 'metrics.jsonl'),
    model: join(out, 'model.safetensors'),
    optimizer: join(out, 'optimizer.safetensors'),
    curve: join(out, 'curve.svg'),
  };

  // The settings: new, or those of the run being resumed (epochs and the budget may be extended).
  let config: RunConfig;
  let savedConfig: RunConfig | null = null;
  if (v.resume) {
    if (!existsSync(files.config)) throw new UsageError(`yopo train: --resume: ${out} holds no run (no config.json)`);
    if (!existsSync(files.model) || !existsSync(files.optimizer)) throw new UsageError(`yopo train: --resume: ${out} has no checkpoint yet (model.safetensors / optimizer.safetensors)`);
    // The run's own settings apply; an option that would change them is refused rather than ignored.
    const fixed = [...parsed.given].filter((name) => !RESUME_OPTIONS.includes(name));
    if (fixed.length) throw new UsageError(`yopo train: --resume continues with the settings in ${files.config}; ${fixed.map((n) => `--${n}`).join(', ')} cannot be changed (only ${RESUME_OPTIONS.filter((n) => n !== 'out' && n !== 'resume').map((n) => `--${n}`).join(', ')} can)`);
    config = readRunConfig(files.config, { legacy: true });
    if (v.epochs !== undefined) config.epochs = v.epochs;
    if (v['time-budget'] !== undefined) config.timeBudgetMin = v['time-budget'];
    // An extended run records its new length (the backend and data folder are this session's only).
    if (parsed.given.has('epochs') || parsed.given.has('time-budget')) savedConfig = { ...config };
    if (parsed.given.has('backend')) config.backend = v.backend;
    if (v['data-dir'] !== undefined) config.dataDir = v['data-dir'];
  } else {
    if ([files.config, files.metrics, files.model, files.optimizer].some((f) => existsSync(f))) throw new UsageError(`yopo train: ${out} already holds a run; add --resume to continue it, or choose another --out`);
    config = resolveNewConfig(parsed, argv);
  }
  const threat = { eps: config.eps, step: config.step };
  let method: Method;
  let attack: AttackSpec;
  try {
    method = parseMethod(config.method, threat, { beta: config.beta ?? undefined, objective: config.objective ?? undefined, firstLayerGradient: config.firstLayerGradient ?? undefined, batchNormRefresh: config.bnRefresh });
  } catch (e) {
    throw new UsageError(`yopo train: --method: ${(e as Error).message}`);
  }
  try {
    attack = parseAttack(config.evalAttack, config.eps, threatModel(config.data).step);
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

  let resume: TrainPosition | undefined;
  let createdDir = false;
  // Whether --out holds a checkpoint to resume from; a fresh run that fails before its first one
  // removes what it wrote, so that the same command can simply be run again.
  let checkpointed = Boolean(v.resume);
  if (v.resume) {
    // The optimisers must exist to load their state; train() leaves them alone when resuming.
    method.init(model, hyper);
    const modelMeta = await loadModel(files.model, model);
    const optFile = await loadOptimizers(files.optimizer, method.optimizers());
    restorePersistentState(method, optFile.tensors);
    resume = positionFrom(modelMeta, files.model);
    const optPos = positionFrom(optFile.metadata, files.optimizer);
    if (optPos.step !== resume.step) throw new Error(`checkpoint files disagree: ${files.model} is at step ${resume.step}, ${files.optimizer} at step ${optPos.step}`);
    if (resume.epoch >= epochs) throw new UsageError(`yopo train: ${out} has finished its ${config.epochs} epochs; pass a larger --epochs with --resume to train longer`);
    if (savedConfig) await writeFileAtomic(files.config, new TextEncoder().encode(`${JSON.stringify(savedConfig, null, 2)}\n`));
    MetricsLog.truncateAfterStep(files.metrics, resume.step);
    console.log(`resuming ${out} at epoch ${resume.epoch + 1}, batch ${resume.batch + 1} (step ${resume.step}, ${formatDuration(resume.elapsed)} trained)`);
  } else {
    createdDir = !existsSync(out);
    mkdirSync(out, { recursive: true });
    config.adapter = description;
    config.version = packageVersion();
    await writeFileAtomic(files.config, new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`));
  }
  const metrics = new MetricsLog(files.metrics);

  console.log(`yopo ${packageVersion()}: ${config.method} on ${config.model}, ${trainSet.name} (${trainSet.count} images), ε=${round(config.eps)}, ${epochs} epochs of ${batches.batchesPerEpoch} batches, on ${description}`);

  // Ctrl-C: finish the step, checkpoint, say how to resume. A second Ctrl-C quits at once.
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    progress?.log('stopping after this step (Ctrl-C again to quit now)...');
  };
  process.on('SIGINT', onSigint);

  let progress: Progress | null = null;
  let progressEpoch = -1;
  const records = v.resume ? MetricsLog.read(files.metrics) : [];
  const selection = new ModelSelection(out, validation !== null, config.keepCheckpoints, records);
  const checkpointMetadata = (p: TrainPosition) => ({ ...positionMetadata(p), 'yopo.method': config.method, 'yopo.model': config.model });
  const started = Date.now();
  try {
    const result = await train({
      model, method, batches, epochs, hyper, seed: config.seed,
      schedule: multiStep(config.lr, config.milestones.map((m) => m / method.epochDivisor)),
      firstLayerSchedule: config.firstLayerMilestones ? multiStep(config.lr, config.firstLayerMilestones) : undefined,
      timeBudgetS: config.timeBudgetMin === null ? undefined : config.timeBudgetMin * 60,
      evalData: validation ?? testSet, evalAttack: attack, evalLimit: config.evalLimit,
      evalEverySteps: config.evalEvery ?? undefined,
      resume,
      shouldStop: () => stopRequested,
      onStep: (r) => {
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
        records.push(record);
        // Let a Ctrl-C be handled before the next step: the CPU backend never yields to the event
        // loop during a step, so without this the signal would wait for the next checkpoint's I/O.
        return new Promise<void>((resolve) => setImmediate(resolve));
      },
      onEvaluate: async (r) => {
        const selected = await selection.afterEvaluation(model, r.step, r.robust_accuracy, checkpointMetadata(r));
        const record = { epoch: r.epoch, step: r.step, elapsed_s: r.elapsed, clean_accuracy: r.clean_accuracy, robust_accuracy: r.robust_accuracy, attack: r.attack, eps: r.eps, n: r.n, ...selected };
        metrics.append(record);
        records.push(record);
        await writeFileAtomic(files.curve, new TextEncoder().encode(renderRunCurve(records, `${config.method} on ${config.model} (${config.data})`)));
        const line = `evaluation at step ${r.step}: clean ${(100 * r.clean_accuracy).toFixed(2)}%, robust (${r.attack}, ε=${round(r.eps)}) ${(100 * r.robust_accuracy).toFixed(2)}% on ${r.n} ${selected.split} images${selected.best ? ' (best so far)' : ''}`;
        progress ? progress.log(line) : console.log(line);
      },
      onCheckpoint: async (p) => {
        const meta = checkpointMetadata(p);
        await saveModel(files.model, model, meta);
        await saveOptimizers(files.optimizer, method.optimizers(), await persistentStateData(method), meta);
        checkpointed = true;
      },
    });
    (progress as Progress | null)?.finish();
    const last = result.lastEval;
    console.log(`${result.stoppedBy === 'time-budget' ? 'time budget reached' : result.stoppedBy === 'stop-request' ? 'stopped' : 'done'} after ${result.position.step} steps, ${formatDuration(result.position.elapsed)} of training (${formatDuration((Date.now() - started) / 1000)} wall time this session)`);
    if (last) {
      console.log(`clean accuracy ${(100 * last.clean_accuracy).toFixed(2)}%, robust accuracy ${(100 * last.robust_accuracy).toFixed(2)}% (${attackName(attack)}, ε=${round(config.eps)}, ${last.n} ${validation ? 'validation' : 'held-out test'} images)`);
    }
    if (validation && result.stoppedBy !== 'stop-request') {
      for (const f of await finalTestEvaluation(model, result.position.step, newModel, out, testSet, attack, config.seed + 2, selection.hasBest)) {
        metrics.append(finalRecord(f, result.position));
        console.log(`test set, ${f.final} checkpoint (step ${f.checkpointStep}): clean ${(100 * f.clean_accuracy).toFixed(2)}%, robust ${(100 * f.robust_accuracy).toFixed(2)}% (${f.attack}, ε=${round(f.eps)}, ${f.n} test images)`);
      }
    }
    // (No curve before the first evaluation, e.g. when stopped early.)
    console.log(`${existsSync(files.curve) ? `curve: ${files.curve}\n` : ''}checkpoint: ${files.model}${selection.hasBest ? `\nbest checkpoint: ${join(out, BEST_FILE)}` : ''}\nmetrics: ${files.metrics}`);
    if (result.stoppedBy === 'stop-request') console.log(`resume with: yopo train --out ${out} --resume`);
  } catch (error) {
    (progress as Progress | null)?.finish();
    if (!checkpointed) {
      for (const file of [files.model, files.optimizer, files.curve, files.metrics, files.config, join(out, BEST_FILE)]) rmSync(file, { force: true });
      if (createdDir) {
        try {
          rmdirSync(out); // only if empty: never anything this run did not write
        } catch {}
      }
    }
    if (error instanceof TrainingDiverged) {
      throw new Error(`${error.message}. ${checkpointed ? `The last good checkpoint is ${files.model}.` : `No checkpoint had been written; ${out} was cleaned up.`}`);
    }
    throw error;
  } finally {
    process.off('SIGINT', onSigint);
    method.dispose();
    model.dispose();
    await backend.sync();
  }
}

/** Method state besides optimisers (Free-m's δ), as host tensors for the optimizer file. */
async function persistentStateData(method: Method): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of method.persistentState?.() ?? []) out.set(`state.${name}`, { shape: [...t.shape], data: Float32Array.from(await t.data()) });
  return out;
}

function restorePersistentState(method: Method, tensors: Map<string, HostTensor>): void {
  const state = new Map([...tensors].filter(([k]) => k.startsWith('state.')).map(([k, t]) => [k.slice('state.'.length), t]));
  if (state.size) method.restoreState?.(state);
}

function round(x: number): number {
  return Number(x.toPrecision(4));
}

export type { Classifier };
