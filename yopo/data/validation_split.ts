// A validation split held out of the training set, for model selection during training: evaluating
// on the test set and keeping the best checkpoint there would select on the test set. The held-out
// images are a seeded random choice and are removed from what the model trains on.

import { Random } from '../../engine/index.js';
import { type Dataset, imageSize } from './dataset.js';

/** Full training sets (MNIST 60,000, CIFAR-10 50,000) hold out this many by default. */
export const DEFAULT_VALIDATION_SIZE = 1000;
/** Below this many training images (e.g. --limit), the default is no validation split. */
export const SMALLEST_SET_WITH_DEFAULT_SPLIT = 10_000;

/** The default validation split for a training set: DEFAULT_VALIDATION_SIZE, or 0 below SMALLEST_SET_WITH_DEFAULT_SPLIT images. */
export function defaultValidationSize(train: Dataset): number {
  return train.count >= SMALLEST_SET_WITH_DEFAULT_SPLIT ? DEFAULT_VALIDATION_SIZE : 0;
}

/** Splits `ds` into `size` seeded random held-out examples and the rest (both keep their order). */
export function holdOut(ds: Dataset, size: number, seed: number): { train: Dataset; validation: Dataset } {
  if (!Number.isInteger(size) || size < 0 || size >= ds.count) {
    throw new Error(
      `validation split of ${size} images: must be a whole number from 0 to ${ds.count - 1} (the training set has ${ds.count})`,
    );
  }
  // Partial Fisher-Yates: the first `size` positions of a seeded shuffle are held out.
  const order = Int32Array.from({ length: ds.count }, (_, i) => i);
  const rng = new Random(seed ^ 0x5eed);
  for (let i = 0; i < size; i++) {
    const j = i + rng.int(ds.count - i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const held = new Uint8Array(ds.count);
  for (let i = 0; i < size; i++) held[order[i]] = 1;
  const pick = (keep: (i: number) => boolean, name: string): Dataset => {
    const indices = Array.from({ length: ds.count }, (_, i) => i).filter(keep);
    const px = imageSize(ds.shape);
    const images = new Float32Array(indices.length * px);
    const labels = new Int32Array(indices.length);
    indices.forEach((src, dst) => {
      images.set(ds.images.subarray(src * px, (src + 1) * px), dst * px);
      labels[dst] = ds.labels[src];
    });
    return { ...ds, name, images, labels, count: indices.length, shape: [...ds.shape] };
  };
  return { train: pick((i) => !held[i], ds.name), validation: pick((i) => held[i] === 1, `${ds.name} (validation)`) };
}
