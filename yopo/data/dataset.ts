// The in-memory dataset every loader produces and every trainer consumes: images as one NCHW
// float32 array with pixels in [0, 1] (no mean/std normalisation: the epsilon of an attack is in
// pixel units, so the model sees raw pixels), and integer class labels.
// Pure TypeScript on typed arrays, so browser users can build one from their own arrays.

/** Which half of a dataset: the training set or the held-out test set. */
export type Split = 'train' | 'test';

/** Shape of one image: [channels, height, width]. */
export type ImageShape = [channels: number, height: number, width: number];

/** An in-memory image classification set: count images (NCHW f32 in [0, 1]) and their labels. */
export interface Dataset {
  /** Short name for logs and reports, e.g. 'mnist', 'cifar10'. */
  name: string;
  /** count × channels × height × width pixels, NCHW, each in [0, 1]. */
  images: Float32Array;
  /** count labels, each in [0, classes). */
  labels: Int32Array;
  count: number;
  shape: ImageShape;
  classes: number;
}

/** Pixels per image (channels × height × width). */
export function imageSize(shape: readonly number[]): number {
  return shape[0] * shape[1] * shape[2];
}

/**
 * Checks that a dataset is consistent, with an error that says which field is wrong and how.
 * `checkValues` also scans every pixel and label (O(size); the loaders do it once on load).
 */
export function validateDataset(ds: Dataset, checkValues = true): Dataset {
  const where = `dataset '${ds.name}'`;
  if (!Array.isArray(ds.shape) || ds.shape.length !== 3 || !ds.shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(
      `${where}: shape must be [channels, height, width] of positive integers, got ${JSON.stringify(ds.shape)}`,
    );
  }
  if (!Number.isInteger(ds.count) || ds.count < 0)
    throw new Error(`${where}: count must be a non-negative integer, got ${ds.count}`);
  if (!Number.isInteger(ds.classes) || ds.classes < 1)
    throw new Error(`${where}: classes must be a positive integer, got ${ds.classes}`);
  if (!(ds.images instanceof Float32Array)) throw new Error(`${where}: images must be a Float32Array`);
  if (!(ds.labels instanceof Int32Array)) throw new Error(`${where}: labels must be an Int32Array`);
  const size = imageSize(ds.shape);
  if (ds.images.length !== ds.count * size) {
    throw new Error(
      `${where}: images has ${ds.images.length} values, expected count × C×H×W = ${ds.count} × ${size} = ${ds.count * size}`,
    );
  }
  if (ds.labels.length !== ds.count)
    throw new Error(`${where}: labels has ${ds.labels.length} entries, expected count = ${ds.count}`);
  if (!checkValues) return ds;
  for (let i = 0; i < ds.count; i++) {
    const label = ds.labels[i];
    if (label < 0 || label >= ds.classes)
      throw new Error(`${where}: label ${label} at index ${i} is outside [0, ${ds.classes})`);
  }
  const images = ds.images;
  for (let i = 0; i < images.length; i++) {
    const v = images[i];
    // Written so that NaN fails too.
    if (!(v >= 0 && v <= 1)) {
      throw new Error(
        `${where}: pixel ${v} at image ${Math.floor(i / size)} is outside [0, 1] (images must be unnormalised)`,
      );
    }
  }
  return ds;
}

/** The first `count` examples (for `--limit`), as views that share memory with `ds`; a larger count keeps all. */
export function subset(ds: Dataset, count: number): Dataset {
  if (!Number.isInteger(count) || count < 0)
    throw new Error(`subset of '${ds.name}': count must be a non-negative integer, got ${count}`);
  if (count >= ds.count) return ds;
  const size = imageSize(ds.shape);
  return {
    ...ds,
    images: ds.images.subarray(0, count * size),
    labels: ds.labels.subarray(0, count),
    count,
    shape: [...ds.shape],
  };
}

/** Bytes 0..255 to floats in [0, 1], exactly v / 255 for each byte (a table, so no division per pixel). */
export function bytesToUnit(
  bytes: Uint8Array,
  out: Float32Array = new Float32Array(bytes.length),
  outOffset = 0,
): Float32Array {
  const table = UNIT_TABLE;
  for (let i = 0; i < bytes.length; i++) out[outOffset + i] = table[bytes[i]];
  return out;
}

const UNIT_TABLE = Float32Array.from({ length: 256 }, (_, v) => v / 255);
