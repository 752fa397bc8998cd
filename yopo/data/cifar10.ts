// CIFAR-10, binary version (https://www.cs.toronto.edu/~kriz/cifar.html): 32×32 RGB, 10 classes.
// Each file is a run of records: 1 label byte, then 3072 pixel bytes as three 1024-byte planes
// (R, G, B), each row-major 32×32. That is already NCHW, so a record's pixels copy straight in.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Dataset, type Split, bytesToUnit, validateDataset } from './dataset.js';

export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const;

export const CIFAR_PIXELS = 3 * 32 * 32;
export const CIFAR_RECORD_BYTES = 1 + CIFAR_PIXELS;

export const CIFAR10_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
export const CIFAR10_TEST_FILES = ['test_batch.bin'];

/** The folder the official archive unpacks to; accepted inside the given folder too. */
export const CIFAR10_SUBDIR = 'cifar-10-batches-bin';

export interface Cifar10Options {
  /** Folder with the .bin files, or one containing `cifar-10-batches-bin/`. */
  dir: string;
  split: Split;
}

/** Number of whole records in a file of this size; a partial record is an error naming the file. */
export function cifarRecordCount(byteLength: number, file: string): number {
  const count = Math.floor(byteLength / CIFAR_RECORD_BYTES);
  const rest = byteLength - count * CIFAR_RECORD_BYTES;
  if (rest !== 0) {
    throw new Error(
      `${file}: not a whole number of CIFAR-10 records: ${byteLength} bytes = ${count} records of ${CIFAR_RECORD_BYTES} bytes + ${rest} bytes of a partial record`,
    );
  }
  return count;
}

/** Decodes one batch file's bytes into `images`/`labels` starting at example `offset`. */
export function decodeCifarBatch(bytes: Uint8Array, file: string, images: Float32Array, labels: Int32Array, offset: number): number {
  const count = cifarRecordCount(bytes.length, file);
  for (let r = 0; r < count; r++) {
    const start = r * CIFAR_RECORD_BYTES;
    const label = bytes[start];
    if (label > 9) throw new Error(`${file}: record ${r} has label ${label}, expected 0..9 (is this the CIFAR-100 or a non-binary file?)`);
    labels[offset + r] = label;
    bytesToUnit(bytes.subarray(start + 1, start + CIFAR_RECORD_BYTES), images, (offset + r) * CIFAR_PIXELS);
  }
  return count;
}

/** The folder that holds the batch files: `dir` itself or `dir/cifar-10-batches-bin`. */
export function resolveCifarDir(dir: string, split: Split): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`cifar10: data directory not found: ${dir}`);
  const files = split === 'train' ? CIFAR10_TRAIN_FILES : CIFAR10_TEST_FILES;
  const candidates = [dir, join(dir, CIFAR10_SUBDIR)];
  for (const candidate of candidates) {
    if (existsSync(join(candidate, files[0]))) return candidate;
  }
  throw new Error(`cifar10: no ${split} batch files in ${candidates.join(' or ')}; looked for ${files.join(', ')}`);
}

export function loadCifar10(options: Cifar10Options): Dataset {
  const { split } = options;
  if (split !== 'train' && split !== 'test') throw new Error(`cifar10: split must be 'train' or 'test', got '${split}'`);
  if (!options.dir) throw new Error('cifar10: a data directory is needed (the folder holding cifar-10-batches-bin or its .bin files)');
  const dir = resolveCifarDir(options.dir, split);
  const names = split === 'train' ? CIFAR10_TRAIN_FILES : CIFAR10_TEST_FILES;

  // Read every file first, so the output is allocated once at its final size.
  const files = names.map((name) => {
    const path = join(dir, name);
    if (!existsSync(path)) throw new Error(`cifar10: missing batch file ${path} (a ${split} split needs ${names.join(', ')})`);
    const bytes = readFileSync(path);
    return { path, bytes, count: cifarRecordCount(bytes.length, path) };
  });
  const count = files.reduce((n, f) => n + f.count, 0);
  if (count === 0) throw new Error(`cifar10: the ${split} batch files in ${dir} are empty`);
  const images = new Float32Array(count * CIFAR_PIXELS);
  const labels = new Int32Array(count);
  let offset = 0;
  for (const f of files) offset += decodeCifarBatch(f.bytes, f.path, images, labels, offset);

  const ds: Dataset = { name: 'cifar10', images, labels, count, shape: [3, 32, 32], classes: 10 };
  return validateDataset(ds, false);
}
