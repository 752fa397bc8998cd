// Writers for small datasets in the real on-disk formats, so tests (of the loaders and of the CLI)
// exercise the same parsing path as real data without downloading anything.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Random } from '../../engine/random.js';
import { CIFAR_PIXELS, CIFAR_RECORD_BYTES, CIFAR10_TEST_FILES, CIFAR10_TRAIN_FILES } from './cifar10.js';
import type { Dataset, Split } from './dataset.js';
import { mnistFileNames } from './mnist.js';

/** Pixels as bytes: bytes pass through, floats in [0, 1] become round(v × 255). */
export function toBytes(values: Uint8Array | Float32Array | ArrayLike<number>): Uint8Array {
  if (values instanceof Uint8Array) return values;
  const isUnit = values instanceof Float32Array;
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = isUnit ? Math.round(values[i] * 255) : values[i];
    out[i] = Math.max(0, Math.min(255, v));
  }
  return out;
}

function write(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

/** IDX file with unsigned-byte elements; gzip-compressed when the path ends in `.gz`. */
export function writeIdx(path: string, dims: number[], data: Uint8Array | Float32Array | ArrayLike<number>): void {
  const bytes = toBytes(data);
  const elements = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== elements)
    throw new Error(`writeIdx ${path}: dims ${dims.join('×')} need ${elements} elements, got ${bytes.length}`);
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint32(0, 0x0800 | dims.length, false);
  dims.forEach((d, i) => header.setUint32(4 + 4 * i, d, false));
  const file = new Uint8Array(header.byteLength + bytes.length);
  file.set(new Uint8Array(header.buffer), 0);
  file.set(bytes, header.byteLength);
  write(path, path.endsWith('.gz') ? gzipSync(file) : file);
}

/**
 * An MNIST-style pair of IDX files for one split in `dir`, under the standard names (plus `.gz`
 * when `gzip`). Images are count × rows × cols. Returns the two paths.
 */
export function writeMnist(
  dir: string,
  split: Split,
  images: Uint8Array | Float32Array,
  labels: ArrayLike<number>,
  { rows = 28, cols = 28, gzip = false } = {},
): { images: string; labels: string } {
  const [imagesName] = mnistFileNames(split, 'images');
  const [labelsName] = mnistFileNames(split, 'labels');
  const suffix = gzip ? '.gz' : '';
  const paths = { images: join(dir, imagesName + suffix), labels: join(dir, labelsName + suffix) };
  writeIdx(paths.images, [labels.length, rows, cols], images);
  writeIdx(paths.labels, [labels.length], labels);
  return paths;
}

/** A CIFAR-10 binary batch: per example, its label byte then 3072 pixel bytes (R, G, B planes). */
export function writeCifarBatch(path: string, images: Uint8Array | Float32Array, labels: ArrayLike<number>): void {
  const pixels = toBytes(images);
  const count = labels.length;
  if (pixels.length !== count * CIFAR_PIXELS) {
    throw new Error(
      `writeCifarBatch ${path}: ${count} labels need ${count * CIFAR_PIXELS} pixel values, got ${pixels.length}`,
    );
  }
  const file = new Uint8Array(count * CIFAR_RECORD_BYTES);
  for (let i = 0; i < count; i++) {
    file[i * CIFAR_RECORD_BYTES] = labels[i];
    file.set(pixels.subarray(i * CIFAR_PIXELS, (i + 1) * CIFAR_PIXELS), i * CIFAR_RECORD_BYTES + 1);
  }
  write(path, file);
}

/**
 * A whole CIFAR-10 folder for one split: the examples are spread over the split's files
 * (5 for train, 1 for test) as evenly as possible. Use the result as `dir` for loadCifar10.
 */
export function writeCifar10(
  dir: string,
  split: Split,
  images: Uint8Array | Float32Array,
  labels: ArrayLike<number>,
): void {
  const files = split === 'train' ? CIFAR10_TRAIN_FILES : CIFAR10_TEST_FILES;
  const count = labels.length;
  let start = 0;
  files.forEach((name, f) => {
    const end = Math.round(((f + 1) * count) / files.length);
    const labelPart = Array.from({ length: end - start }, (_, i) => labels[start + i]);
    writeCifarBatch(join(dir, name), images.subarray(start * CIFAR_PIXELS, end * CIFAR_PIXELS), labelPart);
    start = end;
  });
}

/** Random images (pixels multiples of 1/255, so they survive a byte round trip) and labels. */
export function randomDataset(
  name: string,
  count: number,
  shape: [number, number, number],
  classes: number,
  rng: Random,
): Dataset {
  const size = shape[0] * shape[1] * shape[2];
  const images = new Float32Array(count * size);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256) / 255;
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) labels[i] = rng.int(classes);
  return { name, images, labels, count, shape, classes };
}
