// PreAct-ResNet18 for CIFAR-10 (He et al. 2016, kuangliu's layout as used by the YOPO code):
// conv1 3→64 (the first layer, no BN/ReLU after it), four stages of two PreActBlocks (64, 128, 256,
// 512 channels; strides 1, 2, 2, 2), global 4x4 average pool, linear 512→10. 11,171,146 parameters.

import { type Random, type Tensor, add, relu } from '../../engine/index.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, Sequential } from '../layers.js';
import { Module } from '../module.js';
import { CifarResNet } from './cifar_resnet.js';

/** o = relu(bn1(x)); shortcut = 1x1 conv of o when the shape changes, else x;
 *  out = conv2(relu(bn2(conv1(o)))) + shortcut. */
export class PreActBlock extends Module {
  readonly bn1: BatchNorm2d;
  readonly conv1: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly shortcut: Sequential | null;

  constructor(inPlanes: number, planes: number, stride: number, rng: Random) {
    super();
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(inPlanes));
    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d(inPlanes, planes, 3, rng, { stride, padding: 1, bias: false }),
    );
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, rng, { padding: 1, bias: false }));
    this.shortcut =
      stride !== 1 || inPlanes !== planes
        ? this.registerModule(
            'shortcut',
            new Sequential([new Conv2d(inPlanes, planes, 1, rng, { stride, bias: false })]),
          )
        : null;
  }

  forward(x: Tensor): Tensor {
    const o = relu(this.bn1.forward(x));
    const shortcut = this.shortcut ? this.shortcut.forward(o) : x;
    const out = this.conv2.forward(relu(this.bn2.forward(this.conv1.forward(o))));
    return add(out, shortcut);
  }
}

/** The CIFAR-10 PreAct-ResNet18 of the YOPO paper (docs/algorithm.md, "The models"); first layer: the bare 3x3 conv1 (linear). Input [N, 3, 32, 32], logits [N, 10]. */
export class PreActResNet18 extends CifarResNet {
  readonly body: Sequential;

  constructor(rng: Random, options: { classes?: number } = {}) {
    super(rng, 64, options.classes ?? 10);
    const stages: [string, Module][] = [];
    let inPlanes = 64;
    [64, 128, 256, 512].forEach((planes, i) => {
      const stride = i === 0 ? 1 : 2;
      const stage = new Sequential([
        new PreActBlock(inPlanes, planes, stride, rng),
        new PreActBlock(planes, planes, 1, rng),
      ]);
      stages.push([`layer${i + 1}`, stage]);
      inPlanes = planes;
    });
    // Registered one by one (not nested) so the names are layer1.0.bn1..., linear.weight as in PyTorch.
    for (const [name, stage] of stages) this.registerModule(name, stage);
    const linear = this.registerModule('linear', new Linear(512, this.classes, rng));
    this.body = new Sequential([...stages.map(([, s]) => s), new AvgPool2d(4), new Flatten(), linear]);
  }
}
