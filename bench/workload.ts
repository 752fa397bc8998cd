// The models and batches every suite runs on. Random data: the kernels' cost does not depend on the
// values, and no dataset download stands between a user and `npm run bench`.

import { Random, type Tensor, rand, tensor } from '../engine/index.js';
import { type Classifier, type ModelName, createModel } from '../nn/index.js';
import type { DatasetName } from '../yopo/data/index.js';

export const BATCH = 128;

export interface BenchModel {
  name: ModelName;
  /** The dataset whose threat model and training defaults go with this model. */
  dataset: DatasetName;
}

const SMALLCNN: BenchModel = { name: 'smallcnn', dataset: 'mnist' };
const PREACT: BenchModel = { name: 'preact-resnet18', dataset: 'cifar10' };

/** --quick: SmallCNN only (a PreAct-ResNet18 step takes minutes on a software adapter). */
export function benchModels(quick: boolean): BenchModel[] {
  return quick ? [SMALLCNN] : [SMALLCNN, PREACT];
}

export function buildModel(m: BenchModel, seed = 1): Classifier {
  return createModel(m.name, new Random(seed));
}

/** x uniform in [0, 1] with the model's input shape, y uniform labels. */
export function randomBatch(model: Classifier, batch: number, seed = 2): { x: Tensor; y: Tensor } {
  const rng = new Random(seed);
  const x = rand([batch, ...model.inputShape], rng, 0, 1);
  const y = tensor(
    Int32Array.from({ length: batch }, () => rng.int(model.classes)),
    [batch],
    'int32',
  );
  return { x, y };
}
