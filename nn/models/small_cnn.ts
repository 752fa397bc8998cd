// The MNIST SmallCNN of the TRADES and YOPO papers (docs/algorithm.md, "The models"):
// conv1 1→32 3x3 + ReLU (the first layer), conv2 32→32 3x3, ReLU, maxpool 2, conv3 32→64 3x3, ReLU,
// conv4 64→64 3x3, ReLU, maxpool 2, flatten 1024, fc1 →200, ReLU, dropout 0.5, fc2 →200, ReLU, fc3 →10.
// 312,202 parameters. Names follow the YOPO repository's network.py (feature_extractor, classifier).
// Each ReLU runs in the kernel of the conv or linear layer before it (their relu option): the same
// function, one pass fewer and no pre-activation tensor kept for the backward. fc1's ReLU comes before
// the dropout, as in the spec.

import { type ConvFirstLayer, type Random, type Tensor, noGrad, tidy, keep, zerosLike } from '../../engine/index.js';
import { kaimingNormal } from '../init.js';
import { Conv2d, Dropout, Flatten, Linear, MaxPool2d, Sequential } from '../layers.js';
import { Classifier } from './classifier.js';

/** The MNIST SmallCNN of the TRADES and YOPO papers (312,202 parameters); first layer conv1 + ReLU. Input [N, 1, 28, 28], logits [N, 10]. */
export class SmallCNN extends Classifier {
  readonly inputShape = [1, 28, 28] as const;
  readonly classes = 10;
  readonly conv1: Conv2d;
  readonly featureExtractor: Sequential;
  readonly classifier: Sequential;

  constructor(rng: Random, options: { dropout?: number } = {}) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(1, 32, 3, rng, { relu: true }));
    const conv2 = new Conv2d(32, 32, 3, rng, { relu: true });
    const conv3 = new Conv2d(32, 64, 3, rng, { relu: true });
    const conv4 = new Conv2d(64, 64, 3, rng, { relu: true });
    this.featureExtractor = this.registerModule(
      'feature_extractor',
      new Sequential([
        ['conv2', conv2],
        ['maxpool1', new MaxPool2d(2)],
        ['conv3', conv3],
        ['conv4', conv4],
        ['maxpool2', new MaxPool2d(2)],
      ]),
    );
    const fc1 = new Linear(64 * 4 * 4, 200, rng, { relu: true });
    const fc2 = new Linear(200, 200, rng, { relu: true });
    const fc3 = new Linear(200, 10, rng);
    this.classifier = this.registerModule(
      'classifier',
      new Sequential([
        ['flatten', new Flatten()],
        ['fc1', fc1],
        ['drop', new Dropout(options.dropout ?? 0.5, rng.fork())],
        ['fc2', fc2],
        ['fc3', fc3],
      ]),
    );
    // Spec init: conv weights Kaiming-normal (fan-in, gain √2), conv biases 0; fc3 weight and bias 0.
    noGrad(() => {
      for (const conv of [this.conv1, conv2, conv3, conv4]) {
        conv.weight.assign(keep(kaimingNormal([...conv.weight.shape], conv.inChannels * 9, rng)));
        conv.bias!.assign(keep(tidy(() => zerosLike(conv.bias!))));
      }
      fc3.weight.assign(keep(tidy(() => zerosLike(fc3.weight))));
      fc3.bias.assign(keep(tidy(() => zerosLike(fc3.bias))));
    });
  }

  firstLayer(x: Tensor): Tensor {
    return this.conv1.forward(x);
  }

  rest(z: Tensor): Tensor {
    return this.classifier.forward(this.featureExtractor.forward(z));
  }

  firstLayerParameters(): Tensor[] {
    return this.conv1.parameters();
  }

  override firstLayerConv(): ConvFirstLayer {
    return this.conv1.asFirstLayer();
  }
}
