// What PreActResNet18 and WideResNet share: CIFAR-10 images in, a bare 3x3 conv1 as the first layer
// (linear: no BatchNorm or ReLU after it, as in the published code), and everything after it one
// Sequential body. A subclass builds its body after this constructor has registered conv1, so the
// parameter names and the order the seeded initialisation draws in are PyTorch's.

import type { ConvFirstLayer, Random, Tensor } from '../../engine/index.js';
import { Conv2d, type Sequential } from '../layers.js';
import { Classifier } from './classifier.js';

/** A CIFAR-10 ResNet split at its stem: firstLayer is conv1 (3 → stemWidth channels), rest is body. */
export abstract class CifarResNet extends Classifier {
  readonly inputShape = [3, 32, 32] as const;
  readonly classes: number;
  readonly conv1: Conv2d;
  /** Everything after conv1, from its output to the logits. */
  protected abstract readonly body: Sequential;

  constructor(rng: Random, stemWidth: number, classes: number) {
    super();
    this.classes = classes;
    this.conv1 = this.registerModule('conv1', new Conv2d(3, stemWidth, 3, rng, { padding: 1, bias: false }));
  }

  firstLayer(x: Tensor): Tensor {
    return this.conv1.forward(x);
  }

  rest(z: Tensor): Tensor {
    return this.body.forward(z);
  }

  firstLayerParameters(): Tensor[] {
    return this.conv1.parameters();
  }

  override firstLayerConv(): ConvFirstLayer {
    return this.conv1.asFirstLayer();
  }
}
