// Checkpoints: the model's state dict as safetensors (PyTorch reads it with safetensors.torch.load_file
// and load_state_dict), optimiser state in a second safetensors file, both written atomically.
// Loading validates names, shapes and dtypes and names the file and tensor in every error.

import { SGD } from './sgd.js';
import type { HostTensor, Module } from './module.js';
import { checkTensors, loadSafetensors, saveSafetensors, type SafetensorsFile } from './safetensors.js';

/** Writes the model's parameters and buffers (e.g. model.safetensors). */
export async function saveModel(path: string, model: Module, metadata: Record<string, string> = {}): Promise<void> {
  await saveSafetensors(path, await model.stateDictData(), { format: 'pt', ...metadata });
}

/** Expected tensors of a model, for validation. */
function expectedTensors(model: Module): Map<string, { shape: number[]; dtype: 'F32' | 'I32' }> {
  const out = new Map<string, { shape: number[]; dtype: 'F32' | 'I32' }>();
  for (const [name, t] of model.stateDict()) out.set(name, { shape: [...t.shape], dtype: t.dtype === 'int32' ? 'I32' : 'F32' });
  return out;
}

/** Loads a model checkpoint, after checking every tensor against the model. Returns its metadata. */
export async function loadModel(path: string, model: Module): Promise<Record<string, string>> {
  const file = await loadSafetensors(path);
  checkTensors(file, expectedTensors(model), path);
  model.loadStateDict(file.tensors, `checkpoint ${path}`);
  return file.metadata;
}

/** Writes every optimiser's momentum buffers (e.g. optimizer.safetensors), plus extra named tensors. */
export async function saveOptimizers(path: string, optimizers: Map<string, SGD>, extra: Map<string, HostTensor> = new Map(), metadata: Record<string, string> = {}): Promise<void> {
  const tensors = new Map(extra);
  const steps: Record<string, string> = {};
  for (const [name, opt] of optimizers) {
    for (const [k, v] of await opt.stateData(`${name}.`)) tensors.set(k, v);
    steps[`${name}.steps`] = String(opt.steps);
  }
  await saveSafetensors(path, tensors, { ...metadata, ...steps });
}

/** Restores optimiser state written by saveOptimizers; returns the file for extra tensors. */
export async function loadOptimizers(path: string, optimizers: Map<string, SGD>): Promise<SafetensorsFile> {
  const file = await loadSafetensors(path);
  for (const [name, opt] of optimizers) {
    opt.loadStateData(file.tensors, `${name}.`, `optimizer state ${path}`);
    opt.steps = Number(file.metadata[`${name}.steps`] ?? 0);
  }
  return file;
}
