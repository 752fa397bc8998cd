// Messages between the page (main.ts) and the training worker (worker.ts). Requests carry an id and get
// one reply with that id; events (training progress) carry none.

/** The models the page can use: the two shipped pretrained ones, the one being trained, an uploaded one. */
export type ModelSlot = 'natural' | 'yopo' | 'trained' | 'uploaded';

/** The picker's pretrained slots and the shipped models in them (pretrained/). */
export const PRETRAINED_SLOTS = [
  ['natural', 'smallcnn-mnist-natural'],
  ['yopo', 'smallcnn-mnist-yopo'],
] as const satisfies readonly (readonly [ModelSlot, string])[];

/** Requests naming no model use the one being trained. */
export type Request =
  | { type: 'init'; trainLimit?: number; testLimit?: number; seed?: number }
  | {
      type: 'start';
      method: string;
      eps: number;
      batch: number;
      lr?: number;
      evalEverySeconds: number;
      evalImages: number;
    }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'predict'; model?: ModelSlot; pixels: Float32Array }
  | { type: 'attack'; model?: ModelSlot; pixels: Float32Array; label: number; eps: number; attack: PageAttack }
  | {
      type: 'attackBatch';
      model?: ModelSlot;
      images: number;
      eps: number;
      attack: PageAttack | 'none';
      batchSize?: number;
    }
  | { type: 'testImage'; index: number }
  | { type: 'export'; model?: ModelSlot }
  | { type: 'import'; bytes: Uint8Array; name: string };

export interface InitReply {
  adapter: string;
  isSoftware: boolean;
  trainCount: number;
  testCount: number;
  /** Each shipped model: its slot and name, and the method it was trained with, or why it did not load. */
  pretrained: { slot: ModelSlot; name: string; method: string | null; error: string | null }[];
}

export interface StepEvent {
  type: 'step';
  step: number;
  epoch: number;
  loss: number;
  /** Training seconds so far (evaluation and pauses excluded). */
  elapsed: number;
  stepsPerSecond: number;
  imagesPerSecond: number;
}

export interface EvalEvent {
  type: 'eval';
  step: number;
  elapsed: number;
  clean_accuracy: number;
  robust_accuracy: number;
  attack: string;
  eps: number;
  n: number;
}

export type WorkerEvent =
  | StepEvent
  | EvalEvent
  | { type: 'state'; running: boolean; method: string }
  | { type: 'error'; message: string };

export interface Prediction {
  probabilities: number[];
  label: number;
}

/** The attacks the drawing pad offers (L∞): PGD-40 (step 2.5ε/40, random start) and APGD-CE (100 steps, as in AutoAttack). */
export type PageAttack = 'pgd-40' | 'apgd-ce';

export interface AttackReply {
  attack: PageAttack;
  /** Whether the adversary is misclassified. APGD returns the input itself when it found no such point. */
  fooled: boolean;
  clean: Prediction;
  adversarial: Prediction;
  /** clip(x + η, 0, 1), 28×28. */
  adversary: Float32Array;
}

/** An attack on the first n test images: the share the model classifies right before and after it. */
export interface BatchAttackReply {
  model: ModelSlot;
  attack: PageAttack | 'none';
  eps: number;
  n: number;
  clean_accuracy: number;
  robust_accuracy: number;
  seconds: number;
}

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
