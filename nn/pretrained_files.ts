// The shipped models in Node: read from the package's pretrained/ folder (pretrained.ts has the names).

import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type PretrainedModel,
  checkPretrainedName,
  pretrainedFromBytes,
  pretrainedRelativePath,
} from './pretrained.js';

/** The package's pretrained/ folder (this file is dist/nn/pretrained_files.js). */
export const PRETRAINED_DIR = resolve(fileURLToPath(import.meta.url), '../../../pretrained');

/** The path of a shipped model's model.safetensors. */
export function pretrainedFile(name: string): string {
  return join(PRETRAINED_DIR, pretrainedRelativePath(checkPretrainedName(name)));
}

/** Loads a shipped model by name (e.g. 'smallcnn-mnist-yopo') onto the current backend, in eval mode. */
export async function loadPretrained(name: string): Promise<PretrainedModel> {
  const file = pretrainedFile(name);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new Error(`cannot read the pretrained model ${name} at ${file}: ${(error as Error).message}`);
  }
  return pretrainedFromBytes(name, bytes, file);
}
