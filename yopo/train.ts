// The training loop every method shares: batches in a seeded order, the learning-rate schedule,
// periodic evaluation, a wall-clock budget, progress callbacks, NaN detection, and a position that
// can be saved and resumed exactly (all randomness of step s derives from (seed, s)).

import { Random, type Tensor, argmax, cast, eq, sum, tensor, tidy } from '../engine/index.js';
import type { Classifier, Schedule } from '../nn/index.js';
// From its own file: nn/index.js also loads the checkpoint files' Node modules, which browser.ts must not reach.
import { warmupFactor } from '../nn/schedule.js';
import { Dropout } from '../nn/layers.js';
import { checkClassifier } from '../nn/models/contract.js';
import { type AttackSpec, type EvalData, type EvalResult, evaluate } from './evaluate.js';
import type { Hyper, Method } from './method.js';

/** Where batches come from: batch `index` of `epoch`, reproducible from the seed alone (BatchLoader). */
export interface BatchSource {
  readonly batchesPerEpoch: number;
  readonly dataset: { readonly shape: readonly number[] };
  batch(epoch: number, index: number): { images: Float32Array; labels: Int32Array; count: number };
}

/** The point a run has reached; saved with checkpoints. `step` counts completed steps. */
export interface TrainPosition {
  epoch: number;
  batch: number;
  step: number;
  /** Training seconds so far (evaluation time excluded: the x-axis of the paper's Figure 3). */
  elapsed: number;
  /**
   * Stopped (Ctrl-C) where an evaluation was due (an --eval-every point, an epoch's end, the run's end):
   * stopping stays quick, and the resumed run runs that evaluation first, so its record equals an
   * uninterrupted run's.
   */
  evaluationDue?: boolean;
}

/** The metrics record of one training step: position, loss, train accuracy (fraction), learning rate, throughput in images per second. */
export interface StepRecord extends TrainPosition {
  loss: number;
  train_accuracy: number;
  lr: number;
  images_per_s: number;
}

/** The metrics record of an evaluation during training: position and the evaluation result. */
export interface EvalRecord extends TrainPosition, EvalResult {}

/** Thrown when the training loss becomes non-finite (NaN or ±∞). */
export class TrainingDiverged extends Error {}

/** Options of train: model, method, batches, epochs, hyperparameters, schedules, seed, budget, evaluation and callbacks. */
export interface TrainOptions {
  model: Classifier;
  method: Method;
  batches: BatchSource;
  epochs: number;
  hyper: Hyper;
  /** Learning rate by epoch; default constant hyper.lr. */
  schedule?: Schedule;
  /** The first layer's own learning rate by epoch (YOPO on MNIST, as published); default: `schedule`. */
  firstLayerSchedule?: Schedule;
  seed: number;
  /** Stop after this many training seconds (then evaluate once more). */
  timeBudgetS?: number;
  /** Fractions of timeBudgetS (ascending, in (0, 1)) at which both schedules are multiplied by 0.1, as
   *  milestones do at epochs: a time-budgeted run decays over however many steps its machine gets. */
  budgetMilestones?: readonly number[];
  /** Linear warm-up: both schedules are scaled by (step + 1) / warmupSteps over the first warmupSteps steps. */
  warmupSteps?: number;
  /** Held-out data and attack for periodic evaluation. */
  evalData?: EvalData;
  evalAttack?: AttackSpec;
  evalLimit?: number;
  /** Evaluate every this many steps (default: at the end of each epoch). */
  evalEverySteps?: number;
  /** Also evaluate each time the training time passes a multiple of this many seconds (the same marks for runs that are compared). */
  evalEverySeconds?: number;
  /**
   * Continue from a saved position. The caller must already have called method.init and loaded the
   * model and optimiser state (train() then does not call init again).
   */
  resume?: TrainPosition;
  /** Polled after each step: return true to stop cleanly (e.g. Ctrl-C). */
  shouldStop?: () => boolean;
  onStep?: (r: StepRecord) => void | Promise<void>;
  onEvaluate?: (r: EvalRecord) => void | Promise<void>;
  /** Called at every point worth saving (after evaluations, at epoch ends, when stopping). */
  onCheckpoint?: (p: TrainPosition) => void | Promise<void>;
  /**
   * After the run's last evaluation and before its last checkpoint (not when stopped by a request):
   * whatever a finished run must also have recorded (e.g. its final test-set evaluation), so that a
   * checkpoint saying the run is finished comes after it, and a crash in between redoes it.
   */
  onFinish?: (p: TrainPosition) => void | Promise<void>;
}

/** Where training stopped and why, and the last evaluation record. */
export interface TrainResult {
  position: TrainPosition;
  stoppedBy: 'epochs' | 'time-budget' | 'stop-request';
  lastEval: EvalRecord | null;
}

/** Seeds the model's own randomness (dropout masks) for one step. */
function seedModel(model: Classifier, rng: Random): void {
  for (const m of model.modules()) if (m instanceof Dropout) m.rng = rng.fork();
}

async function correctCount(logits: Tensor, y: Tensor): Promise<number> {
  const total = tidy(() => sum(eq(cast(argmax(logits, 1), 'float32'), cast(y, 'float32'))));
  const v = await total.item();
  total.dispose();
  return v;
}

/** Runs the shared training loop (from `resume` when given): batches in seeded order, the learning-rate schedule, periodic evaluation, time budget, checkpoint callbacks; throws TrainingDiverged on a non-finite loss. */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const { model, method, batches } = o;
  const schedule = o.schedule ?? (() => o.hyper.lr);
  // A resumed run's optimisers were created and loaded by the caller: init() again would replace
  // them with fresh ones (momentum lost) and the run would no longer match an uninterrupted one.
  await checkClassifier(model, { batchSize: batches.batch(0, 0).count }); // the YOPO contract (nn/models/contract.ts)
  if (o.firstLayerSchedule && !method.setFirstLayerLearningRate)
    throw new Error(`${method.name} has no separate first-layer optimiser, so it cannot take a first-layer schedule`);
  const budget = o.budgetMilestones ?? [];
  if (budget.length > 0 && o.timeBudgetS === undefined)
    throw new Error('train: budgetMilestones are fractions of the time budget, so they need timeBudgetS');
  if (budget.some((f, i) => !(f > 0 && f < 1) || (i > 0 && f <= budget[i - 1]!)))
    throw new Error(`train: budgetMilestones must be ascending fractions between 0 and 1, got ${budget.join(', ')}`);
  if (!o.resume) method.init(model, o.hyper);
  const pos: TrainPosition = o.resume ? { ...o.resume } : { epoch: 0, batch: 0, step: 0, elapsed: 0 };
  // ×0.1 for each budget milestone the run's training time has passed.
  const budgetFactor = () => 0.1 ** budget.filter((f) => pos.elapsed >= f * o.timeBudgetS!).length;
  // The number of time marks (multiples of evalEverySeconds) the training time has passed.
  const marksPassed = () => (o.evalEverySeconds ? Math.floor(pos.elapsed / o.evalEverySeconds) : 0);
  let lastEval: EvalRecord | null = null;
  let stoppedBy: TrainResult['stoppedBy'] = 'epochs';
  let evaluationDue = false;

  const runEvaluation = async () => {
    if (!o.evalData || !o.evalAttack) return;
    const r = await evaluate(model, o.evalData, o.evalAttack, { limit: o.evalLimit, seed: o.seed + 1 });
    // At the end of an epoch the record says the epoch is done (epoch + 1, batch 0), as it does for
    // the evaluations after the epoch loop, so the same point of a run is recorded the same way.
    const at = pos.batch >= batches.batchesPerEpoch ? { ...pos, epoch: pos.epoch + 1, batch: 0 } : { ...pos };
    lastEval = { ...at, ...r };
    await o.onEvaluate?.(lastEval);
  };

  // Stopped where an evaluation was due: run it now, then checkpoint, as the uninterrupted run did.
  // (At the run's end the final evaluation below is that evaluation.)
  if (o.resume?.evaluationDue && pos.epoch < o.epochs) {
    delete pos.evaluationDue;
    await runEvaluation();
    await o.onCheckpoint?.({ ...pos });
  }
  delete pos.evaluationDue;

  outer: while (pos.epoch < o.epochs) {
    while (pos.batch < batches.batchesPerEpoch) {
      const factor = budgetFactor() * warmupFactor(pos.step, o.warmupSteps ?? 0);
      const marksBefore = marksPassed();
      const lr = schedule(pos.epoch) * factor;
      method.setLearningRate(lr);
      if (o.firstLayerSchedule) method.setFirstLayerLearningRate!(o.firstLayerSchedule(pos.epoch) * factor);
      const b = batches.batch(pos.epoch, pos.batch);
      const started = performance.now();
      const rng = new Random(o.seed * 1_000_003 + pos.step);
      seedModel(model, rng.fork());
      const x = tensor(b.images, [b.count, ...batches.dataset.shape]);
      const y = tensor(b.labels, [b.count], 'int32');
      const out = method.step(model, x, y, rng);
      const loss = await out.loss.item();
      const correct = await correctCount(out.logits, y);
      out.loss.dispose();
      out.logits.dispose();
      out.adversary?.dispose();
      x.dispose();
      y.dispose();
      const seconds = (performance.now() - started) / 1000;
      if (!Number.isFinite(loss)) {
        throw new TrainingDiverged(
          `training diverged: the loss became ${loss} at epoch ${pos.epoch + 1}, batch ${pos.batch + 1} (step ${pos.step + 1}); lower the learning rate (now ${lr})`,
        );
      }
      pos.elapsed += seconds;
      pos.step++;
      pos.batch++;
      await o.onStep?.({ ...pos, loss, train_accuracy: correct / b.count, lr, images_per_s: b.count / seconds });
      // The run's last step is evaluated once, by the final evaluation below (not twice).
      const epochEnd = pos.batch >= batches.batchesPerEpoch;
      const lastStep = epochEnd && pos.epoch + 1 >= o.epochs;
      const markPassed = marksPassed() > marksBefore;
      const evalDue =
        ((o.evalEverySteps !== undefined && pos.step % o.evalEverySteps === 0) || markPassed) && !lastStep;
      const overBudget = o.timeBudgetS !== undefined && pos.elapsed >= o.timeBudgetS;
      const stopRequested = o.shouldStop?.() ?? false;
      if (evalDue && !overBudget && !stopRequested) {
        await runEvaluation();
        await o.onCheckpoint?.({ ...pos });
      }
      if (overBudget || stopRequested) {
        stoppedBy = overBudget ? 'time-budget' : 'stop-request';
        // A stop request skips the evaluation due here (stopping must be quick); the checkpoint says it is due.
        evaluationDue =
          !overBudget &&
          (evalDue || lastStep || (o.evalEverySteps === undefined && o.evalEverySeconds === undefined && epochEnd));
        break outer;
      }
    }
    pos.epoch++;
    pos.batch = 0;
    if (o.evalEverySteps === undefined && o.evalEverySeconds === undefined && pos.epoch < o.epochs)
      await runEvaluation();
    // After the last epoch the final evaluation comes first, then the checkpoint: a run whose
    // checkpoint says it is finished has all its records (a crash in between redoes the last part).
    if (pos.epoch < o.epochs) await o.onCheckpoint?.({ ...pos });
  }
  // Normalise a stop exactly at an epoch's end, then the final evaluation and checkpoint.
  if (pos.batch >= batches.batchesPerEpoch) {
    pos.epoch++;
    pos.batch = 0;
  }
  if (stoppedBy !== 'stop-request') {
    await runEvaluation();
    await o.onFinish?.({ ...pos });
  }
  await o.onCheckpoint?.(evaluationDue ? { ...pos, evaluationDue } : { ...pos });
  return { position: { ...pos }, stoppedBy, lastEval };
}
