// The training worker: owns the WebGPU device, the MNIST data, the models (the one being trained, the
// two shipped pretrained ones, an uploaded one) and the method, so that the page never freezes. Every GPU job (a training step, a prediction, an attack, an evaluation, a
// checkpoint) runs alone through `exclusive`, so page requests slot in between training steps.

import {
  BatchLoader,
  type Classifier,
  type Dataset,
  type Method,
  Random,
  SmallCNN,
  decodeModel,
  encodeModel,
  evaluate,
  apgdAttack,
  idxDatasetFromBytes,
  loadPretrained,
  parseAttack,
  parseMethod,
  pgdAttack,
  softmax,
  subset,
  tensor,
  tidy,
  trainingDefaults,
  useWebGPU,
  adapterName,
} from '../browser.js';
import {
  type AttackReply,
  type BatchAttackReply,
  type EvalEvent,
  type InitReply,
  type ModelSlot,
  PRETRAINED_SLOTS,
  type PageAttack,
  type Prediction,
  type Reply,
  type Request,
  type StepEvent,
  type WorkerEvent,
} from './protocol.js';

const scope = globalThis as unknown as {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<Request & { id: number }>) => void) | null;
};
const emit = (event: WorkerEvent) => scope.postMessage(event);

let train: Dataset;
let test: Dataset;
let seed = 1;
/** The model being trained (a fresh one until Start). */
let trained: Classifier;
/** The shipped models and an uploaded checkpoint, by the picker's slot. */
const loaded = new Map<ModelSlot, Classifier>();

/** The model a request names (the trained one by default). */
function modelIn(slot: ModelSlot = 'trained'): Classifier {
  if (slot === 'trained') return trained;
  const m = loaded.get(slot);
  if (!m)
    throw new Error(
      slot === 'uploaded' ? 'no checkpoint has been uploaded yet' : `the pretrained model '${slot}' did not load`,
    );
  return m;
}

// ---- one GPU job at a time -------------------------------------------------------------------

let queue: Promise<unknown> = Promise.resolve();
function exclusive<T>(job: () => Promise<T>): Promise<T> {
  const run = queue.then(job);
  queue = run.catch(() => undefined);
  return run;
}

// ---- data ------------------------------------------------------------------------------------

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not fetch ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function loadMnist(split: 'train' | 't10k', limit?: number): Promise<Dataset> {
  const imagesFile = new URL(`../../data/mnist/${split}-images-idx3-ubyte`, import.meta.url).href;
  const labelsFile = new URL(`../../data/mnist/${split}-labels-idx1-ubyte`, import.meta.url).href;
  const [images, labels] = await Promise.all([fetchBytes(imagesFile), fetchBytes(labelsFile)]);
  const ds = await idxDatasetFromBytes(images, labels, { imagesFile, labelsFile, name: 'mnist', classes: 10 });
  return limit && limit < ds.count ? subset(ds, limit) : ds;
}

// ---- training --------------------------------------------------------------------------------

interface Run {
  method: Method;
  spec: string;
  loader: BatchLoader;
  eps: number;
  evalEverySeconds: number;
  evalImages: number;
  step: number;
  elapsed: number;
  nextEval: number;
  running: boolean;
  /** Recent step times, for steps/s over a sliding window. */
  recent: number[];
}
let run: Run | null = null;

function startRun(r: Extract<Request, { type: 'start' }>): void {
  if (run) run.running = false;
  const threat = { eps: r.eps, step: 0.01 * (r.eps / 0.3) }; // the paper's MNIST step, scaled with ε
  const method = parseMethod(r.method, threat);
  const defaults = trainingDefaults('mnist', r.method, 'smallcnn');
  trained?.dispose();
  trained = new SmallCNN(new Random(seed));
  method.init(trained, { lr: r.lr ?? defaults.lr, momentum: 0.9, weightDecay: defaults.weightDecay });
  const loader = new BatchLoader(train, { batchSize: r.batch, shuffle: true, seed });
  run = {
    method,
    spec: r.method,
    loader,
    eps: r.eps,
    evalEverySeconds: r.evalEverySeconds,
    evalImages: r.evalImages,
    step: 0,
    elapsed: 0,
    nextEval: r.evalEverySeconds,
    running: true,
    recent: [],
  };
  void loop(run);
}

async function loop(r: Run): Promise<void> {
  emit({ type: 'state', running: true, method: r.spec });
  try {
    while (r.running && run === r) {
      await exclusive(() => trainStep(r));
      if (r.elapsed >= r.nextEval && r.running && run === r) {
        r.nextEval = r.elapsed + r.evalEverySeconds;
        await exclusive(() => evaluateRun(r));
      }
    }
  } catch (error) {
    r.running = false;
    emit({ type: 'error', message: (error as Error).message });
  }
  if (run === r) emit({ type: 'state', running: false, method: r.spec });
}

async function trainStep(r: Run): Promise<void> {
  const epoch = Math.floor(r.step / r.loader.batchesPerEpoch);
  const b = r.loader.batch(epoch, r.step % r.loader.batchesPerEpoch);
  const started = performance.now();
  trained.train();
  const x = tensor(b.images, [b.count, 1, 28, 28]);
  const y = tensor(b.labels, [b.count], 'int32');
  const out = r.method.step(trained, x, y, new Random(seed * 1_000_003 + r.step));
  const loss = await out.loss.item();
  for (const t of [out.loss, out.logits, out.adversary, x, y]) t?.dispose();
  const seconds = (performance.now() - started) / 1000;
  if (!Number.isFinite(loss)) throw new Error(`training diverged: the loss became ${loss} at step ${r.step + 1}`);
  r.step++;
  r.elapsed += seconds;
  r.recent.push(seconds);
  if (r.recent.length > 10) r.recent.shift();
  const window = r.recent.reduce((a, s) => a + s, 0);
  const event: StepEvent = {
    type: 'step',
    step: r.step,
    epoch,
    loss,
    elapsed: r.elapsed,
    stepsPerSecond: r.recent.length / window,
    imagesPerSecond: (r.recent.length * b.count) / window,
  };
  emit(event);
}

function pgdSpec(eps: number, steps: number) {
  return parseAttack(`pgd-${steps}`, eps, (2.5 * eps) / steps);
}

async function evaluateRun(r: Run): Promise<void> {
  const result = await evaluate(trained, test, pgdSpec(r.eps, 20), {
    limit: r.evalImages,
    seed: seed + 1,
    batchSize: r.loader.batchSize,
  });
  const event: EvalEvent = { type: 'eval', step: r.step, elapsed: r.elapsed, ...result };
  emit(event);
}

// ---- the drawing pad -------------------------------------------------------------------------

async function predict(model: Classifier, pixels: Float32Array): Promise<Prediction> {
  model.eval();
  const probs = tidy(() => softmax(model.forward(tensor(pixels, [1, 1, 28, 28]))));
  const probabilities = [...(await probs.data())];
  probs.dispose();
  return { probabilities, label: probabilities.indexOf(Math.max(...probabilities)) };
}

/** The page's attacks as AttackSpecs, for a batch of test images (one image uses the attacks below directly). */
function attackSpec(kind: PageAttack | 'none', eps: number) {
  if (kind === 'none') return parseAttack('none', 0, 0);
  return kind === 'pgd-40' ? pgdSpec(eps, 40) : parseAttack('apgd-ce', eps, 0);
}

/** The chosen attack on one image; the label is the true one for a test image, else the clean prediction. */
async function attack(
  model: Classifier,
  pixels: Float32Array,
  label: number,
  eps: number,
  kind: PageAttack,
): Promise<AttackReply> {
  const clean = await predict(model, pixels);
  model.eval();
  const target = label < 0 ? clean.label : label;
  const x = tensor(pixels, [1, 1, 28, 28]);
  const y = tensor(new Int32Array([target]), [1], 'int32');
  const rng = new Random(seed + 2);
  const adv =
    kind === 'apgd-ce'
      ? await apgdAttack(model, x, Int32Array.of(target), { eps, norm: 'linf', loss: 'ce', steps: 100 }, rng)
      : pgdAttack(model, x, y, null, { eps, alpha: (2.5 * eps) / 40, steps: 40 }, rng);
  const adversary = new Float32Array(await adv.data());
  for (const t of [x, y, adv]) t.dispose();
  const adversarial = await predict(model, adversary);
  return { attack: kind, fooled: adversarial.label !== target, clean, adversarial, adversary };
}

/** The chosen attack on the first `images` test images: how many the model still classifies right. */
async function attackBatch(
  slot: ModelSlot,
  images: number,
  eps: number,
  kind: PageAttack | 'none',
  batchSize = 50,
): Promise<BatchAttackReply> {
  const started = performance.now();
  const r = await evaluate(modelIn(slot), test, attackSpec(kind, eps), { limit: images, seed: seed + 1, batchSize });
  return {
    model: slot,
    attack: kind,
    eps,
    n: r.n,
    clean_accuracy: r.clean_accuracy,
    robust_accuracy: r.robust_accuracy,
    seconds: (performance.now() - started) / 1000,
  };
}

// ---- requests --------------------------------------------------------------------------------

async function handle(request: Request): Promise<unknown> {
  switch (request.type) {
    case 'init': {
      seed = request.seed ?? 1;
      const backend = await useWebGPU();
      [train, test] = await Promise.all([loadMnist('train', request.trainLimit), loadMnist('t10k', request.testLimit)]);
      trained = new SmallCNN(new Random(seed));
      // The shipped models (pretrained/, served beside dist/): the page starts with them, no training needed.
      const pretrained: InitReply['pretrained'] = [];
      for (const [slot, name] of PRETRAINED_SLOTS) {
        try {
          const p = await loadPretrained(name);
          loaded.set(slot, p.model);
          pretrained.push({ slot, name, method: p.info.method, error: null });
        } catch (error) {
          pretrained.push({ slot, name, method: null, error: (error as Error).message });
        }
      }
      const info = backend.adapter!;
      const reply: InitReply = {
        adapter: adapterName(info),
        isSoftware: info.isSoftware,
        trainCount: train.count,
        testCount: test.count,
        pretrained,
      };
      return reply;
    }
    case 'start':
      // Between two jobs: the model a queued step or evaluation uses is not replaced under it.
      return exclusive(async () => startRun(request));
    case 'pause':
      if (run) run.running = false;
      return null;
    case 'resume':
      if (run && !run.running) {
        run.running = true;
        void loop(run);
      }
      return null;
    case 'predict':
      return exclusive(() => predict(modelIn(request.model), request.pixels));
    case 'attack':
      return exclusive(() =>
        attack(modelIn(request.model), request.pixels, request.label, request.eps, request.attack),
      );
    case 'attackBatch':
      return exclusive(() =>
        attackBatch(request.model ?? 'trained', request.images, request.eps, request.attack, request.batchSize),
      );
    case 'testImage': {
      const i = ((request.index % test.count) + test.count) % test.count;
      return { index: i, label: test.labels[i], pixels: test.images.slice(i * 784, (i + 1) * 784) };
    }
    case 'export': {
      const slot = request.model ?? 'trained';
      const metadata: Record<string, string> =
        slot === 'trained'
          ? { source: 'yopo web page', method: run?.spec ?? 'untrained', steps: String(run?.step ?? 0) }
          : { source: `yopo web page (${slot})` };
      return exclusive(() => encodeModel(modelIn(slot), metadata));
    }
    case 'import':
      return exclusive(async () => {
        // Into its own slot: the model being trained goes on training.
        const fresh = new SmallCNN(new Random(seed));
        try {
          const metadata = decodeModel(request.bytes, fresh, request.name);
          loaded.get('uploaded')?.dispose();
          loaded.set('uploaded', fresh);
          return metadata;
        } catch (error) {
          fresh.dispose();
          throw error;
        }
      });
  }
}

scope.onmessage = (event) => {
  const { id, ...request } = event.data;
  handle(request as Request).then(
    (result) => scope.postMessage({ id, ok: true, result } satisfies Reply),
    (error: Error) => scope.postMessage({ id, ok: false, error: error.message } satisfies Reply),
  );
};
