// The browser entry (dist/browser.js): no module it reaches, statically or through import(), may
// import a Node built-in or Dawn's `webgpu` package; and its byte-level loaders give exactly what
// the Node file loaders give.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as browser from '../../browser.js';
import { Random, useCpu } from '../../engine/index.js';
import { CHECK_MODULES } from '../../kernels/checks/modules.js';
import { SmallCNN, saveModel } from '../../nn/index.js';
import { CIFAR_RECORD_BYTES, defaultMnistDir, loadMnist } from '../../yopo/data/index.js';

const distRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Every module specifier in compiled JS: import/export ... from, bare `import '...'` statements, and import(). */
export function specifiers(js: string): string[] {
  const code = js.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) found.push(m[1]);
  // An import() whose argument is not a string literal cannot be checked: reject it outright.
  for (const m of code.matchAll(/\bimport\s*\(\s*([^'"`\s)][^)]*)\)/g)) found.push(`<computed import(${m[1]})>`);
  return found;
}

const FORBIDDEN = new Set(builtinModules.flatMap((n) => [n, n.split('/')[0]]));
function forbidden(spec: string): boolean {
  return (
    spec.startsWith('node:') ||
    FORBIDDEN.has(spec) ||
    FORBIDDEN.has(spec.split('/')[0]) ||
    spec === 'webgpu' ||
    spec.startsWith('webgpu/') ||
    spec.startsWith('<computed')
  );
}

/** Walks the graph from `entry`; returns the modules reached and every forbidden import with its importer. */
function walk(entry: string): { modules: string[]; bad: string[] } {
  const seen = new Set<string>();
  const bad: string[] = [];
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (forbidden(spec)) bad.push(`${file.slice(distRoot.length + 1)} imports '${spec}'`);
      else if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec));
      else
        bad.push(
          `${file.slice(distRoot.length + 1)} imports the package '${spec}' (a browser cannot resolve bare names)`,
        );
    }
  }
  return { modules: [...seen], bad };
}

test('the import graph of dist/browser.js has no Node built-in and no webgpu package', () => {
  const { modules, bad } = walk(join(distRoot, 'browser.js'));
  assert.ok(modules.length > 40, `only ${modules.length} modules reached: is the walker following imports?`);
  assert.equal(bad, [], bad.join('\n'));
});

// web/checks.js itself loads the check modules by URL (a computed import), so the walk starts at them.
test("the page's modules and the kernel check modules its checks page loads reach no Node built-in either", () => {
  const pages = ['web/main.js', 'web/worker.js', ...CHECK_MODULES.map((m) => `kernels/checks/${m}`)];
  const bad = pages.flatMap((page) => walk(join(distRoot, page)).bad);
  assert.equal(bad, [], bad.join('\n'));
});

test('the walker finds every kind of import (it would fail on the Node entry)', () => {
  assert.equal(
    specifiers(
      `import { a } from './a.js';\nexport * from "./b.js";\nimport './c.js';\nconst m = await import('webgpu');\nimport(x);`,
    ),
    ['./a.js', './b.js', './c.js', 'webgpu', '<computed import(x)>'],
  );
  const node = walk(join(distRoot, 'index.js')).bad.join('\n');
  for (const want of ["'node:fs'", "'webgpu'", "'node:zlib'"])
    assert.ok(node.includes(want), `the Node entry's graph should show ${want}`);
});

test('MNIST from bytes (plain and gzip through DecompressionStream) equals loadMnist', async () => {
  const dir = defaultMnistDir();
  const images = readFileSync(join(dir, 't10k-images-idx3-ubyte'));
  const labels = readFileSync(join(dir, 't10k-labels-idx1-ubyte'));
  const pair = { imagesFile: 'images', labelsFile: 'labels', name: 'mnist', classes: 10 };
  const fromFiles = loadMnist({ split: 'test' });
  const plain = await browser.idxDatasetFromBytes(images, labels, pair);
  const gz = await browser.idxDatasetFromBytes(gzipSync(images), gzipSync(labels), pair);
  for (const ds of [plain, gz]) {
    assert.equal(ds.shape, [1, 28, 28]);
    assert.ok(Buffer.from(ds.images.buffer).equals(Buffer.from(fromFiles.images.buffer)), 'images differ');
    assert.equal([...ds.labels], [...fromFiles.labels]);
  }
  const truncated = gzipSync(labels).subarray(0, 100);
  await browser.idxDatasetFromBytes(images, truncated, pair).then(
    () => assert.unreachable('a truncated gzip file must fail'),
    (e: Error) => assert.match(e.message, /^labels: gzip data is corrupt or truncated/),
  );
});

test('CIFAR-10 from bytes: records decode to NCHW pixels / 255; a partial record is a clear error', () => {
  const bytes = new Uint8Array(2 * CIFAR_RECORD_BYTES);
  bytes[0] = 3;
  bytes[1] = 255;
  bytes[CIFAR_RECORD_BYTES] = 9;
  bytes[CIFAR_RECORD_BYTES + 1 + 1024] = 51;
  const ds = browser.cifar10FromBytes([{ name: 'b1.bin', bytes }]);
  assert.equal([...ds.labels], [3, 9]);
  assert.is(ds.images[0], 1);
  assert.ok(Math.abs(ds.images[3072 + 1024] - 0.2) < 1e-7);
  assert.throws(
    () => browser.cifar10FromBytes([{ name: 'b2.bin', bytes: bytes.subarray(1) }]),
    /b2\.bin: not a whole number of CIFAR-10 records/,
  );
});

test('encodeModel gives the bytes saveModel writes, and decodeModel loads them back', async () => {
  useCpu();
  const model = new SmallCNN(new Random(3));
  const tmp = mkdtempSync(join(tmpdir(), 'yopo-browser-'));
  try {
    const path = join(tmp, 'model.safetensors');
    await saveModel(path, model, { step: '7' });
    const bytes = await browser.encodeModel(model, { step: '7' });
    assert.ok(
      existsSync(path) && Buffer.from(bytes).equals(readFileSync(path)),
      'bytes differ from the file saveModel wrote',
    );
    const other = new SmallCNN(new Random(4));
    assert.equal(browser.decodeModel(bytes, other, 'model.safetensors'), { format: 'pt', step: '7' });
    assert.ok(Buffer.from(await browser.encodeModel(other, { step: '7' })).equals(Buffer.from(bytes)));
    assert.throws(
      () => browser.decodeModel(bytes.subarray(0, 100), other, 'cut.safetensors'),
      /checkpoint cut\.safetensors/,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
