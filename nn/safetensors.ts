// safetensors checkpoints as files (Node): atomic writes and reads around the byte-level codec in
// safetensors_codec.ts (which the browser entry uses on its own).

import { readFile } from 'node:fs/promises';
import { writeFileAtomic, writeFileAtomicSync } from './atomic_write.js';
import {
  type SafetensorsFile,
  SafetensorsError,
  type TensorData,
  decodeSafetensors,
  encodeSafetensors,
} from './safetensors_codec.js';

export * from './safetensors_codec.js';

// ---------------------------------------------------------------------------------------------
// Files

/**
 * Writes a checkpoint atomically: after a crash at any moment, `path` holds either the previous
 * checkpoint or the new one, never a mix. Errors name the path.
 */
export async function saveSafetensors(
  path: string,
  tensors: Map<string, TensorData> | Record<string, TensorData>,
  metadata?: Record<string, string>,
): Promise<void> {
  try {
    await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
  } catch (err) {
    throw saveError(path, err);
  }
}

/** Synchronous saveSafetensors, for exit and signal handlers that cannot await. */
export function saveSafetensorsSync(
  path: string,
  tensors: Map<string, TensorData> | Record<string, TensorData>,
  metadata?: Record<string, string>,
): void {
  try {
    writeFileAtomicSync(path, encodeSafetensors(tensors, metadata));
  } catch (err) {
    throw saveError(path, err);
  }
}

function saveError(path: string, err: unknown): Error {
  const wrapped = new Error(`cannot save checkpoint ${path}: ${(err as Error).message}`, { cause: err });
  // Keep the errno code (ENOSPC, EACCES...) visible to callers that branch on it.
  if (typeof (err as { code?: unknown }).code === 'string')
    Object.assign(wrapped, { code: (err as { code: string }).code });
  return wrapped;
}

/** Reads and validates a checkpoint (see decodeSafetensors for dtype handling). */
export async function loadSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new SafetensorsError(`cannot read checkpoint ${path}: ${(err as Error).message}`, path);
  }
  return decodeSafetensors(bytes, path);
}
