// Things every CLI command shares: choosing the backend, loading data, building the model, reading
// the package version.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { Random, setBackend, useCpu, type Backend } from '../engine/index.js';
import { adapterName } from '../kernels/webgpu/device.js';
import { useWebGPU } from '../kernels/index.js';
import { type Classifier, MODEL_NAMES, type ModelName, type WideResNetInit, createModel } from '../nn/index.js';
import { DATASET_NAMES, type Dataset, type DatasetName, loadDataset, subset } from '../yopo/data/index.js';
import { UsageError } from './args.js';

/** The --backend choices. */
export const BACKENDS = ['webgpu', 'cpu'] as const;

/** One WebGPU device per process: a second command in the same process (the demo's final evaluation) reuses its compiled kernels. */
let webgpu: ReturnType<typeof useWebGPU> | null = null;

/** Activates the named backend ('cpu', otherwise WebGPU, one device per process) and returns it with a description for logs. */
export async function openBackend(name: string): Promise<{ backend: Backend; description: string }> {
  if (name === 'cpu') return { backend: useCpu(), description: 'CPU reference backend' };
  webgpu ??= useWebGPU();
  const backend = await webgpu;
  setBackend(backend);
  return { backend, description: backend.adapter ? adapterName(backend.adapter) : 'WebGPU' };
}

/** The version in yopo's package.json, or 'unknown' when it cannot be found. */
export function packageVersion(): string {
  const path = new URL('../../package.json', import.meta.url);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version : 'unknown';
}

/** Loads a split, optionally the first `limit` examples, with errors that name the option. */
export function loadSplit(
  command: string,
  data: string,
  dir: string | undefined,
  split: 'train' | 'test',
  limit?: number,
): Dataset {
  if (!DATASET_NAMES.includes(data as DatasetName))
    throw new UsageError(`yopo ${command}: --data must be one of ${DATASET_NAMES.join(', ')} (got '${data}')`);
  if (dir !== undefined && !existsSync(dir)) throw new UsageError(`yopo ${command}: --data-dir ${dir} does not exist`);
  if (dir !== undefined && !statSync(dir).isDirectory())
    throw new UsageError(`yopo ${command}: --data-dir ${dir} is a file, expected a folder`);
  const ds = loadDataset(data as DatasetName, split, dir);
  return limit !== undefined ? subset(ds, limit) : ds;
}

/** The model for a dataset, checking that its input shape fits the images. */
export function buildModel(
  command: string,
  name: string,
  data: Dataset,
  seed: number,
  options: { wrnInit?: WideResNetInit } = {},
): Classifier {
  if (!MODEL_NAMES.includes(name as ModelName))
    throw new UsageError(`yopo ${command}: --model must be one of ${MODEL_NAMES.join(', ')} (got '${name}')`);
  const model = createModel(name as ModelName, new Random(seed), options);
  const [c, h, w] = model.inputShape;
  if (data.shape[0] !== c || data.shape[1] !== h || data.shape[2] !== w) {
    model.dispose();
    throw new UsageError(
      `yopo ${command}: --model ${name} expects ${c}x${h}x${w} images but ${data.name} has ${data.shape.join('x')} (use smallcnn for MNIST, a ResNet for CIFAR-10)`,
    );
  }
  return model;
}
