// The examples in examples/ and the README's library snippet, run as a user runs them (`node
// examples/NAME.mjs`, importing 'yopo' from this package's dist/) with tiny settings: 16 training
// images in batches of 8, YOPO-2-2 and PGD-2 on 8 test images, the shapes the CLI test already compiles
// on WebGPU. Models new to the suite (the custom ones) run on the CPU backend to compile nothing.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random, useCpu } from '../engine/index.js';
import { SmallCNN, saveSafetensors } from '../nn/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'yopo-examples-'));
const TINY = ['--train', '16', '--test', '8', '--batch', '8', '--m', '2', '--n', '2', '--attack', 'pgd-2'];

/** Runs a script with node from the repository root; fails the test with its output on a non-zero exit. */
function run(script: string, ...args: string[]): string {
  const started = performance.now();
  const r = spawnSync(process.execPath, [script, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp/yopo-runtime' },
  });
  assert.is(r.status, 0, `${script} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  console.log(
    `  ${script.replace(/.*\//, '')} ${args.join(' ')}: ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return r.stdout;
}

test('examples/train_yopo.mjs: trains with a progress callback, evaluates and saves a checkpoint', () => {
  const out = run('examples/train_yopo.mjs', ...TINY, '--out', join(tmp, 'run'));
  assert.match(out, /step 1\/2: loss \d/);
  assert.match(out, /step 2\/2: loss \d/);
  assert.match(out, /eval after 2 steps: clean \d+\.\d%, pgd-2 \d+\.\d%/);
  assert.match(out, /saved .*model\.safetensors/);
});

test('examples/evaluate_pytorch_checkpoint.mjs: evaluates a safetensors file with PyTorch names and layouts', async () => {
  // What `save_file(model.state_dict(), path)` writes for SmallCNN: F32 tensors under PyTorch's names
  // (conv1.weight [32,1,3,3], classifier.fc1.weight [200,1024] as out×in), no yopo metadata.
  useCpu();
  const model = new SmallCNN(new Random(5));
  const state = await model.stateDictData();
  assert.equal(state.get('classifier.fc1.weight')?.shape, [200, 1024]);
  const path = join(tmp, 'pytorch.safetensors');
  await saveSafetensors(path, state);
  const out = run(
    'examples/evaluate_pytorch_checkpoint.mjs',
    '--checkpoint',
    path,
    '--test',
    '8',
    '--batch',
    '8',
    '--attack',
    'pgd-2',
    '--backend',
    'cpu',
  );
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as {
    clean_accuracy: number;
    robust_accuracy: number;
    n: number;
    attack: string;
  };
  assert.is(result.n, 8);
  assert.is(result.attack, 'pgd-2');
  assert.ok(result.robust_accuracy <= result.clean_accuracy);
  // A file that is not this model's fails with the tensor named.
  const wrong = join(tmp, 'wrong.safetensors');
  await saveSafetensors(wrong, new Map([...state].filter(([name]) => name !== 'conv1.bias')));
  const r = spawnSync(
    process.execPath,
    ['examples/evaluate_pytorch_checkpoint.mjs', '--checkpoint', wrong, '--backend', 'cpu'],
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.is.not(r.status, 0);
  assert.match(r.stderr, /conv1\.bias/);
});

for (const model of ['tiny-cnn', 'linear-first-layer']) {
  test(`examples/custom_model.mjs: YOPO-2-2 trains ${model}`, () => {
    const out = run('examples/custom_model.mjs', '--model', model, ...TINY, '--backend', 'cpu');
    assert.match(
      out,
      new RegExp(`${model} with YOPO-2-2: \\d+ parameters, clean \\d+\\.\\d%, pgd-2 \\d+\\.\\d% after 2 steps`),
    );
  });
}

test('examples/custom_kernel.mjs: the reference harness passes a foreign WGSL kernel and catches a wrong one', () => {
  const out = run('examples/custom_kernel.mjs');
  assert.is(out.match(/leaky ReLU \(custom WGSL\) on webgpu vs cpu .*: ok/g)?.length, 4, out);
  assert.match(out, /wrong reference slope .*: FAILED/);
});

test("README's library snippet runs (with tiny settings substituted)", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const snippet = /## The library\s+```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(snippet, "README.md has a ```ts block under '## The library'");
  // Each substitution must apply: a README edit that drops one fails here rather than running a long job.
  const substitutions: [RegExp, string][] = [
    [/loadDataset\('mnist', 'train'\), \d+\)/, "loadDataset('mnist', 'train'), 16)"],
    [/loadDataset\('mnist', 'test'\), \d+\)/, "loadDataset('mnist', 'test'), 8)"],
    [/batchSize: \d+/, 'batchSize: 8'],
    [/m: \d+, n: \d+/, 'm: 2, n: 2'],
    [/parseAttack\('pgd-\d+'/, "parseAttack('pgd-2'"],
  ];
  let code = snippet;
  for (const [pattern, replacement] of substitutions) {
    assert.ok(pattern.test(code), `the README snippet no longer contains ${pattern}`);
    code = code.replace(pattern, replacement);
  }
  // Inside the package (dist/test), so `import … from 'yopo'` resolves to this build.
  const file = fileURLToPath(new URL('readme_snippet.mjs', import.meta.url));
  writeFileSync(file, code);
  const out = run(file);
  assert.match(out, /step 2: loss \d/);
  assert.match(out, /clean_accuracy/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
