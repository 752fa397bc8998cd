// IDX, the file format of MNIST and Fashion-MNIST: a 4-byte magic (0, 0, element type, number of
// dimensions), each dimension as a big-endian uint32, then the elements in row-major order.
// Only unsigned bytes (type 0x08) occur in these datasets, so only they are supported.
// Files may be gzip-compressed (as distributed); that is detected from the content, not the name.
// This module works on bytes only (browser-safe; gzip through DecompressionStream); idx.ts reads files in Node.

import { type Dataset, bytesToUnit, validateDataset } from './dataset.js';

/** Magic number of an IDX labels file. */
export const IDX_LABELS_MAGIC = 0x00000801; // ubyte, 1 dimension: [count]
/** Magic number of an IDX images file. */
export const IDX_IMAGES_MAGIC = 0x00000803; // ubyte, 3 dimensions: [count, rows, cols]

/** A parsed IDX file: its magic number, dimensions, and the unsigned bytes. */
export interface IdxArray {
  magic: number;
  dims: number[];
  /** The elements (a view into the file's buffer). */
  data: Uint8Array;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

/** True when the bytes start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parses IDX bytes (already decompressed). With `expectedMagic`, anything else is rejected, so a
 * labels file passed as images (or a random file) fails here with a clear message.
 */
export function parseIdx(bytes: Uint8Array, file: string, expectedMagic?: number): IdxArray {
  if (bytes.length < 4)
    throw new Error(`${file}: not an IDX file: ${bytes.length} bytes is too short for the 4-byte magic number`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const what =
    expectedMagic === IDX_IMAGES_MAGIC
      ? 'IDX images file'
      : expectedMagic === IDX_LABELS_MAGIC
        ? 'IDX labels file'
        : 'IDX file';
  if (expectedMagic !== undefined && magic !== expectedMagic) {
    throw new Error(`${file}: not an ${what}: magic number is ${hex(magic)}, expected ${hex(expectedMagic)}`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) {
    throw new Error(`${file}: not an unsigned-byte IDX file: magic number is ${hex(magic)}, expected 0x000008NN`);
  }
  const ndims = bytes[3];
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new Error(
      `${file}: truncated IDX header: expected ${headerBytes} bytes for ${ndims} dimensions, got ${bytes.length}`,
    );
  }
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const dataBytes = dims.reduce((a, b) => a * b, 1);
  const expected = headerBytes + dataBytes;
  if (bytes.length < expected) {
    throw new Error(
      `${file}: truncated IDX data: expected ${expected} bytes (header ${headerBytes} + ${dims.join('×')} elements), got ${bytes.length}`,
    );
  }
  if (bytes.length > expected) {
    throw new Error(
      `${file}: IDX file too long: expected ${expected} bytes for dimensions ${dims.join('×')}, got ${bytes.length}`,
    );
  }
  return { magic, dims, data: bytes.subarray(headerBytes, expected) };
}

/** An images file and a labels file that together make a dataset, with the dataset's name and class count. */
export interface IdxPair {
  imagesFile: string;
  labelsFile: string;
  name: string;
  classes: number;
}

/** Turns a parsed images file and labels file into a Dataset (one channel, pixels / 255). */
export function idxToDataset(images: IdxArray, labels: IdxArray, pair: IdxPair): Dataset {
  const [count, rows, cols] = images.dims;
  if (labels.dims[0] !== count) {
    throw new Error(
      `${pair.name}: image/label count mismatch: ${pair.imagesFile} has ${count} images but ${pair.labelsFile} has ${labels.dims[0]} labels`,
    );
  }
  const labelArray = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = labels.data[i];
    if (label >= pair.classes)
      throw new Error(`${pair.labelsFile}: label ${label} at index ${i} is outside [0, ${pair.classes})`);
    labelArray[i] = label;
  }
  const ds: Dataset = {
    name: pair.name,
    images: bytesToUnit(images.data),
    labels: labelArray,
    count,
    shape: [1, rows, cols],
    classes: pair.classes,
  };
  // Values are in range by construction (bytes / 255, labels checked above).
  return validateDataset(ds, false);
}

/**
 * Decompresses gzip bytes with the web-standard DecompressionStream (browsers, Node >= 18); anything
 * that is not gzip passes through. `file` names the source in errors.
 */
export async function gunzipBytes(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new Error(`${file}: gzip data is corrupt or truncated (${(e as Error).message})`);
  }
}

/** An images file and a labels file (IDX, plain or gzip) as bytes, turned into one Dataset. */
export async function idxDatasetFromBytes(
  imagesBytes: Uint8Array,
  labelsBytes: Uint8Array,
  pair: IdxPair,
): Promise<Dataset> {
  const images = parseIdx(await gunzipBytes(imagesBytes, pair.imagesFile), pair.imagesFile, IDX_IMAGES_MAGIC);
  const labels = parseIdx(await gunzipBytes(labelsBytes, pair.labelsFile), pair.labelsFile, IDX_LABELS_MAGIC);
  return idxToDataset(images, labels, pair);
}
