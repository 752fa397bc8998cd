// The published package as a user gets it: `npm pack`, install the tarball into a fresh project with
// its dependencies from the npm cache (offline: `npm ci` put them there), then in that project: an ESM
// script imports 'yopo' and runs training steps on WebGPU, a TypeScript file type-checks against the
// shipped .d.ts files, and `npx yopo --help` runs. Checks that the tarball ships what it needs and
// nothing else (no tests, benchmarks, source maps or dev scripts), and prints its size.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const project = mkdtempSync(join(tmpdir(), 'yopo-package-'));
const env = {
  ...process.env,
  XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp/yopo-runtime',
  npm_config_update_notifier: 'false',
};

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string }[];
}
type LockEntry = { version: string; integrity?: string; resolved?: string; dependencies?: Record<string, string> };

/** Runs a command in the temporary project; fails the test with its output on a non-zero exit. */
function sh(command: string, args: string[]): string {
  const started = performance.now();
  const r = spawnSync(command, args, { cwd: project, encoding: 'utf8', env });
  assert.is(r.status, 0, `${command} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  console.log(`  ${command} ${args.join(' ')}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return r.stdout;
}

let pack: PackResult;

test('npm pack: the tarball ships dist/ code, types, the README, LICENSE, docs/ and the pretrained models, and nothing else', () => {
  // --ignore-scripts: the tarball is packed from the dist/ that `npm test` just built.
  [pack] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', project], {
      cwd: ROOT,
      encoding: 'utf8',
      env,
    }),
  ) as PackResult[];
  const paths = pack.files.map((f) => f.path);
  for (const needed of [
    'package.json',
    'README.md',
    'LICENSE',
    'docs/algorithm.md',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/cli/main.js',
    'dist/engine/reference/index.js',
    'dist/engine/reference/index.d.ts',
    'pretrained/README.md',
    'pretrained/smallcnn-mnist-natural/model.safetensors',
    'pretrained/smallcnn-mnist-yopo/model.safetensors',
    'pretrained/smallcnn-mnist-yopo/card-autoattack.md',
  ]) {
    assert.ok(paths.includes(needed), `the tarball has ${needed}`);
  }
  const unwanted = paths.filter(
    (p) => /^dist\/(test|bench)\/|\.map$|^scripts\/|^examples\/|\.ts$/.test(p) && !p.endsWith('.d.ts'),
  );
  assert.equal(unwanted, [], 'no tests, benchmarks, source maps, scripts or sources');
  console.log(
    `  package: ${pack.filename}, ${(pack.size / 1024).toFixed(0)} KiB packed, ${(pack.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${pack.entryCount} files`,
  );
});

test('npm ci --offline installs the tarball in a fresh project from the npm cache', () => {
  // The dependencies' versions and integrities come from this repository's lockfile, so npm needs
  // only the tarballs that `npm ci` left in its cache, never the registry.
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const ours = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    dependencies: Record<string, string>;
    bin: Record<string, string>;
  };
  const tarball = `file:${pack.filename}`;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies: { yopo: tarball } },
    'node_modules/yopo': { version: ours.version, resolved: tarball, dependencies: ours.dependencies, bin: ours.bin },
  };
  const pending = Object.keys(ours.dependencies);
  while (pending.length) {
    const name = pending.pop()!;
    const key = `node_modules/${name}`;
    if (packages[key]) continue;
    const entry = lock.packages[key];
    assert.ok(entry, `package-lock.json lists ${key}`);
    packages[key] = entry;
    pending.push(...Object.keys(entry.dependencies ?? {}));
  }
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { yopo: tarball } }, null, 2),
  );
  writeFileSync(
    join(project, 'package-lock.json'),
    JSON.stringify({ name: 'consumer', lockfileVersion: 3, requires: true, packages }, null, 2),
  );
  const r = spawnSync('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: project, encoding: 'utf8', env });
  // ENOTCACHED: the npm cache lacks a dependency's tarball; `npm ci` in the repository (npm run setup on a fresh clone) puts it there.
  assert.is(
    r.status,
    0,
    `npm ci --offline in ${project} exited ${r.status} (ENOTCACHED: run \`npm ci\` in the repository first):\n${r.stdout}\n${r.stderr}`,
  );
  rmSync(join(project, pack.filename));
});

test("ESM: import 'yopo' and run YOPO training steps on WebGPU", () => {
  writeFileSync(
    join(project, 'train.mjs'),
    `import { BatchLoader, Random, SmallCNN, randomDataset, train, useWebGPU, yopo } from 'yopo';
const gpu = await useWebGPU();
const model = new SmallCNN(new Random(0));
const result = await train({
  model,
  method: yopo({ m: 2, n: 2, eps: 0.3, sigma: 0.01 }),
  batches: new BatchLoader(randomDataset('random', 16, [1, 28, 28], 10, new Random(1)), { batchSize: 8, shuffle: true, seed: 0 }),
  epochs: 1,
  hyper: { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
  seed: 0,
  onStep: (r) => console.log('step', r.step, r.loss),
});
console.log('backend', gpu.name, 'steps', result.position.step);
`,
  );
  const out = sh('node', ['train.mjs']);
  assert.match(out, /step 1 \d/);
  assert.match(out, /backend webgpu steps 2/);
});

test("the installed package's pretrained models load by name in Node and in the CLI", () => {
  writeFileSync(
    join(project, 'pretrained.mjs'),
    `import { loadPretrained, useWebGPU } from 'yopo';
await useWebGPU();
for (const name of ['smallcnn-mnist-natural', 'smallcnn-mnist-yopo']) {
  const { model, info } = await loadPretrained(name);
  console.log(name, info.method, model.classes);
}
`,
  );
  const out = sh('node', ['pretrained.mjs']);
  assert.match(out, /smallcnn-mnist-natural natural 10/);
  assert.match(out, /smallcnn-mnist-yopo yopo-5-10 10/);
  const cli = sh('npx', [
    '--no-install',
    'yopo',
    'eval',
    '--checkpoint',
    'smallcnn-mnist-yopo',
    '--attack',
    'none',
    '--limit',
    '10',
    '--no-sanity',
    '--json',
  ]);
  assert.is((JSON.parse(cli) as { n: number }).n, 10);
});

test('TypeScript: a consumer file type-checks against the shipped .d.ts files', () => {
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: [],
      },
      files: ['check.ts'],
    }),
  );
  writeFileSync(
    join(project, 'check.ts'),
    `import { type Classifier, Random, SmallCNN, type Tensor, type TrainResult, useWebGPU, yopo } from 'yopo';
import { checkOp, formatReport, type OpCheck, type OpReport } from 'yopo/reference';
import { relu } from 'yopo/engine';

const model: Classifier = new SmallCNN(new Random(0));
const params: Tensor[] = model.firstLayerParameters();
const method = yopo({ m: 5, n: 10, eps: 0.3, sigma: 0.01 });
const check: OpCheck = { name: 'relu', inputs: [{ shape: [7, 13] }], run: ([x]) => relu(x) };
export async function f(): Promise<[OpReport, string, number, TrainResult | null]> {
  const report = await checkOp(await useWebGPU(), check);
  return [report, method.name, params.length, null];
}
// @ts-expect-error: yopo() requires eps
yopo({ m: 5, n: 10, sigma: 0.01 });
`,
  );
  sh('node', [TSC, '-p', '.']);
});

test('npx yopo --help runs the installed bin', () => {
  const out = sh('npx', ['--offline', 'yopo', '--help']);
  assert.match(out, /usage: yopo/i);
});

// The installed project holds ~190 MB of dependencies: never leave it behind.
test.after(() => rmSync(project, { recursive: true, force: true }));

test.run();
