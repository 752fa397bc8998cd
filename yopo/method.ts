// What a training method is: given a batch, one update of the model (however many propagations that
// takes). Methods own their optimisers; the shared loop (train.ts) owns data, schedule and timing.

import type { Random, Tensor } from '../engine/index.js';
import type { Classifier, SGD } from '../nn/index.js';

/** Optimiser hyperparameters a Method's SGD starts from: base learning rate, momentum, weight decay. */
export interface Hyper {
  /** Base learning rate (methods that sum m gradients divide it by m, as the paper does). */
  lr: number;
  momentum: number;
  weightDecay: number;
}

/** What one training step returns: the loss, the logits of its last forward, and the adversarial input it trained on. */
export interface StepOutput {
  /** The training loss of this step (a scalar tensor; read it when you need the number). */
  loss: Tensor;
  /** Logits of the last forward on the training batch (for train accuracy). */
  logits: Tensor;
  /** The adversarial input clip(x + η, 0, 1) the update trained on (none for natural training). */
  adversary?: Tensor;
}

/** A training method (natural, PGD-r, Free-m, YOPO-m-n, TRADES, TRADES-YOPO): creates its optimisers, then runs one update per batch. */
export interface Method {
  /** e.g. 'yopo-5-3', 'pgd-10'. */
  readonly name: string;
  /** Full (forward+backward) passes per batch, for cost accounting. */
  readonly passesPerBatch: number;
  /** Free-m replays each batch m times: run epochs/m epochs to match the others. */
  readonly epochDivisor: number;
  /** Creates the optimisers for this model. Call once before step(). */
  init(model: Classifier, hyper: Hyper): void;
  /** One training update on a batch; x in [0, 1], y int32 labels. Runs synchronously on the queue. */
  step(model: Classifier, x: Tensor, y: Tensor, rng: Random): StepOutput;
  /** Sets the base learning rate (schedules call this). */
  setLearningRate(lr: number): void;
  /** YOPO only: sets the first layer's base rate alone (its own schedule); call after setLearningRate. */
  setFirstLayerLearningRate?(lr: number): void;
  /** Optimisers by name, for checkpoints. */
  optimizers(): Map<string, SGD>;
  /** State that persists across batches besides optimisers (Free-m's δ), for checkpoints. */
  persistentState?(): Map<string, Tensor>;
  /** Restores what persistentState() returned, from host arrays. */
  restoreState?(state: Map<string, { shape: number[]; data: Float32Array | Int32Array }>): void;
  dispose(): void;
}
