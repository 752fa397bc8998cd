// CIFAR-10, binary version (https://www.cs.toronto.edu/~kriz/cifar.html): 32×32 RGB, 10 classes.
// Each file is a run of records: 1 label byte, then 3072 pixel bytes as three 1024-byte planes
// (R, G, B), each row-major 32×32. That is already NCHW, so a record's pixels copy straight in.
// This module decodes bytes only (browser-safe); cifar10.ts finds and reads the files in Node.

import { type Dataset, bytesToUnit, validateDataset } from './dataset.js';

/** CIFAR-10's class names, by label 0..9. */
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

/** Bytes of one CIFAR-10 image: 3 × 32 × 32, channel-major (CHW). */
export const CIFAR_PIXELS = 3 * 32 * 32;
/** Bytes of one record in a CIFAR-10 .bin file: a label byte, then the image. */
export const CIFAR_RECORD_BYTES = 1 + CIFAR_PIXELS;

/** The training split's batch files. */
export const CIFAR10_TRAIN_FILES = [
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
];
/** The test split's batch file. */
export const CIFAR10_TEST_FILES = ['test_batch.bin'];

/** The folder the official archive unpacks to; accepted inside the given folder too. */
export const CIFAR10_SUBDIR = 'cifar-10-batches-bin';

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
export function decodeCifarBatch(
  bytes: Uint8Array,
  file: string,
  images: Float32Array,
  labels: Int32Array,
  offset: number,
): number {
  const count = cifarRecordCount(bytes.length, file);
  for (let r = 0; r < count; r++) {
    const start = r * CIFAR_RECORD_BYTES;
    const label = bytes[start];
    if (label > 9)
      throw new Error(
        `${file}: record ${r} has label ${label}, expected 0..9 (is this the CIFAR-100 or a non-binary file?)`,
      );
    labels[offset + r] = label;
    bytesToUnit(bytes.subarray(start + 1, start + CIFAR_RECORD_BYTES), images, (offset + r) * CIFAR_PIXELS);
  }
  return count;
}

/** A dataset from batch files' bytes (e.g. the five data_batch_N.bin, fetched), in the order given. */
export function cifar10FromBytes(files: readonly { name: string; bytes: Uint8Array }[]): Dataset {
  const counts = files.map((f) => cifarRecordCount(f.bytes.length, f.name));
  const count = counts.reduce((a, b) => a + b, 0);
  if (count === 0) throw new Error(`cifar10: the batch files ${files.map((f) => f.name).join(', ')} hold no records`);
  const images = new Float32Array(count * CIFAR_PIXELS);
  const labels = new Int32Array(count);
  let offset = 0;
  for (const f of files) offset += decodeCifarBatch(f.bytes, f.name, images, labels, offset);
  return validateDataset({ name: 'cifar10', images, labels, count, shape: [3, 32, 32], classes: 10 }, false);
}
