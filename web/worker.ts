// The training worker: owns the WebGPU device, the MNIST data, the model and the method, so that the
// page never freezes. Every GPU job (a training step, a prediction, an attack, an evaluation, a
// checkpoint) runs alone through `exclusive`, so page requests slot in between training steps.

import {
  BatchLoader, type Classifier, type Dataset, type Method, Random, SmallCNN, decodeModel, encodeModel, evaluate,
  apgdAttack, idxDatasetFromBytes, parseAttack, parseMethod, pgdAttack, softmax, subset, tensor, tidy, trainingDefaults, useWebGPU, adapterName,
} from '../browser.js';
import type { AttackReply, EvalEvent, InitReply, PageAttack, Prediction, Reply, Request, StepEvent, WorkerEvent } from './protocol.js';

const scope = globalThis as unknown as {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<Request & { id: number }>) => void) | null;
};
const emit = (event: WorkerEvent) => scope.postMessage(event);

let train: Dataset;
let test: Dataset;
let seed = 1;
let model: Classifier;

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
  model = new SmallCNN(new Random(seed));
  method.init(model, { lr: r.lr ?? defaults.lr, momentum: 0.9, weightDecay: defaults.weightDecay });
  const loader = new BatchLoader(train, { batchSize: r.batch, shuffle: true, seed });
  run = { method, spec: r.method, loader, eps: r.eps, evalEverySeconds: r.evalEverySeconds, evalImages: r.evalImages, step: 0, elapsed: 0, nextEval: r.evalEverySeconds, running: true, recent: [] };
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
  model.train();
  const x = tensor(b.images, [b.count, 1, 28, 28]);
  const y = tensor(b.labels, [b.count], 'int32');
  const out = r.method.step(model, x, y, new Random(seed * 1_000_003 + r.step));
  const loss = await out.loss.item();
  for (const t of [out.loss, out.logits, out.adversary, x, y]) t?.dispose();
  const seconds = (performance.now() - started) / 1000;
  if (!Number.isFinite(loss)) throw new Error(`training diverged: the loss became ${loss} at step ${r.step + 1}`);
  r.step++;
  r.elapsed += seconds;
  r.recent.push(seconds);
  if (r.recent.length > 10) r.recent.shift();
  const window = r.recent.reduce((a, s) => a + s, 0);
  const event: StepEvent = { type: 'step', step: r.step, epoch, loss, elapsed: r.elapsed, stepsPerSecond: r.recent.length / window, imagesPerSecond: (r.recent.length * b.count) / window };
  emit(event);
}

function pgdSpec(eps: number, steps: number) {
  return parseAttack(`pgd-${steps}`, eps, (2.5 * eps) / steps);
}

async function evaluateRun(r: Run): Promise<void> {
  const result = await evaluate(model, test, pgdSpec(r.eps, 20), { limit: r.evalImages, seed: seed + 1, batchSize: r.loader.batchSize });
  const event: EvalEvent = { type: 'eval', step: r.step, elapsed: r.elapsed, ...result };
  emit(event);
}

// ---- the drawing pad -------------------------------------------------------------------------

async function predict(pixels: Float32Array): Promise<Prediction> {
  model.eval();
  const probs = tidy(() => softmax(model.forward(tensor(pixels, [1, 1, 28, 28]))));
  const probabilities = [...(await probs.data())];
  probs.dispose();
  return { probabilities, label: probabilities.indexOf(Math.max(...probabilities)) };
}

/** The chosen attack on one image; the label is the true one for a test image, else the clean prediction. */
async function attack(pixels: Float32Array, label: number, eps: number, kind: PageAttack): Promise<AttackReply> {
  const clean = await predict(pixels);
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
  const adversarial = await predict(adversary);
  return { attack: kind, fooled: adversarial.label !== target, clean, adversarial, adversary };
}

// ---- requests --------------------------------------------------------------------------------

async function handle(request: Request): Promise<unknown> {
  switch (request.type) {
    case 'init': {
      seed = request.seed ?? 1;
      const backend = await useWebGPU();
      [train, test] = await Promise.all([loadMnist('train', request.trainLimit), loadMnist('t10k', request.testLimit)]);
      model = new SmallCNN(new Random(seed));
      const info = backend.adapter!;
      const reply: InitReply = { adapter: adapterName(info), isSoftware: info.isSoftware, trainCount: train.count, testCount: test.count };
      return reply;
    }
    case 'start':
      return startRun(request);
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
      return exclusive(() => predict(request.pixels));
    case 'attack':
      return exclusive(() => attack(request.pixels, request.label, request.eps, request.attack));
    case 'testImage': {
      const i = ((request.index % test.count) + test.count) % test.count;
      return { index: i, label: test.labels[i], pixels: test.images.slice(i * 784, (i + 1) * 784) };
    }
    case 'evaluate':
      return exclusive(() => evaluate(model, test, request.steps > 0 ? pgdSpec(request.eps, request.steps) : parseAttack('none', 0, 0), { limit: request.images, seed: seed + 1, batchSize: request.batchSize ?? 100 }));
    case 'export':
      return exclusive(() => encodeModel(model, { source: 'yopo web page', method: run?.spec ?? 'untrained', steps: String(run?.step ?? 0) }));
    case 'import':
      return exclusive(async () => {
        if (run) run.running = false;
        const fresh = new SmallCNN(new Random(seed));
        const metadata = decodeModel(request.bytes, fresh, request.name);
        model = fresh;
        run = null;
        emit({ type: 'state', running: false, method: 'loaded' });
        return metadata;
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
