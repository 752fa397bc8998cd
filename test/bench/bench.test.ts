// Tests for bench/: the pure logic only (layer tracing, FLOP counts, report shape and rendering).
// Nothing here times anything: performance claims never go in tests.

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CpuBackend, Random, conv2dShape, setBackend } from '../../engine/index.js';
import { PreActResNet18, SmallCNN } from '../../nn/index.js';
import {
  convFlops,
  firstLayerStepFlops,
  forwardFlops,
  fullPassFlops,
  layerMacs,
  matmulFlops,
} from '../../bench/flops.js';
import { type LayerShape, convTag, distinctConvShapes, traceLayers } from '../../bench/layers.js';
import { renderResultsMarkdown } from '../../bench/markdown.js';
import { type BenchReport, formatTable, groupBySection, roundResult, sectionOf } from '../../bench/report.js';
import { benchSpec } from '../../cli/bench_command.js';
import { parseCommand } from '../../cli/args.js';
import { trainedFirstLayer } from '../../bench/suites/first_layer_from_base.js';
import { TORCH_PROCESSES, fasterOf, findTorchPython, runTorchPeer } from '../../bench/peer/torch.js';

setBackend(new CpuBackend());

// Hand-computed multiply-adds per image: out_channels · out_h · out_w · in_channels · 3 · 3 for convs,
// in · out for linears (docs/algorithm.md, "The models").
const SMALLCNN_MACS: [string, number][] = [
  ['conv1', 32 * 26 * 26 * 1 * 9], // 194,688
  ['feature_extractor.conv2', 32 * 24 * 24 * 32 * 9], // 5,308,416
  ['feature_extractor.conv3', 64 * 10 * 10 * 32 * 9], // 1,843,200
  ['feature_extractor.conv4', 64 * 8 * 8 * 64 * 9], // 2,359,296
  ['classifier.fc1', 1024 * 200],
  ['classifier.fc2', 200 * 200],
  ['classifier.fc3', 200 * 10],
];

test('trace: SmallCNN runs its 4 convs and 3 linears in order, with the batch set', () => {
  const layers = traceLayers(new SmallCNN(new Random(1)), 128);
  assert.equal(
    layers.map((l) => l.name),
    SMALLCNN_MACS.map(([n]) => n),
  );
  const conv2 = layers[1]!;
  assert.ok(conv2.kind === 'conv');
  if (conv2.kind === 'conv') {
    assert.is(conv2.shape.batch, 128);
    assert.equal(
      [conv2.shape.inChannels, conv2.shape.inHeight, conv2.shape.outChannels, conv2.shape.outHeight],
      [32, 26, 32, 24],
    );
    assert.ok(conv2.bias);
  }
});

test('flops: SmallCNN layer multiply-adds match hand-computed numbers at batch 128', () => {
  const layers = traceLayers(new SmallCNN(new Random(1)), 128);
  layers.forEach((l, i) => assert.is(layerMacs(l), 128 * SMALLCNN_MACS[i]![1], l.name));
  const perImage = SMALLCNN_MACS.reduce((s, [, m]) => s + m, 0);
  assert.is(perImage, 9_952_400);
  assert.is(forwardFlops(layers), 2 * 128 * perImage);
  // Full propagation: forward + input and weight gradients = 3 forwards.
  assert.is(fullPassFlops(layers), 3 * 2 * 128 * perImage);
});

test('flops: the first-layer step is f0 forward + input VJP, about 1.3% of a SmallCNN full pass', () => {
  const model = new SmallCNN(new Random(1));
  const first = traceLayers(model, 128, 'firstLayer');
  assert.equal(
    first.map((l) => l.name),
    ['conv1'],
  );
  assert.is(firstLayerStepFlops(first), 2 * 2 * 128 * 194_688);
  const ratio = firstLayerStepFlops(first) / fullPassFlops(traceLayers(model, 128));
  assert.ok(Math.abs(ratio - (2 * 194_688) / (3 * 9_952_400)) < 1e-12, String(ratio));
  assert.ok(model.training, 'tracing restores train mode');
  assert.is(
    (model.conv1 as { forward: unknown }).forward,
    Object.getPrototypeOf(model.conv1).forward,
    'tracing removes its wrappers',
  );
});

test('flops: matmul and conv counts', () => {
  assert.is(matmulFlops(1024, 1024, 1024), 2 * 1024 ** 3);
  assert.is(convFlops(conv2dShape([128, 32, 26, 26], [32, 32, 3, 3], 1, 0)), 2 * 128 * 5_308_416);
});

test('layers: PreAct-ResNet18 has 11 distinct conv shapes; tags name them without the batch', () => {
  const shapes = distinctConvShapes(traceLayers(new PreActResNet18(new Random(1)), 128));
  assert.equal(shapes.map(convTag), [
    '3x32x32-64-k3s1p1',
    '64x32x32-64-k3s1p1',
    '64x32x32-128-k1s2p0',
    '64x32x32-128-k3s2p1',
    '128x16x16-128-k3s1p1',
    '128x16x16-256-k1s2p0',
    '128x16x16-256-k3s2p1',
    '256x8x8-256-k3s1p1',
    '256x8x8-512-k1s2p0',
    '256x8x8-512-k3s2p1',
    '512x4x4-512-k3s1p1',
  ]);
  const linear: LayerShape = { kind: 'linear', name: 'fc', batch: 2, inFeatures: 3, outFeatures: 4 };
  assert.equal(distinctConvShapes([linear]), []);
});

const report: BenchReport = {
  date: '2025-01-01T00:00:00.000Z',
  adapter: 'llvmpipe (mesa)',
  software: true,
  peer: 'TensorFlow.js 4.22.0 webgpu backend on llvmpipe',
  commit: 'abc1234-dirty',
  command: 'npm run bench -- --quick --json',
  quick: true,
  results: [
    { name: 'full/smallcnn', ms: 5000, samples: 1, gflops: 1.5 },
    { name: 'first_layer/smallcnn', ms: 100, samples: 3, gflops: 1, ratio: 0.02, flop_ratio: 0.013 },
    { name: 'step/smallcnn/natural', ms: 6000, samples: 1, ratio: 1, note: '1 full + 0 first-layer passes' },
    { name: 'step/smallcnn/natural-vs-tfjs', ms: 6000, samples: 1, peer_ms: 3000, ratio: 0.5 },
    { name: 'matmul/1024', ms: 200, samples: 3, gflops: 10.7, peer_ms: 100, ratio: 0.5 },
    { name: 'conv/fwd/32x26x26-32-k3s1p0', ms: 900, samples: 1, gflops: 1.5, peer_ms: 450, ratio: 0.5 },
  ],
};

test('report: results group into the three sections by name', () => {
  assert.is(sectionOf('first_layer/preact-resnet18'), 'first-layer');
  assert.is(sectionOf('inner_step_fused/smallcnn'), 'first-layer');
  assert.is(sectionOf('first_layer_fused/smallcnn'), 'first-layer');
  assert.is(sectionOf('inner_step_from_base/smallcnn'), 'first-layer');
  assert.is(sectionOf('inner_step_linear/preact-resnet18'), 'first-layer');
  assert.is(sectionOf('step/smallcnn/yopo-5-3'), 'steps');
  assert.is(sectionOf('step/smallcnn/natural-vs-tfjs'), 'peer');
  assert.is(sectionOf('conv/bwd-filter/1x28x28-32-k3s1p0'), 'peer');
  assert.equal(
    groupBySection(report.results).map((g) => [g.section.id, g.results.length]),
    [
      ['first-layer', 2],
      ['steps', 1],
      ['peer', 3],
    ],
  );
});

test("the trained first layer in bench/fixtures fits SmallCNN's and is not its fresh initialisation", async () => {
  const model = new SmallCNN(new Random(1));
  const own = model.firstLayerConv()!;
  const trained = trainedFirstLayer(model);
  for (const [mine, theirs] of [
    [own.weight, trained.weight],
    [own.bias!, trained.bias!],
  ]) {
    assert.equal(theirs.shape, mine.shape);
    const [a, b] = [await mine.data(), await theirs.data()];
    assert.ok(b.every(Number.isFinite), 'finite');
    assert.ok(
      b.some((v, i) => v !== a[i]),
      'differs from the initialisation',
    );
  }
  assert.equal([trained.stride, trained.padding, trained.relu], [own.stride, own.padding, true]);
  for (const t of [trained.weight, trained.bias!]) t.dispose();
  model.dispose();
});

test('report: the JSON object has the documented top-level keys and per-result fields', () => {
  const parsed = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
  for (const key of ['date', 'adapter', 'commit', 'command', 'results']) assert.ok(key in parsed, key);
  for (const r of parsed.results as Record<string, unknown>[]) {
    assert.type(r.name, 'string');
    assert.type(r.ms, 'number');
  }
});

test('report: numbers are kept to four significant digits', () => {
  assert.equal(roundResult({ name: 'a', ms: 6302.123456, samples: 3, ratio: 0.0412345678, peer_ms: 27.568629 }), {
    name: 'a',
    ms: 6302,
    samples: 3,
    ratio: 0.04123,
    peer_ms: 27.57,
  });
});

test('report: the table and docs/benchmarks-latest.md show every result, the command and an empty GPU section', () => {
  const table = formatTable(report);
  for (const r of report.results) assert.ok(table.includes(r.name), r.name);
  assert.ok(table.includes('5000') && table.includes('abc1234-dirty'));
  const md = renderResultsMarkdown(report);
  for (const text of [
    '2025-01-01T00:00:00.000Z',
    'llvmpipe (mesa)',
    'abc1234-dirty',
    '`npm run bench -- --quick --json`',
    '## GPU results',
    'None measured yet',
  ]) {
    assert.ok(md.includes(text), text);
  }
  assert.ok(md.includes('| conv/fwd/32x26x26-32-k3s1p0 | 900 |'), md);
  assert.not.ok(renderResultsMarkdown({ ...report, software: false }).includes('None measured yet'));
});

test('cli: bench options parse', () => {
  const parsed = parseCommand(benchSpec, ['--quick', '--json', '--filter', 'conv/fwd']);
  assert.equal(parsed?.values, { quick: true, json: true, filter: 'conv/fwd' });
});

test('report: the PyTorch CPU column shows its time and ours / PyTorch where a result has one', () => {
  const withTorch: BenchReport = {
    ...report,
    torch: 'PyTorch 1.13.1 CPU (2 threads)',
    results: [
      { name: 'first_layer/smallcnn', ms: 30, samples: 3, torch_ms: 12 },
      { name: 'step/smallcnn/natural', ms: 600, samples: 3, ratio: 1, torch_ms: 60 },
      { name: 'step/smallcnn/free-8', ms: 900, samples: 3, ratio: 1.5 },
    ],
  };
  const table = formatTable(withTorch);
  assert.match(table, /CPU peer: PyTorch 1\.13\.1 CPU/);
  assert.match(table, /PyTorch CPU ms\s+ours \/ PyTorch/);
  assert.match(table, /first_layer\/smallcnn\s+30\.0\s+3\s+12\.0\s+2\.50/);
  assert.match(table, /step\/smallcnn\/natural\s+600\s+3\s+60\.0\s+10\.0\s+1\.00/);
  const md = renderResultsMarkdown(withTorch);
  assert.match(md, /CPU peer: PyTorch 1\.13\.1 CPU/);
  assert.match(md, /\| step\/smallcnn\/free-8 \| 900 \| 3 \| {2}\| {2}\| 1\.50 \|/);
});

test('PyTorch peer: of several processes, each item keeps its faster median, and the description says so', () => {
  const run = (natural: number, pgd: number, description = 'PyTorch 1.13.1 CPU (2 threads)') => ({
    description,
    results: { natural: { ms: natural, samples: 10 }, 'pgd-10': { ms: pgd, samples: 3 } },
  });
  const both = fasterOf([run(169, 862), run(53.9, 1735)]);
  assert.equal(both.results, { natural: { ms: 53.9, samples: 20 }, 'pgd-10': { ms: 862, samples: 6 } });
  assert.is(both.description, 'PyTorch 1.13.1 CPU (2 threads), the faster median of 2 processes per item');
  // One process is reported as it is; an item missing from one run is an error, not a silent gap.
  assert.equal(fasterOf([run(60, 600)]), run(60, 600));
  assert.throws(
    () => fasterOf([run(60, 600), { description: 'x', results: { natural: { ms: 50, samples: 3 } } }]),
    /'pgd-10' is missing/,
  );
  assert.ok(TORCH_PROCESSES >= 2);
});

test('PyTorch peer: the script times SmallCNN steps where python3-torch is installed', () => {
  const found = findTorchPython();
  if ('unavailable' in found) {
    console.log(`  skipped: ${found.unavailable}`);
    return;
  }
  const run = runTorchPeer(found.python, ['natural', 'first_layer', 'yopo-1-1', 'pgd-1'], 4, 1);
  assert.match(run.description, /^PyTorch \S+ CPU/);
  for (const item of ['natural', 'first_layer', 'yopo-1-1', 'pgd-1']) {
    assert.ok(
      run.results[item]!.ms > 0 && run.results[item]!.samples >= 3,
      `${item}: ${JSON.stringify(run.results[item])}`,
    );
  }
});

test('the PyTorch peer profiles a step: its operators, slowest first, the convolution among them', () => {
  const found = findTorchPython();
  if ('unavailable' in found) {
    console.log(`  skipped: ${found.unavailable}`);
    return;
  }
  const run = runTorchPeer(found.python, ['natural'], 4, 1, true);
  const ops = run.profile?.natural;
  assert.ok(ops && ops.length > 3, `operators: ${JSON.stringify(ops)}`);
  for (let i = 1; i < ops.length; i++) assert.ok(ops[i - 1]!.ms >= ops[i]!.ms, 'slowest first');
  assert.ok(
    ops.some((op) => /convolution/.test(op.name) && op.calls >= 4),
    ops.map((op) => op.name).join(', '),
  );
});

test.run();
