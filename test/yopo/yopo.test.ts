// The YOPO algorithm's exact math and bookkeeping (docs/algorithm.md, "YOPO-m-n"), on WebGPU.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Random,
  Tape,
  type Tensor,
  add,
  rand,
  randn,
  setBackend,
  softmaxCrossEntropy,
  tensor,
  tidy,
} from '../../engine/index.js';
import { type Classifier, PreActResNet18, SmallCNN } from '../../nn/index.js';
import {
  evaluate,
  parseAttack,
  firstLayerOnly,
  hamiltonianGradientWrtEta,
  parseMethod,
  pgd,
  pgdAttack,
  propagationCounts,
  yopo,
} from '../../yopo/index.js';
import { assertClose, maxAbs, webgpu } from '../helpers.js';

const hyper = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 };

/** SmallCNN with a random fc3 (SmallCNN zero-initialises it, which makes every input gradient 0). */
function smallCnn(seed: number, options: { dropout?: number } = {}): SmallCNN {
  const net = new SmallCNN(new Random(seed), options);
  const fc3 = net.stateDict().get('classifier.fc3.weight')!;
  fc3.assign(randn(fc3.shape, new Random(seed + 1000), 0, 0.1));
  return net;
}

/** Images in [lo, hi] so that x + η (|η| ≤ 0.3) never reaches the [0, 1] boundary. */
function interior(shape: number[], seed: number, lo = 0.35, hi = 0.65): Tensor {
  return rand(shape, new Random(seed), lo, hi);
}

/** ∇η L(net(x + η)) through the whole network, and p = ∂L/∂z1 at the same η. */
function fullGradients(model: Classifier, x: Tensor, eta: Tensor, y: Tensor): { gEta: Tensor; p: Tensor } {
  const tape = new Tape();
  let z1!: Tensor;
  const loss = tape.record(() => softmaxCrossEntropy(model.rest((z1 = model.firstLayer(add(x, eta)))), y));
  const [gEta, p] = tape.gradient(loss, [eta, z1]);
  return { gEta, p };
}

for (const [name, make, shape] of [
  ['SmallCNN', () => smallCnn(1, { dropout: 0 }), [4, 1, 28, 28]],
  ['PreActResNet18', () => new PreActResNet18(new Random(2)), [2, 3, 32, 32]],
] as const) {
  test(`${name}: the first-layer VJP of p·f0(x+η) equals the full input gradient of the loss`, async () => {
    setBackend(await webgpu());
    const model = make().eval();
    const x = interior([...shape], 3);
    const eta = rand([...shape], new Random(4), -0.3, 0.3);
    const y = tensor(Int32Array.from({ length: shape[0] }, (_, i) => (3 * i + 1) % 10));
    const [full, split] = tidy(() => {
      const { gEta, p } = fullGradients(model, x, eta, y);
      return [gEta, hamiltonianGradientWrtEta(model, x, eta, p)];
    });
    const expected = await full.data();
    assert.ok(maxAbs(expected) > 0, 'the gradient is not trivially zero');
    assertClose(await split.data(), expected, `${name} ∇η H vs ∇η L`, 1e-3, 1e-4 * maxAbs(expected));
    for (const t of [full, split, x, eta, y]) t.dispose();
    model.dispose();
  });
}

test('YOPO-1-1 gives the same adversary as one PGD step from the same start (same seed)', async () => {
  setBackend(await webgpu());
  const x = interior([4, 1, 28, 28], 5);
  const y = tensor(Int32Array.from({ length: 4 }, (_, i) => 2 * i + 1));
  const eps = 0.3;
  const step = 0.05;
  // YOPO's adversary for the model as it was before its update:
  const m1 = smallCnn(7, { dropout: 0 });
  const method = yopo({ m: 1, n: 1, eps, sigma: step });
  method.init(m1, hyper);
  const out = method.step(m1, x, y, new Random(11));
  // One PGD step from the same random start on an identical copy of the initial model.
  const m2 = smallCnn(7, { dropout: 0 }).eval();
  const adv = pgdAttack(m2, x, y, null, { eps, alpha: step, steps: 1 }, new Random(11));
  const a = await out.adversary!.data();
  const b = await adv.data();
  assertClose(a, b, 'YOPO-1-1 adversary vs PGD-1 adversary', 1e-6, 1e-6);
  const moved = Array.from(a).filter((v, i) => Math.abs(v - b[i]) < 1e-6).length;
  assert.is(moved, a.length);
  for (const t of [out.loss, out.logits, out.adversary!, adv, x, y]) t.dispose();
  method.dispose();
  m1.dispose();
  m2.dispose();
});

test('every method keeps its adversary within the ε-ball and x+η within [0, 1]', async () => {
  const gpu = await webgpu();
  setBackend(gpu);
  // Real-looking images: many exact 0s and 1s, where clipping matters.
  const rng = new Random(12);
  const pixels = Float32Array.from({ length: 4 * 784 }, () =>
    rng.next() < 0.6 ? 0 : rng.next() < 0.5 ? 1 : rng.next(),
  );
  const x = tensor(pixels, [4, 1, 28, 28]);
  const y = tensor(new Int32Array([1, 2, 3, 4]));
  const eps = 0.3;
  for (const spec of ['pgd-3', 'free-2', 'yopo-2-3', 'trades-3', 'trades-yopo-2-2']) {
    const model = smallCnn(13);
    const method = parseMethod(spec, { eps, step: 0.1 });
    method.init(model, hyper);
    // Counted after the first step: Free-m creates its persistent δ there.
    let afterFirst = 0;
    for (let s = 0; s < 3; s++) {
      const out = method.step(model, x, y, new Random(s));
      const adv = await out.adversary!.data();
      for (let i = 0; i < adv.length; i++) {
        if (!(adv[i] >= 0 && adv[i] <= 1 && Math.abs(adv[i] - pixels[i]) <= eps + 1e-6)) {
          assert.unreachable(`${spec}: adversary element ${i} is ${adv[i]} for pixel ${pixels[i]} (ε ${eps})`);
        }
      }
      assert.ok(
        Array.from(adv).some((v, i) => Math.abs(v - pixels[i]) > 0.05),
        `${spec}: the adversary moved`,
      );
      for (const t of [out.loss, out.logits, out.adversary!]) t.dispose();
      if (s === 0) afterFirst = gpu.memory().liveBuffers;
      else assert.is(gpu.memory().liveBuffers, afterFirst, `${spec}: no tensors leak across steps`);
    }
    method.dispose();
    model.dispose();
  }
  x.dispose();
  y.dispose();
});

test('propagation counts: YOPO-m-n runs m full passes and m·n + m first-layer-only ones; PGD-r runs r+2 (adv+clean) or r+1', async () => {
  setBackend(await webgpu());
  const x = interior([4, 1, 28, 28], 14);
  const y = tensor(new Int32Array([0, 1, 2, 3]));
  const cases: [string, ReturnType<typeof yopo>, number, number][] = [
    ['yopo-3-2', yopo({ m: 3, n: 2, eps: 0.3, sigma: 0.01 }), 3, 3 * 2 + 3],
    [
      'yopo-2-5 hamiltonian',
      yopo({ m: 2, n: 5, eps: 0.3, sigma: 0.01, firstLayerGradient: 'hamiltonian' }),
      2,
      2 * 5 + 2,
    ],
    ['yopo-2-5 backprop', yopo({ m: 2, n: 5, eps: 0.3, sigma: 0.01, firstLayerGradient: 'backprop' }), 2, 2 * 5],
    ['pgd-4', pgd({ r: 4, eps: 0.3, alpha: 0.01 }), 4 + 2, 0],
    ['pgd-4 adv', pgd({ r: 4, eps: 0.3, alpha: 0.01, objective: 'adv' }), 4 + 1, 0],
  ];
  for (const [name, method, full, firstOnly] of cases) {
    const model = new SmallCNN(new Random(15));
    const counts = propagationCounts(model);
    method.init(model, hyper);
    for (let batch = 0; batch < 2; batch++) {
      const f0 = counts.full;
      const l0 = firstLayerOnly(counts);
      const out = method.step(model, x, y, new Random(batch));
      assert.is(counts.full - f0, full, `${name}: full propagations per batch`);
      assert.is(firstLayerOnly(counts) - l0, firstOnly, `${name}: first-layer-only propagations per batch`);
      for (const t of [out.loss, out.logits, out.adversary]) t?.dispose();
    }
    method.dispose();
    model.dispose();
  }
});

test('evaluation runs a batch-norm model in eval mode and leaves its running statistics alone', async () => {
  setBackend(await webgpu());
  const model = new PreActResNet18(new Random(16));
  const before = await model.stateDict().get('layer1.0.bn1.running_mean')!.data();
  const rng = new Random(17);
  const data = {
    images: Float32Array.from({ length: 2 * 3072 }, () => rng.next()),
    labels: new Int32Array([1, 2]),
    count: 2,
    shape: [3, 32, 32] as const,
  };
  const r = await evaluate(model, data, parseAttack('pgd-2', 8 / 255, 2 / 255));
  assert.is(r.n, 2);
  assert.ok(r.robust_accuracy <= r.clean_accuracy);
  assert.equal(Array.from(await model.stateDict().get('layer1.0.bn1.running_mean')!.data()), Array.from(before));
  assert.ok(model.training, 'the model is back in train mode afterwards');
  model.dispose();
});

test.run();
