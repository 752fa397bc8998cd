// Messages between the page (main.ts) and the training worker (worker.ts). Requests carry an id and get
// one reply with that id; events (training progress) carry none.

export type Request =
  | { type: 'init'; trainLimit?: number; testLimit?: number; seed?: number }
  | { type: 'start'; method: string; eps: number; batch: number; lr?: number; evalEverySeconds: number; evalImages: number }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'predict'; pixels: Float32Array }
  | { type: 'attack'; pixels: Float32Array; label: number; eps: number; attack: PageAttack }
  | { type: 'testImage'; index: number }
  | { type: 'evaluate'; images: number; eps: number; steps: number; batchSize?: number }
  | { type: 'export' }
  | { type: 'import'; bytes: Uint8Array; name: string };

export interface InitReply {
  adapter: string;
  isSoftware: boolean;
  trainCount: number;
  testCount: number;
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

export type WorkerEvent = StepEvent | EvalEvent | { type: 'state'; running: boolean; method: string } | { type: 'error'; message: string };

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

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
