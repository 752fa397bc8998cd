// CIFAR-10 from its binary batch files on disk (Node); the records are decoded in cifar10_bytes.ts.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Dataset, type Split, validateDataset } from './dataset.js';
import {
  CIFAR_PIXELS,
  CIFAR10_SUBDIR,
  CIFAR10_TEST_FILES,
  CIFAR10_TRAIN_FILES,
  cifarRecordCount,
  decodeCifarBatch,
} from './cifar10_bytes.js';

export * from './cifar10_bytes.js';

/** Where to read CIFAR-10 from and which split. */
export interface Cifar10Options {
  /** Folder with the .bin files, or one containing `cifar-10-batches-bin/`. */
  dir: string;
  split: Split;
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

/** Loads CIFAR-10's binary batch files of a split: images [3, 32, 32] in [0, 1], 10 classes. */
export function loadCifar10(options: Cifar10Options): Dataset {
  const { split } = options;
  if (split !== 'train' && split !== 'test')
    throw new Error(`cifar10: split must be 'train' or 'test', got '${split}'`);
  if (!options.dir)
    throw new Error('cifar10: a data directory is needed (the folder holding cifar-10-batches-bin or its .bin files)');
  const dir = resolveCifarDir(options.dir, split);
  const names = split === 'train' ? CIFAR10_TRAIN_FILES : CIFAR10_TEST_FILES;

  // Read every file first, so the output is allocated once at its final size.
  const files = names.map((name) => {
    const path = join(dir, name);
    if (!existsSync(path))
      throw new Error(`cifar10: missing batch file ${path} (a ${split} split needs ${names.join(', ')})`);
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
