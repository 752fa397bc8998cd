// WideResNet-34-10 for CIFAR-10 (Zagoruyko & Komodakis; the layout of the TRADES/YOPO code):
// conv1 3→16 (the first layer), three groups of 5 pre-activation BasicBlocks (widths 160, 320, 640;
// strides 1, 2, 2), BN, ReLU, 8x8 average pool, linear 640→10. About 46.2 M parameters.
// Init: PyTorch's defaults by default, as the copy in YOPO's published code leaves them; option
// init 'trades' is the TRADES code's: conv weights N(0, 2/(k·k·out)), BN weight 1 bias 0, linear bias 0.

import { type Random, type Tensor, add, keep, noGrad, relu, tidy, zerosLike } from '../../engine/index.js';
import { kaimingNormal } from '../init.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential } from '../layers.js';
import { Module } from '../module.js';
import { CifarResNet } from './cifar_resnet.js';

/** When the width changes: x = relu(bn1(x)) first, and the 1x1 shortcut is taken from that. */
export class WideBasicBlock extends Module {
  readonly bn1: BatchNorm2d;
  readonly conv1: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly convShortcut: Conv2d | null;

  constructor(inPlanes: number, outPlanes: number, stride: number, rng: Random) {
    super();
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(inPlanes));
    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d(inPlanes, outPlanes, 3, rng, { stride, padding: 1, bias: false }),
    );
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(outPlanes));
    this.conv2 = this.registerModule('conv2', new Conv2d(outPlanes, outPlanes, 3, rng, { padding: 1, bias: false }));
    this.convShortcut =
      inPlanes !== outPlanes
        ? this.registerModule('convShortcut', new Conv2d(inPlanes, outPlanes, 1, rng, { stride, bias: false }))
        : null;
  }

  forward(x: Tensor): Tensor {
    const pre = relu(this.bn1.forward(x));
    const shortcut = this.convShortcut ? this.convShortcut.forward(pre) : x;
    const out = this.conv2.forward(relu(this.bn2.forward(this.conv1.forward(pre))));
    return add(out, shortcut);
  }
}

/** Weight initialisation for WideResNet: 'pytorch' (PyTorch's defaults) or 'trades' (the TRADES code's). */
export type WideResNetInit = 'pytorch' | 'trades';
/** Every WideResNetInit value, for option parsing. */
export const WIDE_RESNET_INITS: readonly WideResNetInit[] = ['pytorch', 'trades'];

/** WideResNet-depth-widen for CIFAR-10 (WRN-34-10 in the papers); first layer: the bare 3x3 conv1. Input [N, 3, 32, 32], logits [N, 10]. */
export class WideResNet extends CifarResNet {
  protected readonly body: Sequential;

  constructor(rng: Random, options: { depth?: number; widen?: number; classes?: number; init?: WideResNetInit } = {}) {
    const depth = options.depth ?? 34;
    const widen = options.widen ?? 10;
    if ((depth - 4) % 6 !== 0) throw new Error(`WideResNet: depth must be 6n+4, got ${depth}`);
    const widths = [16, 16 * widen, 32 * widen, 64 * widen];
    super(rng, widths[0], options.classes ?? 10);
    const n = (depth - 4) / 6;
    const groups: Module[] = [];
    for (let g = 0; g < 3; g++) {
      const blocks: Module[] = [];
      for (let i = 0; i < n; i++)
        blocks.push(
          new WideBasicBlock(i === 0 ? widths[g] : widths[g + 1], widths[g + 1], i === 0 && g > 0 ? 2 : 1, rng),
        );
      const group = new Sequential([['layer', new Sequential(blocks)]]);
      groups.push(this.registerModule(`block${g + 1}`, group));
    }
    const bn = this.registerModule('bn1', new BatchNorm2d(widths[3]));
    const fc = this.registerModule('fc', new Linear(widths[3], this.classes, rng));
    this.body = new Sequential([...groups, bn, new ReLU(), new AvgPool2d(8), new Flatten(), fc]);
    if ((options.init ?? 'pytorch') === 'trades') this.tradesInit(rng);
  }

  private tradesInit(rng: Random): void {
    noGrad(() => {
      for (const [name, p] of this.namedParameters()) {
        if (p.rank === 4) p.assign(keep(kaimingNormal([...p.shape], p.shape[0] * p.shape[2] * p.shape[3], rng)));
        else if (name === 'fc.bias') p.assign(keep(tidy(() => zerosLike(p))));
      }
    });
  }
}
