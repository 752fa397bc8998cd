// Checkpoints: the model's state dict as safetensors (PyTorch reads it with safetensors.torch.load_file
// and load_state_dict), optimiser state in a second safetensors file, both written atomically.
// Loading validates names, shapes and dtypes and names the file and tensor in every error.
//
// No silent NaN: a checkpoint never holds a non-finite value. Saving refuses one (the run has
// diverged: the previous checkpoint must stay the last good one) and loading refuses one (a model
// with NaN weights would otherwise be "evaluated", NaN logits counting as some class).
//
// A training state (saveTrainingState) is the one file a run resumes from: model weights, optimiser
// state and the position together, so one atomic rename commits all of them at once.

import { assertFinite } from './finite.js';
import type { SGD } from './sgd.js';
import type { HostTensor, Module } from './module.js';
import { checkTensors, loadSafetensors, saveSafetensors, type SafetensorsFile } from './safetensors.js';

export { NonFiniteError, assertFinite } from './finite.js';

/** Writes the model's parameters and buffers (e.g. model.safetensors). */
export async function saveModel(path: string, model: Module, metadata: Record<string, string> = {}): Promise<void> {
  const tensors = await model.stateDictData();
  assertFinite(tensors, `not saving ${path}`);
  await saveSafetensors(path, tensors, { format: 'pt', ...metadata });
}

/** Expected tensors of a model, for validation. */
function expectedTensors(model: Module): Map<string, { shape: number[]; dtype: 'F32' | 'I32' }> {
  const out = new Map<string, { shape: number[]; dtype: 'F32' | 'I32' }>();
  for (const [name, t] of model.stateDict())
    out.set(name, { shape: [...t.shape], dtype: t.dtype === 'int32' ? 'I32' : 'F32' });
  return out;
}

/** Loads a model checkpoint, after checking every tensor against the model. Returns its metadata. */
export async function loadModel(path: string, model: Module): Promise<Record<string, string>> {
  const file = await loadSafetensors(path);
  checkTensors(file, expectedTensors(model), path);
  assertFinite(file.tensors, `checkpoint ${path}`);
  model.loadStateDict(file.tensors, `checkpoint ${path}`);
  return file.metadata;
}

async function optimizerTensors(
  optimizers: Map<string, SGD>,
  prefix: string,
): Promise<{ tensors: Map<string, HostTensor>; steps: Record<string, string> }> {
  const tensors = new Map<string, HostTensor>();
  const steps: Record<string, string> = {};
  for (const [name, opt] of optimizers) {
    for (const [k, v] of await opt.stateData(`${prefix}${name}.`)) tensors.set(k, v);
    steps[`${name}.steps`] = String(opt.steps);
  }
  return { tensors, steps };
}

function restoreOptimizers(file: SafetensorsFile, optimizers: Map<string, SGD>, prefix: string, path: string): void {
  for (const [name, opt] of optimizers) {
    opt.loadStateData(file.tensors, `${prefix}${name}.`, `optimizer state ${path}`);
    opt.steps = Number(file.metadata[`${name}.steps`] ?? 0);
  }
}

/** Writes every optimiser's momentum buffers (e.g. optimizer.safetensors), plus extra named tensors. */
export async function saveOptimizers(
  path: string,
  optimizers: Map<string, SGD>,
  extra: Map<string, HostTensor> = new Map(),
  metadata: Record<string, string> = {},
): Promise<void> {
  const { tensors, steps } = await optimizerTensors(optimizers, '');
  for (const [k, v] of extra) tensors.set(k, v);
  assertFinite(tensors, `not saving ${path}`);
  await saveSafetensors(path, tensors, { ...metadata, ...steps });
}

/** Restores optimiser state written by saveOptimizers; returns the file for extra tensors. */
export async function loadOptimizers(path: string, optimizers: Map<string, SGD>): Promise<SafetensorsFile> {
  const file = await loadSafetensors(path);
  assertFinite(file.tensors, `optimizer state ${path}`);
  restoreOptimizers(file, optimizers, '', path);
  return file;
}

/**
 * Writes a whole training state to one file: the model's tensors as `model.<name>`, the optimisers'
 * as `optimizer.<name>.<...>`, `extra` as given (e.g. `state.delta`), and `metadata` (the position).
 */
export async function saveTrainingState(
  path: string,
  model: Module,
  optimizers: Map<string, SGD>,
  extra: Map<string, HostTensor>,
  metadata: Record<string, string>,
): Promise<void> {
  const tensors = new Map<string, HostTensor>();
  for (const [k, v] of await model.stateDictData()) tensors.set(`model.${k}`, v);
  const opt = await optimizerTensors(optimizers, 'optimizer.');
  for (const [k, v] of opt.tensors) tensors.set(k, v);
  for (const [k, v] of extra) tensors.set(k, v);
  assertFinite(tensors, `not saving ${path}`);
  await saveSafetensors(path, tensors, { ...metadata, ...opt.steps });
}

/** Restores what saveTrainingState wrote into a model and its optimisers; returns the file (metadata, extra tensors). */
export async function loadTrainingState(
  path: string,
  model: Module,
  optimizers: Map<string, SGD>,
): Promise<SafetensorsFile> {
  const file = await loadSafetensors(path);
  const modelPart: SafetensorsFile = {
    metadata: file.metadata,
    tensors: new Map(
      [...file.tensors].filter(([k]) => k.startsWith('model.')).map(([k, t]) => [k.slice('model.'.length), t]),
    ),
  };
  checkTensors(modelPart, expectedTensors(model), path);
  assertFinite(file.tensors, `training state ${path}`);
  model.loadStateDict(modelPart.tensors, `training state ${path}`);
  restoreOptimizers(file, optimizers, 'optimizer.', path);
  return file;
}
