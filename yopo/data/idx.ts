// IDX files (MNIST, Fashion-MNIST) read from disk in Node; the format itself is parsed in idx_bytes.ts.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { Dataset } from './dataset.js';
import {
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  type IdxArray,
  type IdxPair,
  idxToDataset,
  isGzip,
  parseIdx,
} from './idx_bytes.js';

export * from './idx_bytes.js';

/** Decompresses gzip content, passes anything else through. `file` names the source in errors. */
export function maybeGunzip(bytes: Uint8Array, file: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (e) {
    throw new Error(`${file}: gzip data is corrupt or truncated (${(e as Error).message})`);
  }
}

/** Reads and parses one IDX file, plain or gzip. */
export function readIdx(path: string, expectedMagic?: number): IdxArray {
  let raw: Uint8Array;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new Error(`${path}: cannot read IDX file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseIdx(maybeGunzip(raw, path), path, expectedMagic);
}

/** Loads an images file and a labels file in IDX format as one Dataset. */
export function loadIdxPair(pair: IdxPair): Dataset {
  const images = readIdx(pair.imagesFile, IDX_IMAGES_MAGIC);
  const labels = readIdx(pair.labelsFile, IDX_LABELS_MAGIC);
  return idxToDataset(images, labels, pair);
}
