// nn: the paper's models (sizes, PyTorch names, the f0/g split), checkpoints, SGD, batch norm modes.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Random,
  Tape,
  add,
  keep,
  matmul,
  noGrad,
  randn,
  relu,
  reshape,
  setBackend,
  softmaxCrossEntropy,
  tensor,
  tidy,
} from '../../engine/index.js';
import {
  BatchNorm2d,
  Linear,
  PreActResNet18,
  SGD,
  SmallCNN,
  WideResNet,
  cosine,
  loadModel,
  multiStep,
  saveModel,
} from '../../nn/index.js';
import { assertClose, cpu } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'yopo-nn-'));

test('SmallCNN has 312,202 parameters with the YOPO repository names', () => {
  setBackend(cpu);
  const net = new SmallCNN(new Random(1));
  assert.is(net.parameterCount(), 312_202);
  const names = [...net.stateDict().keys()];
  assert.equal(names, [
    'conv1.weight',
    'conv1.bias',
    'feature_extractor.conv2.weight',
    'feature_extractor.conv2.bias',
    'feature_extractor.conv3.weight',
    'feature_extractor.conv3.bias',
    'feature_extractor.conv4.weight',
    'feature_extractor.conv4.bias',
    'classifier.fc1.weight',
    'classifier.fc1.bias',
    'classifier.fc2.weight',
    'classifier.fc2.bias',
    'classifier.fc3.weight',
    'classifier.fc3.bias',
  ]);
  assert.equal(net.stateDict().get('classifier.fc1.weight')!.shape, [200, 1024]);
  assert.equal(net.firstLayerParameters().length, 2);
  net.dispose();
});

test('SmallCNN init as published: Kaiming-normal convs, zero conv biases, zero fc3', async () => {
  setBackend(cpu);
  const net = new SmallCNN(new Random(2));
  const w = await net.stateDict().get('feature_extractor.conv2.weight')!.data();
  const std = Math.sqrt(Array.from(w).reduce((s, v) => s + v * v, 0) / w.length);
  assert.ok(Math.abs(std - Math.sqrt(2 / (32 * 9))) < 0.01, `conv2 weight std ${std}`);
  assert.ok((await net.stateDict().get('conv1.bias')!.data()).every((v) => v === 0));
  assert.ok((await net.stateDict().get('classifier.fc3.weight')!.data()).every((v) => v === 0));
  const fc1 = await net.stateDict().get('classifier.fc1.weight')!.data();
  assert.ok(
    fc1.every((v) => Math.abs(v) <= 1 / Math.sqrt(1024)),
    'fc1 uses PyTorch default uniform init',
  );
  net.dispose();
});

test('PreActResNet18 has 11,171,146 parameters and PyTorch names', () => {
  setBackend(cpu);
  const net = new PreActResNet18(new Random(3));
  assert.is(net.parameterCount(), 11_171_146);
  const names = [...net.stateDict().keys()];
  for (const n of [
    'conv1.weight',
    'layer1.0.bn1.running_mean',
    'layer1.0.conv1.weight',
    'layer2.0.shortcut.0.weight',
    'layer4.1.bn2.num_batches_tracked',
    'linear.weight',
    'linear.bias',
  ]) {
    assert.ok(names.includes(n), `missing ${n}`);
  }
  assert.not.ok(names.includes('layer1.0.shortcut.0.weight'), 'no shortcut conv where the shape is unchanged');
  assert.equal(net.stateDict().get('layer2.0.shortcut.0.weight')!.shape, [128, 64, 1, 1]);
  net.dispose();
});

test('WideResNet-34-10 has about 46.2 M parameters and TRADES-code names', () => {
  setBackend(cpu);
  const net = new WideResNet(new Random(4));
  const count = net.parameterCount();
  assert.ok(Math.abs(count - 46.16e6) < 0.1e6, `parameter count ${count}`);
  const names = [...net.stateDict().keys()];
  for (const n of [
    'conv1.weight',
    'block1.layer.0.bn1.weight',
    'block1.layer.0.convShortcut.weight',
    'block2.layer.4.conv2.weight',
    'bn1.running_var',
    'fc.weight',
  ]) {
    assert.ok(names.includes(n), `missing ${n}`);
  }
  assert.not.ok(names.includes('block1.layer.1.convShortcut.weight'));
  net.dispose();
});

test('forward(x) equals rest(firstLayer(x)), and gradients flow through the split', async () => {
  setBackend(cpu);
  const net = new SmallCNN(new Random(5)).eval();
  const x = randn([2, 1, 28, 28], new Random(6), 0.5, 0.2);
  const a = await tidy(() => net.forward(x)).data();
  const b = await tidy(() => net.rest(net.firstLayer(x))).data();
  assertClose(a, b, 'forward vs rest(firstLayer)', 0, 0);
  const grads = tidy(() => {
    const tape = new Tape();
    const loss = tape.record(() => softmaxCrossEntropy(net.forward(x), tensor(new Int32Array([3, 7]))));
    return tape.gradient(loss, net.parameters());
  });
  assert.is(grads.length, net.parameters().length);
  const g = await grads[grads.length - 1].data();
  assert.ok(
    g.some((v) => v !== 0),
    'fc3 bias gets a gradient',
  );
  net.dispose();
});

test('Linear with relu: true is Linear then ReLU, with the same parameters from the same seed', async () => {
  setBackend(cpu);
  const plain = new Linear(29, 13, new Random(10));
  const fused = new Linear(29, 13, new Random(10), { relu: true });
  for (const name of ['weight', 'bias'])
    assert.equal(await fused.stateDict().get(name)!.data(), await plain.stateDict().get(name)!.data(), name);
  const x = randn([7, 29], new Random(11));
  const expected = await tidy(() => relu(plain.forward(x))).data();
  assert.ok(expected.some((v) => v === 0) && expected.some((v) => v > 0), 'the ReLU clips some outputs, not all');
  assertClose(await tidy(() => fused.forward(x)).data(), expected, 'fused ReLU', 1e-6, 1e-6);
});

test('SmallCNN fuses the ReLUs of fc1 and fc2: its logits equal its layers run op by op', async () => {
  setBackend(cpu);
  const net = new SmallCNN(new Random(12)).eval();
  const state = net.stateDict();
  // fc3 starts at zero (the spec's init), which would hide fc1 and fc2 behind zero logits.
  noGrad(() => {
    state.get('classifier.fc3.weight')!.assign(keep(randn([10, 200], new Random(13), 0, 0.1)));
    state.get('classifier.fc3.bias')!.assign(keep(randn([10], new Random(14), 0, 0.1)));
  });
  const x = randn([3, 1, 28, 28], new Random(15), 0.5, 0.2);
  const fc = (h: Parameters<typeof relu>[0], layer: string) =>
    add(matmul(h, state.get(`classifier.${layer}.weight`)!, { transB: true }), state.get(`classifier.${layer}.bias`)!);
  const expected = await tidy(() => {
    const features = reshape(net.featureExtractor.forward(net.firstLayer(x)), [3, 1024]);
    return fc(relu(fc(relu(fc(features, 'fc1')), 'fc2')), 'fc3');
  }).data();
  const logits = await tidy(() => net.forward(x)).data();
  assertClose(logits, expected, 'SmallCNN logits, fused and op by op', 1e-5, 1e-6);
  net.dispose();
});

test('a state dict survives a round trip through a safetensors file', async () => {
  setBackend(cpu);
  const a = new SmallCNN(new Random(7));
  const b = new SmallCNN(new Random(8));
  const path = join(dir, 'model.safetensors');
  await saveModel(path, a, { note: 'test' });
  const meta = await loadModel(path, b);
  assert.is(meta.note, 'test');
  for (const [name, t] of a.stateDict()) assertClose(await b.stateDict().get(name)!.data(), await t.data(), name, 0, 0);
  a.dispose();
  b.dispose();
});

test('a truncated or mismatched checkpoint is rejected with a clear message', async () => {
  setBackend(cpu);
  const a = new SmallCNN(new Random(9));
  const path = join(dir, 'good.safetensors');
  await saveModel(path, a);
  const bytes = readFileSync(path);
  const truncated = join(dir, 'truncated.safetensors');
  writeFileSync(truncated, bytes.subarray(0, bytes.length - 100));
  try {
    await loadModel(truncated, a);
    assert.unreachable('truncated checkpoint loaded');
  } catch (e) {
    assert.match((e as Error).message, /truncated/);
    assert.match((e as Error).message, /truncated\.safetensors/);
  }
  const other = new PreActResNet18(new Random(1));
  try {
    await loadModel(path, other);
    assert.unreachable('SmallCNN checkpoint loaded into PreActResNet18');
  } catch (e) {
    assert.match((e as Error).message, /missing tensors: .*layer1\.0\.bn1\.weight/);
    assert.match((e as Error).message, /good\.safetensors/);
  }
  a.dispose();
  other.dispose();
});

test('SGD with momentum and weight decay matches a hand-computed update', async () => {
  setBackend(cpu);
  const p = tensor([1, -2, 0.5]);
  const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
  // Step 1: g = grad + wd·p = [0.5+0.01, 0.5−0.02, −1+0.005]; buf = g; p −= 0.1·buf.
  opt.step([tensor([0.5, 0.5, -1])]);
  const g1 = [0.51, 0.48, -0.995];
  const p1 = [1 - 0.1 * g1[0], -2 - 0.1 * g1[1], 0.5 - 0.1 * g1[2]];
  assertClose(await p.data(), p1, 'after step 1', 1e-6, 1e-7);
  // Step 2: g = grad + wd·p1; buf = 0.9·buf + g; p −= 0.1·buf.
  opt.step([tensor([0, 1, 0])]);
  const g2 = [0.01 * p1[0], 1 + 0.01 * p1[1], 0.01 * p1[2]];
  const buf2 = g1.map((b, i) => 0.9 * b + g2[i]);
  assertClose(
    await p.data(),
    p1.map((v, i) => v - 0.1 * buf2[i]),
    'after step 2',
    1e-6,
    1e-7,
  );
  const nesterov = tensor([1]);
  const optN = new SGD([nesterov], { lr: 0.5, momentum: 0.5, weightDecay: 0, nesterov: true });
  optN.step([tensor([2])]);
  assertClose(await nesterov.data(), [1 - 0.5 * (2 + 0.5 * 2)], 'nesterov', 1e-6, 1e-7);
});

test('learning-rate schedules: multi-step and cosine', () => {
  const s = multiStep(0.1, [30, 35, 39]);
  assert.ok(Math.abs(s(0) - 0.1) < 1e-12 && Math.abs(s(30) - 0.01) < 1e-12 && Math.abs(s(39) - 0.0001) < 1e-12);
  const c = cosine(1, 10);
  assert.ok(Math.abs(c(0) - 1) < 1e-12 && Math.abs(c(5) - 0.5) < 1e-12 && Math.abs(c(10)) < 1e-12);
});

test('batch norm: train mode uses batch statistics and updates running averages; eval uses them', async () => {
  setBackend(cpu);
  const bn = new BatchNorm2d(3);
  const x = randn([4, 3, 5, 5], new Random(10), 2, 3);
  const y = await tidy(() => bn.forward(x)).data();
  // Normalised per channel in train mode.
  for (let c = 0; c < 3; c++) {
    const vals: number[] = [];
    for (let n = 0; n < 4; n++) for (let i = 0; i < 25; i++) vals.push(y[(n * 3 + c) * 25 + i]);
    const mean = vals.reduce((s, v) => s + v, 0) / vals.length;
    const variance = vals.reduce((s, v) => s + (v - mean) ** 2, 0) / vals.length;
    assert.ok(Math.abs(mean) < 1e-5 && Math.abs(variance - 1) < 1e-3, `channel ${c}: mean ${mean} var ${variance}`);
  }
  const rm = await bn.runningMean.data();
  assert.ok(
    rm.every((v) => Math.abs(v - 0.2) < 0.15),
    `running mean moved 10% toward ≈2: ${rm}`,
  );
  assert.is((await bn.stateDict().get('num_batches_tracked')!.data())[0], 1);
  bn.eval();
  const xd = await x.data();
  const rv = await bn.runningVar.data();
  const ye = await tidy(() => bn.forward(x)).data();
  const expected = Array.from(
    xd,
    (v, i) => (v - rm[Math.floor(i / 25) % 3]) / Math.sqrt(rv[Math.floor(i / 25) % 3] + 1e-5),
  );
  assertClose(ye, expected, 'eval mode uses running statistics', 1e-5, 1e-6);
});

test.run();
