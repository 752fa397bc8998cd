// A model's checkpoint as bytes, for hosts without a file system (the browser page downloads and
// uploads these). The bytes are exactly what saveModel (checkpoint.ts) writes to a file.

import { assertFinite } from './finite.js';
import type { Module } from './module.js';
import { checkTensors, decodeSafetensors, encodeSafetensors } from './safetensors_codec.js';

/** The model's parameters and buffers as safetensors bytes (the same bytes saveModel writes). */
export async function encodeModel(model: Module, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  return encodeSafetensors(await model.stateDictData(), { format: 'pt', ...metadata });
}

/** Loads safetensors bytes into the model after checking every tensor against it and that every value is finite; returns the metadata. */
export function decodeModel(bytes: Uint8Array, model: Module, source = '<in-memory bytes>'): Record<string, string> {
  const file = decodeSafetensors(bytes, source);
  const expected = new Map<string, { shape: number[]; dtype: 'F32' | 'I32' }>();
  for (const [name, t] of model.stateDict())
    expected.set(name, { shape: [...t.shape], dtype: t.dtype === 'int32' ? 'I32' : 'F32' });
  checkTensors(file, expected, source);
  assertFinite(file.tensors, `checkpoint ${source}`);
  model.loadStateDict(file.tensors, `checkpoint ${source}`);
  return file.metadata;
}
