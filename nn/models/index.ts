import type { Random } from '../../engine/index.js';
import type { Classifier } from './classifier.js';
import { PreActResNet18 } from './preact_resnet18.js';
import { SmallCNN } from './small_cnn.js';
import { WideResNet, type WideResNetInit } from './wide_resnet.js';

export { Classifier } from './classifier.js';
export { PreActBlock, PreActResNet18 } from './preact_resnet18.js';
export { SmallCNN } from './small_cnn.js';
export { WIDE_RESNET_INITS, WideBasicBlock, WideResNet, type WideResNetInit } from './wide_resnet.js';

/** The models createModel (and the CLI's --model) knows. */
export const MODEL_NAMES = ['smallcnn', 'preact-resnet18', 'wrn-34-10'] as const;
/** One of MODEL_NAMES. */
export type ModelName = (typeof MODEL_NAMES)[number];

/** Builds a model by its CLI name (`wrnInit` picks WRN-34-10's initialisation; default PyTorch's). */
export function createModel(name: ModelName, rng: Random, options: { wrnInit?: WideResNetInit } = {}): Classifier {
  switch (name) {
    case 'smallcnn':
      return new SmallCNN(rng);
    case 'preact-resnet18':
      return new PreActResNet18(rng);
    case 'wrn-34-10':
      return new WideResNet(rng, { depth: 34, widen: 10, init: options.wrnInit });
    default:
      throw new Error(`unknown model '${name as string}'; expected one of ${MODEL_NAMES.join(', ')}`);
  }
}
export { ModelContractError, checkClassifier, type ClassifierCheckOptions } from './contract.js';
