// Steps per second of the same YOPO-5-10 SmallCNN step (MNIST, batch 32) in Chromium (the web page's
// worker, WebGPU on SwiftShader) and in Node (Dawn on lavapipe), measured back to back on this machine.
// Each host runs WARMUP steps first (kernels compile), then TIMED steps; the time is the page's own
// per-step clock (performance.now around method.step and the loss read) in both hosts.
// Usage: npm run bench:browser [-- --batch N --steps N]

import { parseArgs } from 'node:util';
import { Random, tensor } from '../engine/index.js';
import { useWebGPU } from '../kernels/index.js';
import { SmallCNN } from '../nn/index.js';
import { startWebServer } from '../web/server.js';
import { BatchLoader, loadMnist, parseMethod, subset, trainingDefaults } from '../yopo/index.js';
import { launchChromium } from './chromium.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '32' },
    steps: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '2' },
  },
});
const BATCH = Number(values.batch);
const TIMED = Number(values.steps);
const WARMUP = Number(values.warmup);
const METHOD = 'yopo-5-10';
const EPS = 0.3;

async function inNode(): Promise<number[]> {
  await useWebGPU();
  const train = subset(loadMnist({ split: 'train' }), 1024);
  const loader = new BatchLoader(train, { batchSize: BATCH, shuffle: true, seed: 1 });
  const method = parseMethod(METHOD, { eps: EPS, step: 0.01 });
  const d = trainingDefaults('mnist', METHOD, 'smallcnn');
  const model = new SmallCNN(new Random(1));
  method.init(model, { lr: d.lr, momentum: 0.9, weightDecay: d.weightDecay });
  const seconds: number[] = [];
  for (let step = 0; step < WARMUP + TIMED; step++) {
    const b = loader.batch(0, step);
    const started = performance.now();
    model.train();
    const x = tensor(b.images, [b.count, 1, 28, 28]);
    const y = tensor(b.labels, [b.count], 'int32');
    const out = method.step(model, x, y, new Random(1_000_003 + step));
    await out.loss.item();
    for (const t of [out.loss, out.logits, out.adversary, x, y]) t?.dispose();
    seconds.push((performance.now() - started) / 1000);
  }
  method.dispose();
  return seconds.slice(WARMUP);
}

async function inChromium(): Promise<{ seconds: number[]; adapter: string; version: string }> {
  const server = await startWebServer(0);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}?train=1024&test=64&evalEvery=1e9`);
    await page.evaluate(() => (window as unknown as { yopoPage: { ready: Promise<unknown> } }).yopoPage.ready);
    await page.selectOption('#method', METHOD);
    await page.fill('#eps', String(EPS));
    await page.fill('#batch', String(BATCH));
    await page.click('#start');
    await page.waitForFunction(
      (n) => (window as unknown as { yopoPage: { steps: unknown[] } }).yopoPage.steps.length >= n,
      WARMUP + TIMED,
      { timeout: 0, polling: 1000 },
    );
    await page.click('#pause');
    const elapsed = await page.evaluate(() =>
      (window as unknown as { yopoPage: { steps: { elapsed: number }[] } }).yopoPage.steps.map((s) => s.elapsed),
    );
    const seconds = elapsed.map((e, i) => e - (i > 0 ? elapsed[i - 1] : 0)).slice(WARMUP, WARMUP + TIMED);
    return {
      seconds,
      adapter: (await page.textContent('#adapter')) ?? '',
      version: browser.browser()?.version() ?? '?',
    };
  } finally {
    await browser.close();
    await server.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs: number[]) =>
  `${(1 / median(xs)).toFixed(3)} steps/s (median of ${xs.length} steps: ${xs.map((s) => s.toFixed(2)).join(', ')} s)`;
console.log(`${METHOD} SmallCNN step, MNIST batch ${BATCH}, ${WARMUP} warm-up steps then ${TIMED} timed`);
const started = new Date().toISOString();
const chromium = await inChromium();
console.log(`Chromium ${chromium.version}: ${fmt(chromium.seconds)}; ${chromium.adapter.split(' · ')[0]}`);
const node = await inNode();
console.log(`Node ${process.version} (Dawn): ${fmt(node)}`);
console.log(`Node / Chromium: ${(median(chromium.seconds) / median(node)).toFixed(1)}x; started ${started}`);
process.exit(0);
