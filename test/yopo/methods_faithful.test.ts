// The methods' defaults against the published code (docs/algorithm.md, "Published settings") and three behaviours
// that had no test: YOPO's 'both' first-layer gradient, Free-m's δ across batches, TRADES's KL direction.
// CPU backend and a tiny network: these are logic checks, not kernel checks.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Random,
  Tape,
  type Tensor,
  add,
  logSoftmax,
  rand,
  relu,
  setBackend,
  softmaxCrossEntropy,
  tensor,
  tidy,
} from '../../engine/index.js';
import {
  BatchNorm2d,
  Classifier,
  Conv2d,
  Flatten,
  Linear,
  SGD,
  Sequential,
  WideResNet,
  multiStep,
} from '../../nn/index.js';
import {
  free,
  klSum,
  klSumToTarget,
  parseMethod,
  perturbed,
  pgd,
  project,
  signStep,
  threatModel,
  tradesStart,
  tradesUpdate,
  tradesYopo,
  train,
  trainingDefaults,
  uniformNoise,
  yopo,
} from '../../yopo/index.js';
import { assertClose, cpu, maxAbs } from '../helpers.js';

/** f0 = ReLU(conv 1→3, 3x3, pad 1) on 6x6 images (non-linear, like SmallCNN's); g = [BN] → linear → 4 classes. */
class TinyNet extends Classifier {
  readonly inputShape = [1, 6, 6] as const;
  readonly classes = 4;
  readonly conv: Conv2d;
  readonly body: Sequential;
  constructor(seed: number, batchNorm = false) {
    super();
    const rng = new Random(seed);
    this.conv = this.registerModule('conv', new Conv2d(1, 3, 3, rng, { padding: 1 }));
    const layers = [...(batchNorm ? [new BatchNorm2d(3)] : []), new Flatten(), new Linear(3 * 36, 4, rng)];
    this.body = this.registerModule('body', new Sequential(layers));
  }
  firstLayer(x: Tensor): Tensor {
    return relu(this.conv.forward(x));
  }
  rest(z: Tensor): Tensor {
    return this.body.forward(z);
  }
  firstLayerParameters(): Tensor[] {
    return this.conv.parameters();
  }
}

const plain = { lr: 0.1, momentum: 0, weightDecay: 0 };
const images = (n: number, seed: number) => rand([n, 1, 6, 6], new Random(seed), 0, 1);
const labels = (n: number) => tensor(Int32Array.from({ length: n }, (_, i) => i % 4));
const host = async (ts: Tensor[]) => Promise.all(ts.map(async (t) => Float64Array.from(await t.data())));
/** A BatchSource of `perEpoch` batches of two random 6×6 images, labels 0 and 1, for train(). */
const randomBatches = (perEpoch: number, seed: number) => {
  const rng = new Random(seed);
  return {
    batchesPerEpoch: perEpoch,
    dataset: { shape: [1, 6, 6] },
    batch: () => ({
      images: Float32Array.from({ length: 2 * 36 }, () => rng.next()),
      labels: new Int32Array([0, 1]),
      count: 2,
    }),
  };
};

/** The change of every parameter (first layer, then rest) after one step of `mode`. */
async function yopoUpdate(
  mode: 'both' | 'hamiltonian' | 'backprop',
): Promise<{ first: Float64Array[]; rest: Float64Array[] }> {
  const model = new TinyNet(1);
  const before = { first: await host(model.firstLayerParameters()), rest: await host(model.restParameters()) };
  const method = yopo({ m: 2, n: 3, eps: 0.3, sigma: 0.05, firstLayerGradient: mode });
  method.init(model, plain);
  const out = method.step(model, images(3, 2), labels(3), new Random(3));
  const after = { first: await host(model.firstLayerParameters()), rest: await host(model.restParameters()) };
  for (const t of [out.loss, out.logits, out.adversary!]) t.dispose();
  method.dispose();
  model.dispose();
  const diff = (a: Float64Array[], b: Float64Array[]) => a.map((x, i) => x.map((v, k) => v - b[i][k]));
  return { first: diff(after.first, before.first), rest: diff(after.rest, before.rest) };
}

test("YOPO's first layer gets, by default ('both'), the cross-entropy gradients plus the Hamiltonian ones", async () => {
  setBackend(cpu);
  const both = await yopoUpdate('both');
  const ce = await yopoUpdate('backprop');
  const ham = await yopoUpdate('hamiltonian');
  both.first.forEach((b, i) => {
    assert.ok(maxAbs(ce.first[i]) > 1e-6 && maxAbs(ham.first[i]) > 1e-6, 'both parts are non-zero');
    // η's path does not depend on the first layer's gradient, so with momentum 0 the updates add up.
    assertClose(
      b,
      ce.first[i].map((v, k) => v + ham.first[i][k]),
      `first-layer parameter ${i}: both = backprop + hamiltonian`,
      1e-4,
      1e-7,
    );
  });
  // The rest is trained on the cross-entropy alone whatever the first layer gets.
  both.rest.forEach((b, i) => assertClose(b, ham.rest[i], `rest parameter ${i}`, 1e-5, 1e-8));
});

test("YOPO-1-n 'backprop': the first layer's step is −lr·∇θ0 L at the random start", async () => {
  setBackend(cpu);
  const x = images(3, 2);
  const y = labels(3);
  const model = new TinyNet(1);
  const eta0 = uniformNoise(x.shape, 0.3, new Random(3));
  const expected = tidy(() => {
    const tape = new Tape();
    const loss = tape.record(() => softmaxCrossEntropy(model.forward(add(x, eta0)), y));
    return tape.gradient(loss, model.firstLayerParameters());
  });
  const before = await host(model.firstLayerParameters());
  const method = yopo({ m: 1, n: 2, eps: 0.3, sigma: 0.05, firstLayerGradient: 'backprop' });
  method.init(model, plain);
  const out = method.step(model, x, y, new Random(3));
  const after = await host(model.firstLayerParameters());
  const grads = await host(expected);
  after.forEach((a, i) =>
    assertClose(
      a.map((v, k) => (before[i][k] - v) / plain.lr),
      grads[i],
      `first-layer gradient ${i}`,
      1e-4,
      1e-6,
    ),
  );
  for (const t of [out.loss, out.logits, out.adversary!, eta0, x, y, ...expected]) t.dispose();
  method.dispose();
  model.dispose();
});

test('ResNet YOPO: one extra no-grad train-mode forward on the final adversary (BatchNorm updated m+1 times per batch)', async () => {
  setBackend(cpu);
  for (const [refresh, expected] of [
    [undefined, 3],
    [true, 3],
    [false, 2],
  ] as const) {
    const model = new TinyNet(4, true);
    const method = yopo({ m: 2, n: 1, eps: 0.3, sigma: 0.05, batchNormRefresh: refresh });
    method.init(model, plain);
    const out = method.step(model, images(3, 5), labels(3), new Random(6));
    const tracked = await model.stateDict().get('body.0.num_batches_tracked')!.data();
    assert.is(tracked[0], expected, `batchNormRefresh ${refresh}: BatchNorm updates per batch`);
    for (const t of [out.loss, out.logits, out.adversary!]) t.dispose();
    method.dispose();
    model.dispose();
  }
});

test("MNIST YOPO's first layer follows its own schedule in train() (published: ×0.1 at 15 and 19; the rest at 30, 35, 39)", async () => {
  setBackend(cpu);
  const d = trainingDefaults('mnist', 'yopo-5-10', 'smallcnn');
  assert.equal(d.firstLayerMilestones, [15, 19]);
  assert.equal(d.milestones, [30, 35, 39]);
  assert.is(
    trainingDefaults('cifar10', 'yopo-5-3', 'preact-resnet18').firstLayerMilestones,
    null,
    'CIFAR: one schedule',
  );
  const model = new TinyNet(7);
  const method = yopo({ m: 2, n: 1, eps: 0.3, sigma: 0.05 });
  const batches = randomBatches(2, 8);
  const lrs: [number, number, number][] = [];
  await train({
    model,
    method,
    batches,
    epochs: 3,
    hyper: plain,
    seed: 0,
    schedule: multiStep(0.1, [2]),
    firstLayerSchedule: multiStep(0.1, [1]),
    onStep: (r) =>
      void lrs.push([r.epoch, method.optimizers().get('first_layer')!.lr, method.optimizers().get('rest')!.lr]),
  });
  const perEpoch = [0, 1, 2].map((e) =>
    lrs
      .find(([ep]) => ep === e)!
      .slice(1)
      .map((v) => Number((v * 2).toPrecision(6))),
  );
  assert.equal(
    perEpoch,
    [
      [0.1, 0.1],
      [0.01, 0.1],
      [0.01, 0.01],
    ],
    'first layer decays at 1, the rest at 2 (lr/m with m = 2)',
  );
  method.dispose();
  model.dispose();
  const p = pgd({ r: 1, eps: 0.3, alpha: 0.1 });
  const other = new TinyNet(9);
  try {
    await train({
      model: other,
      method: p,
      batches,
      epochs: 1,
      hyper: plain,
      seed: 0,
      firstLayerSchedule: multiStep(0.1, [1]),
    });
    assert.unreachable('a first-layer schedule for PGD must be refused');
  } catch (e) {
    assert.match((e as Error).message, /pgd-1 has no separate first-layer optimiser/);
  }
  other.dispose();
});

test('budget milestones: the rate drops ×0.1 at each fraction of the time budget the training time has passed', async () => {
  setBackend(cpu);
  const model = new TinyNet(11);
  const method = yopo({ m: 2, n: 1, eps: 0.3, sigma: 0.05 });
  const batches = randomBatches(4, 12);
  const budgetS = 1;
  const milestones = [0.3, 0.6];
  // Each step's rate against the training time before it (the previous record's elapsed).
  const steps: { before: number; first: number; rest: number }[] = [];
  let elapsed = 0;
  await train({
    model,
    method,
    batches,
    epochs: 10_000,
    hyper: plain,
    seed: 0,
    timeBudgetS: budgetS,
    budgetMilestones: milestones,
    schedule: () => 0.1,
    firstLayerSchedule: () => 0.2,
    onStep: (r) => {
      steps.push({ before: elapsed, first: method.optimizers().get('first_layer')!.lr * 2, rest: r.lr });
      elapsed = r.elapsed;
    },
  });
  for (const s of steps) {
    const factor = 0.1 ** milestones.filter((f) => s.before >= f * budgetS).length;
    assert.ok(
      Math.abs(s.rest - 0.1 * factor) < 1e-12 && Math.abs(s.first - 0.2 * factor) < 1e-9,
      `at ${s.before.toFixed(3)} s: rates ${s.first}, ${s.rest}, want ×${factor}`,
    );
  }
  const levels = new Set(steps.map((s) => s.rest.toPrecision(3)));
  assert.equal([...levels], ['0.100', '0.0100', '0.00100'], `the run passed both milestones (${steps.length} steps)`);
  method.dispose();
  model.dispose();
  const other = new TinyNet(13);
  const p = pgd({ r: 1, eps: 0.3, alpha: 0.1 });
  for (const [options, error] of [
    [{ budgetMilestones: [0.5] }, /need timeBudgetS/],
    [{ timeBudgetS: 1, budgetMilestones: [0.6, 0.5] }, /ascending fractions between 0 and 1, got 0.6, 0.5/],
    [{ timeBudgetS: 1, budgetMilestones: [1] }, /ascending fractions/],
  ] as const) {
    try {
      await train({ model: other, method: p, batches, epochs: 1, hyper: plain, seed: 0, ...options });
      assert.unreachable(`${JSON.stringify(options)} must be refused`);
    } catch (e) {
      assert.match((e as Error).message, error);
    }
  }
  other.dispose();
});

test('Free-m: δ persists across batches, and a smaller last batch uses and updates only its leading rows', async () => {
  setBackend(cpu);
  const model = new TinyNet(10);
  const method = free({ m: 1, eps: 0.3 });
  method.init(model, plain);
  const delta = async () => Float64Array.from(await method.persistentState!().get('delta')!.data());
  const stepOn = async (x: Tensor) => {
    const out = method.step(model, x, labels(x.shape[0]), new Random(0));
    const adversary = Float64Array.from(await out.adversary!.data());
    for (const t of [out.loss, out.logits, out.adversary!]) t.dispose();
    return adversary;
  };
  const clipSum = (x: Float64Array, d: Float64Array) => x.map((v, i) => Math.min(1, Math.max(0, v + d[i])));
  await stepOn(images(3, 11));
  const d1 = await delta();
  assert.ok(maxAbs(d1) > 0.29, 'δ moved by ε after the first batch');
  // The next batch starts from δ1 (m = 1: the adversary is clip(x + δ) before δ's update).
  const xB = images(3, 12);
  const advB = await stepOn(xB);
  assertClose(advB, clipSum(Float64Array.from(await xB.data()), d1), 'second batch trains at clip(x + δ1)', 0, 1e-6);
  const d2 = await delta();
  // A batch of 2 reads δ's first 2 rows, writes them back, and leaves row 3 alone.
  const xC = images(2, 13);
  const advC = await stepOn(xC);
  const row = 36;
  assertClose(
    advC,
    clipSum(Float64Array.from(await xC.data()), d2.subarray(0, 2 * row)),
    'partial batch trains at clip(x + δ2[0:2])',
    0,
    1e-6,
  );
  const d3 = await delta();
  assert.is(d3.length, 3 * row, 'δ keeps the full batch shape');
  assertClose(d3.subarray(2 * row), d2.subarray(2 * row), 'row 3 untouched', 0, 0);
  assert.ok(
    d3.subarray(0, 2 * row).some((v, i) => v !== d2[i]),
    'rows 1-2 updated',
  );
  for (const t of [xB, xC]) t.dispose();
  method.dispose();
  model.dispose();
});

test("TRADES's KL is KL(f(x) ‖ f(x')): clean softmax first, in the adversary and in the training loss", async () => {
  setBackend(cpu);
  const clean = tensor(Float32Array.from([2, 0, -1, 0.5, 0, 1, 3, -2]), [2, 4]);
  const adv = tensor(Float32Array.from([0, 1, 0, 0, 1, -1, 0.5, 2]), [2, 4]);
  const softmax = (z: Float64Array, r: number) => {
    const row = Array.from(z.subarray(4 * r, 4 * r + 4));
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b);
    return e.map((v) => v / s);
  };
  const kl = (a: Float64Array, b: Float64Array) =>
    [0, 1].reduce((acc, r) => {
      const p = softmax(a, r);
      const q = softmax(b, r);
      return acc + p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]), 0);
    }, 0);
  const [c, a] = await host([clean, adv]);
  const forward = kl(c, a);
  assert.ok(Math.abs(forward - kl(a, c)) > 0.1, 'the test inputs tell the two directions apart');
  const got = await tidy(() => klSum(clean, adv)).item();
  assert.ok(Math.abs(got - forward) < 1e-5, `klSum ${got} vs KL(P_clean ‖ P_adv) ${forward}`);
  const target = await tidy(() => klSumToTarget(logSoftmax(clean), adv)).item();
  assert.ok(Math.abs(target - forward) < 1e-5, `the adversary's objective ${target} vs ${forward}`);
  // The training loss: CE(f(x), y) + β·KL(f(x) ‖ f(x'))/B.
  const model = new TinyNet(14);
  const x = images(3, 15);
  const xAdv = images(3, 16);
  const y = labels(3);
  const [lx, la] = await host(tidy(() => [model.forward(x), model.forward(xAdv)]));
  const ce = [0, 1, 2].reduce((s, r) => s - Math.log(softmax(lx, r)[r % 4]), 0) / 3;
  const kl3 = [0, 1, 2].reduce((acc, r) => {
    const p = softmax(lx, r);
    const q = softmax(la, r);
    return acc + p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]), 0);
  }, 0);
  const opt = new SGD(model.parameters(), plain);
  const out = tradesUpdate(model, opt, x, xAdv, y, 2);
  const loss = await out.loss.item();
  assert.ok(
    Math.abs(loss - (ce + (2 * kl3) / 3)) < 1e-5,
    `TRADES loss ${loss} vs CE + β·KL(P‖Q)/B ${ce + (2 * kl3) / 3}`,
  );
  for (const t of [clean, adv, x, xAdv, y, out.loss, out.logits]) t.dispose();
  opt.dispose();
  model.dispose();
});

test("TRADES-YOPO-1-1 (the shared first-layer adversary): one sign step of the KL's input gradient from x + 0.001·N(0, 1)", async () => {
  setBackend(cpu);
  const model = new TinyNet(18);
  const x = rand([3, 1, 6, 6], new Random(19), 0.1, 0.9);
  const y = labels(3);
  const [eps, sigma] = [0.031, 0.007];
  model.eval();
  const eta0 = tradesStart(x, new Random(20));
  const expected = tidy(() => {
    const logP = logSoftmax(model.forward(x));
    const tape = new Tape();
    const kl = tape.record(() => klSumToTarget(logP, model.forward(add(x, eta0))));
    return perturbed(x, project(signStep(eta0, tape.gradient(kl, [eta0])[0], sigma), x, eps));
  });
  const method = tradesYopo({ m: 1, n: 1, eps, sigma });
  method.init(model, plain);
  const out = method.step(model, x, y, new Random(20));
  const start = await tidy(() => perturbed(x, eta0)).data();
  const want = await expected.data();
  assert.ok(
    want.some((v, i) => Math.abs(v - start[i]) > 0.006),
    'the step moved η by σ',
  );
  assertClose(await out.adversary!.data(), want, 'TRADES-YOPO-1-1 adversary', 0, 1e-6);
  for (const t of [out.loss, out.logits, out.adversary!, x, y, eta0, expected]) t.dispose();
  method.dispose();
  model.dispose();
});

test('TRADES and TRADES-YOPO: ε 0.031, step 0.007, β 1; the TRADES-10 baseline as published (if/elif: one decay)', () => {
  assert.equal(threatModel('cifar10', { method: 'trades-10' }), { eps: 0.031, step: 0.007, norm: 'linf' });
  assert.equal(threatModel('cifar10', { method: 'trades-yopo-3-4' }), { eps: 0.031, step: 0.007, norm: 'linf' });
  assert.equal(threatModel('cifar10', { method: 'yopo-5-3' }), { eps: 8 / 255, step: 2 / 255, norm: 'linf' });
  assert.equal(threatModel('mnist', { method: 'yopo-5-10' }), { eps: 0.3, step: 0.01, norm: 'linf' });
  const baseline = trainingDefaults('cifar10', 'trades-10', 'preact-resnet18');
  assert.equal(baseline, {
    epochs: 100,
    lr: 0.1,
    milestones: [74],
    firstLayerMilestones: null,
    weightDecay: 2e-4,
    batchSize: 200,
    beta: 1,
  });
  const ty = trainingDefaults('cifar10', 'trades-yopo-2-5', 'preact-resnet18');
  assert.equal(
    [ty.epochs, ty.lr, ty.milestones, ty.weightDecay, ty.batchSize, ty.beta],
    [105, 0.2, [70, 90, 100], 5e-4, 256, 1],
  );
  assert.is(parseMethod('trades', threatModel('cifar10', { method: 'trades' })).name, 'trades-10');
});

test("WRN-34-10's init is PyTorch's default (YOPO's copy); 'trades' is the TRADES code's", async () => {
  setBackend(cpu);
  const std = (v: Float64Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
  const stats = async (init?: 'pytorch' | 'trades') => {
    const net = new WideResNet(new Random(17), { depth: 10, widen: 1, init });
    const sd = net.stateDict();
    const [w, fcBias] = await host([sd.get('block2.layer.0.conv2.weight')!, sd.get('fc.bias')!]);
    net.dispose();
    return { w, fcBias };
  };
  const byDefault = await stats();
  // 32→32 3x3 conv: PyTorch's U(±1/√288) vs N(0, 2/(9·32)).
  assert.ok(maxAbs(byDefault.w) <= 1 / Math.sqrt(288) + 1e-7, 'default: uniform within ±1/√fan_in');
  assert.ok(Math.abs(std(byDefault.w) - 1 / Math.sqrt(3 * 288)) < 0.01, `default std ${std(byDefault.w)}`);
  assert.ok(maxAbs(byDefault.fcBias) > 0, 'default: the linear bias is PyTorch-initialised, not zero');
  const tradesInit = await stats('trades');
  assert.ok(Math.abs(std(tradesInit.w) - Math.sqrt(2 / 288)) < 0.02, `trades std ${std(tradesInit.w)}`);
  assert.is(maxAbs(tradesInit.fcBias), 0, 'trades: linear bias 0');
});

test.run();
