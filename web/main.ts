// The page: a model picker (the two shipped pretrained models, the one being trained, an uploaded one),
// the drawing pad with the chosen model's prediction and attack (PGD or APGD) beside both pretrained
// models' answers, the attack on a batch of test images, settings and start/pause with live curves (the
// SVG code of curve.svg), and checkpoint download/upload. All GPU work happens in the worker.

import { type MetricRecord, PALETTE, percentWithInterval, renderCurves, renderRunCurve } from '../browser.js';
import type {
  AttackReply,
  BatchAttackReply,
  EvalEvent,
  InitReply,
  ModelSlot,
  PageAttack,
  Prediction,
  Request,
  StepEvent,
  WorkerEvent,
} from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const numberParam = (name: string) => (params.has(name) ? Number(params.get(name)) : undefined);

// ---- the worker, as request/reply promises plus a stream of events -------------------------------

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let nextId = 0;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
function ask<T>(request: Request, transfer: Transferable[] = []): Promise<T> {
  const id = nextId++;
  worker.postMessage({ id, ...request }, transfer);
  return new Promise<T>((resolve, reject) => pending.set(id, { resolve: resolve as (v: unknown) => void, reject }));
}

const steps: StepEvent[] = [];
const evals: EvalEvent[] = [];
let running = false;
let methodName = '';

worker.onmessage = (event: MessageEvent) => {
  const data = event.data as WorkerEvent | { id: number; ok: boolean; result?: unknown; error?: string };
  if ('id' in data) {
    const p = pending.get(data.id)!;
    pending.delete(data.id);
    if (data.ok) p.resolve(data.result);
    else p.reject(new Error(data.error));
    return;
  }
  switch (data.type) {
    case 'step':
      steps.push(data);
      showStatus();
      scheduleCharts();
      break;
    case 'eval':
      evals.push(data);
      scheduleCharts();
      break;
    case 'state':
      running = data.running;
      methodName = data.method;
      $('pause').textContent = running ? 'Pause' : 'Resume';
      ($('pause') as HTMLButtonElement).disabled = false;
      showStatus();
      break;
    case 'error':
      $('status').textContent = `Error: ${data.message}`;
      $('status').className = 'error';
      break;
  }
};

// ---- training controls, status and curves -----------------------------------------------------

const eps = () => Number(($('eps') as HTMLInputElement).value);
/** The attacks' radius (the drawing pad and the batch). */
const attackEps = () => Number(($('attackEps') as HTMLInputElement).value);

// ---- the model picker ------------------------------------------------------------------------

const picker = $<HTMLSelectElement>('model');
const chosen = () => picker.value as ModelSlot;
const SLOT_NAMES: Record<ModelSlot, string> = {
  natural: 'natural',
  yopo: 'YOPO-5-10',
  trained: 'the one being trained',
  uploaded: 'uploaded',
};
/** The shipped models that loaded (the side-by-side line needs both). */
let pretrainedReady: ModelSlot[] = [];

function choose(slot: ModelSlot): void {
  picker.value = slot;
  onModelChange();
}
function onModelChange(): void {
  lastAttack = null;
  for (const id of ['adv', 'heat']) $<HTMLCanvasElement>(id).getContext('2d')!.clearRect(0, 0, 280, 280);
  // The batch result stays: it names its model.
  for (const id of ['advProbs', 'advLabel', 'both']) $(id).textContent = '';
  void showPrediction();
}
picker.onchange = onModelChange;

$('start').onclick = () => {
  const batch = Number(($('batch') as HTMLInputElement).value);
  const e = eps();
  if (!(Number.isInteger(batch) && batch >= 1 && batch <= 512))
    return void ($('status').textContent = 'batch must be a whole number from 1 to 512');
  if (!(e >= 0 && e <= 1)) return void ($('status').textContent = 'ε must be between 0 and 1');
  const lrText = ($('lr') as HTMLInputElement).value.trim();
  const lr = lrText === '' ? undefined : Number(lrText);
  if (lr !== undefined && !(lr > 0))
    return void ($('status').textContent = "the learning rate must be a positive number (or empty for the paper's)");
  steps.length = 0;
  evals.length = 0;
  $('status').className = '';
  // The pad follows the model being trained.
  if (chosen() !== 'trained') choose('trained');
  void ask({
    type: 'start',
    method: ($('method') as HTMLSelectElement).value,
    eps: e,
    batch,
    lr,
    evalEverySeconds: numberParam('evalEvery') ?? 20,
    evalImages: numberParam('evalImages') ?? 200,
  });
};
$('pause').onclick = () => void ask({ type: running ? 'pause' : 'resume' });

function showStatus(): void {
  const last = steps.at(-1);
  const state = running ? 'training' : last ? 'paused' : 'ready';
  if (!last) return void ($('status').textContent = `${state}`);
  const ev = evals.at(-1);
  const acc = ev
    ? ` · clean ${(100 * ev.clean_accuracy).toFixed(1)}% · ${ev.attack} ${(100 * ev.robust_accuracy).toFixed(1)}% (${ev.n} test images)`
    : '';
  $('status').textContent =
    `${state} ${methodName} · step ${last.step} (epoch ${last.epoch + 1}) · loss ${last.loss.toFixed(4)} · ${last.stepsPerSecond.toFixed(2)} steps/s · ${last.imagesPerSecond.toFixed(0)} images/s · ${last.elapsed.toFixed(1)} s${acc}`;
}

let chartTimer = 0;
function scheduleCharts(): void {
  if (chartTimer !== 0) return;
  chartTimer = window.setTimeout(() => {
    chartTimer = 0;
    $('lossChart').innerHTML = renderCurves({
      title: 'training loss',
      xLabel: 'training time (s)',
      yLabel: 'loss',
      xIncludeZero: true,
      width: 520,
      height: 300,
      series: [{ label: methodName, color: PALETTE[1], points: steps.map((s) => ({ x: s.elapsed, y: s.loss })) }],
    });
    if (evals.length > 0) {
      const records: MetricRecord[] = evals.map((e) => ({
        epoch: 0,
        step: e.step,
        elapsed_s: e.elapsed,
        clean_accuracy: e.clean_accuracy,
        robust_accuracy: e.robust_accuracy,
        attack: e.attack,
        eps: e.eps,
        n: e.n,
      }));
      $('accChart').innerHTML = renderRunCurve(records, 'test accuracy').replace(/^<\?xml[^>]*>\s*/, '');
    }
  }, 250);
}

// ---- the drawing pad -------------------------------------------------------------------------

const pad = $<HTMLCanvasElement>('pad');
const padContext = pad.getContext('2d', { willReadFrequently: true })!;
let input: Float32Array | null = null;
let inputLabel = -1;

function clearPad(): void {
  padContext.fillStyle = '#000';
  padContext.fillRect(0, 0, pad.width, pad.height);
  input = null;
  inputLabel = -1;
  for (const id of ['probs', 'advProbs', 'cleanLabel', 'advLabel']) $(id).textContent = '';
  for (const id of ['adv', 'heat']) {
    const c = $<HTMLCanvasElement>(id).getContext('2d')!;
    c.clearRect(0, 0, 280, 280);
  }
}

let drawing = false;
pad.onpointerdown = (e) => {
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  padContext.beginPath();
  padContext.moveTo(e.offsetX, e.offsetY);
};
pad.onpointermove = (e) => {
  if (!drawing) return;
  padContext.strokeStyle = '#fff';
  padContext.lineWidth = 20;
  padContext.lineCap = padContext.lineJoin = 'round';
  padContext.lineTo(e.offsetX, e.offsetY);
  padContext.stroke();
};
pad.onpointerup = () => {
  if (!drawing) return;
  drawing = false;
  input = padToMnist();
  inputLabel = -1;
  void showPrediction();
};

/** The drawing as MNIST does it: the ink's bounding box scaled into 20×20, centred by mass in 28×28. */
function padToMnist(): Float32Array {
  const { data } = padContext.getImageData(0, 0, pad.width, pad.height);
  let [x0, y0, x1, y1] = [pad.width, pad.height, -1, -1];
  for (let y = 0; y < pad.height; y++)
    for (let x = 0; x < pad.width; x++) {
      if (data[4 * (y * pad.width + x)] > 0)
        [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  const out = new Float32Array(784);
  if (x1 < 0) return out;
  const side = Math.max(x1 - x0, y1 - y0) + 1;
  const small = document.createElement('canvas');
  small.width = small.height = 28;
  const sc = small.getContext('2d', { willReadFrequently: true })!;
  const w = (20 * (x1 - x0 + 1)) / side;
  const h = (20 * (y1 - y0 + 1)) / side;
  sc.drawImage(pad, x0, y0, x1 - x0 + 1, y1 - y0 + 1, (28 - w) / 2, (28 - h) / 2, w, h);
  const px = sc.getImageData(0, 0, 28, 28).data;
  let [mass, mx, my] = [0, 0, 0];
  for (let i = 0; i < 784; i++) {
    const v = px[4 * i] / 255;
    mass += v;
    mx += v * (i % 28);
    my += v * Math.floor(i / 28);
  }
  const dx = Math.round(13.5 - mx / mass);
  const dy = Math.round(13.5 - my / mass);
  for (let y = 0; y < 28; y++)
    for (let x = 0; x < 28; x++) {
      const sx = x - dx,
        sy = y - dy;
      if (sx >= 0 && sx < 28 && sy >= 0 && sy < 28) out[y * 28 + x] = px[4 * (sy * 28 + sx)] / 255;
    }
  return out;
}

/** Paints a 28×28 image (or a signed map with `signed`) onto a 280×280 canvas, one block per pixel. */
function paint(canvas: HTMLCanvasElement, values: Float32Array, signed = 0): void {
  const small = new ImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = values[i];
    const rgb =
      signed > 0
        ? v >= 0
          ? [255, 255 * (1 - v / signed), 255 * (1 - v / signed)]
          : [255 * (1 + v / signed), 255 * (1 + v / signed), 255]
        : [255 * v, 255 * v, 255 * v];
    small.data.set([...rgb, 255], 4 * i);
  }
  const tmp = document.createElement('canvas');
  tmp.width = tmp.height = 28;
  tmp.getContext('2d')!.putImageData(small, 0, 0);
  const c = canvas.getContext('2d')!;
  c.imageSmoothingEnabled = false;
  c.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}

function showProbabilities(list: HTMLElement, p: Prediction): void {
  list.innerHTML = p.probabilities
    .map(
      (v, i) =>
        `<li class="${i === p.label ? 'top' : ''}"><span>${i}</span><span class="bar" style="width:${(200 * v).toFixed(0)}px"></span><span>${(100 * v).toFixed(1)}%</span></li>`,
    )
    .join('');
}

let lastPrediction: Prediction | null = null;
let lastAttack: AttackReply | null = null;

async function showPrediction(): Promise<void> {
  if (!input) return;
  const p = await ask<Prediction>({ type: 'predict', model: chosen(), pixels: input });
  lastPrediction = p;
  showProbabilities($('probs'), p);
  $('cleanLabel').textContent = `→ ${p.label}${inputLabel >= 0 ? ` (true ${inputLabel})` : ''}`;
}

$('clear').onclick = clearPad;
$('pick').onclick = async () => {
  const t = await ask<{ index: number; label: number; pixels: Float32Array }>({
    type: 'testImage',
    index: Math.floor(Math.random() * 1e9),
  });
  clearPad();
  input = t.pixels;
  inputLabel = t.label;
  paint(pad, t.pixels);
  await showPrediction();
};
const ATTACK_NAMES: Record<PageAttack, string> = { 'pgd-40': 'PGD-40', 'apgd-ce': 'APGD-CE' };
$('attack').onclick = async () => {
  if (!input) return void ($('advLabel').textContent = '(draw or pick a digit first)');
  const kind = ($('attackKind') as HTMLSelectElement).value as PageAttack;
  const pixels = input;
  const slot = chosen();
  const e = attackEps();
  if (!(e >= 0 && e <= 1)) return void ($('advLabel').textContent = '(ε must be between 0 and 1)');
  $('advName').textContent = `${ATTACK_NAMES[kind]}, running…`;
  $('both').textContent = '';
  let r: AttackReply;
  try {
    r = await ask<AttackReply>({ type: 'attack', model: slot, pixels, label: inputLabel, eps: e, attack: kind });
  } catch (error) {
    $('advName').textContent = ATTACK_NAMES[kind];
    return void ($('advLabel').textContent = `failed: ${(error as Error).message}`);
  }
  lastAttack = r;
  paint($('adv'), r.adversary);
  const delta = r.adversary.map((v, i) => v - pixels[i]);
  paint($('heat'), delta, Math.max(e, 1e-6));
  showProbabilities($('advProbs'), r.adversarial);
  $('advName').textContent = ATTACK_NAMES[kind];
  // APGD keeps the input where it finds no misclassified point; PGD shows its last iterate either way.
  $('advLabel').textContent =
    `→ ${r.adversarial.label}${r.fooled ? '' : kind === 'apgd-ce' ? ' (not fooled: no misclassified point within ε, the input is shown)' : ' (not fooled)'}`;
  await showBoth(slot, r, pixels, kind, e);
};

/** The same attack on both shipped models, side by side: the natural one fooled, the robust one holding (or not). */
async function showBoth(
  slot: ModelSlot,
  r: AttackReply,
  pixels: Float32Array,
  kind: PageAttack,
  e: number,
): Promise<void> {
  if (pretrainedReady.length < 2) return;
  const parts: string[] = [];
  for (const other of pretrainedReady) {
    const reply =
      other === slot
        ? r
        : await ask<AttackReply>({ type: 'attack', model: other, pixels, label: inputLabel, eps: e, attack: kind });
    parts.push(
      `${SLOT_NAMES[other]}: ${reply.clean.label} → ${reply.adversarial.label} (${reply.fooled ? 'fooled' : 'held'})`,
    );
  }
  $('both').textContent = `${ATTACK_NAMES[kind]} at ε=${e} on both pretrained models: ${parts.join(' · ')}`;
}

// ---- the attack on a batch of test images ----------------------------------------------------

let lastBatch: BatchAttackReply | null = null;
$('attackBatch').onclick = async () => {
  const images = Number(($('batchImages') as HTMLInputElement).value);
  const e = attackEps();
  if (!(Number.isInteger(images) && images >= 1))
    return void ($('batchResult').textContent = 'the number of test images must be a whole number from 1');
  if (!(e >= 0 && e <= 1)) return void ($('batchResult').textContent = 'ε must be between 0 and 1');
  const kind = ($('attackKind') as HTMLSelectElement).value as PageAttack;
  const slot = chosen();
  $('batchResult').textContent = `${ATTACK_NAMES[kind]} on ${images} test images, running…`;
  try {
    const r = await ask<BatchAttackReply>({ type: 'attackBatch', model: slot, images, eps: e, attack: kind });
    lastBatch = r;
    $('batchResult').textContent =
      `${SLOT_NAMES[slot]}: robust accuracy ${percentWithInterval(r.robust_accuracy, r.n)} under ${ATTACK_NAMES[kind]} (L∞ ε=${e}) on the first ${r.n} test images, clean ${percentWithInterval(r.clean_accuracy, r.n)} (${r.seconds.toFixed(1)} s)`;
  } catch (error) {
    $('batchResult').textContent = `failed: ${(error as Error).message}`;
  }
};

// ---- checkpoints -----------------------------------------------------------------------------

$('download').onclick = async () => {
  const bytes = await ask<Uint8Array>({ type: 'export', model: chosen() });
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: 'model.safetensors' });
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  $('fileStatus').textContent = `downloaded model.safetensors (${bytes.byteLength} bytes)`;
};

async function loadFile(file: File): Promise<void> {
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const metadata = await ask<Record<string, string>>({ type: 'import', bytes, name: file.name }, [bytes.buffer]);
    $('fileStatus').textContent = `loaded ${file.name}${
      Object.keys(metadata).length
        ? ` (${Object.entries(metadata)
            .map(([k, v]) => `${k}: ${v}`)
            .join(', ')})`
        : ''
    }`;
    $('fileStatus').className = '';
    const option = picker.querySelector<HTMLOptionElement>('option[value=uploaded]')!;
    option.disabled = false;
    option.textContent = `uploaded: ${file.name}`;
    choose('uploaded');
  } catch (error) {
    $('fileStatus').textContent = (error as Error).message;
    $('fileStatus').className = 'error';
  }
}
$<HTMLInputElement>('upload').onchange = (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) void loadFile(file);
};
const drop = $('drop');
drop.ondragover = (e) => {
  e.preventDefault();
  drop.classList.add('over');
};
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const file = e.dataTransfer?.files[0];
  if (file) void loadFile(file);
};

// ---- start-up --------------------------------------------------------------------------------

async function start(): Promise<InitReply> {
  if (!('gpu' in navigator)) {
    throw new Error(
      'This browser has no WebGPU (navigator.gpu is missing). Try a recent Chrome or Edge, Safari 26, or Firefox 141+ on Windows; on Linux, Chromium with --enable-unsafe-webgpu.',
    );
  }
  const info = await ask<InitReply>({ type: 'init', trainLimit: numberParam('train'), testLimit: numberParam('test') });
  $('adapter').textContent =
    `WebGPU adapter: ${info.adapter}${info.isSoftware ? ' (a software renderer: expect it to be slow)' : ''} · MNIST: ${info.trainCount} training and ${info.testCount} test images`;
  $('app').hidden = false;
  pretrainedReady = info.pretrained.filter((p) => p.error === null).map((p) => p.slot);
  for (const p of info.pretrained)
    if (p.error !== null) picker.querySelector<HTMLOptionElement>(`option[value=${p.slot}]`)!.disabled = true;
  const failed = info.pretrained.filter((p) => p.error !== null);
  $('modelInfo').textContent = failed.length
    ? failed.map((p) => `${p.name} did not load: ${p.error}`).join('; ')
    : `SmallCNN on MNIST, shipped with yopo (${info.pretrained.map((p) => p.name).join(', ')}): draw a digit or pick a test image, then attack it.`;
  $('modelInfo').className = failed.length ? 'error' : '';
  if (!pretrainedReady.includes(chosen())) picker.value = 'trained';
  clearPad();
  showStatus();
  return info;
}

const ready = start().catch((error: Error) => {
  $('adapter').textContent = 'No WebGPU here.';
  $('nogpu').textContent = error.message;
  $('nogpu').hidden = false;
  throw error;
});

// For the browser tests (and the curious, from the console).
Object.assign(window, {
  yopoPage: {
    ready,
    steps,
    evals,
    ask,
    get prediction() {
      return lastPrediction;
    },
    get attack() {
      return lastAttack;
    },
    get batch() {
      return lastBatch;
    },
    get input() {
      return input;
    },
    get running() {
      return running;
    },
  },
});
