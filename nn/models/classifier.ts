// What YOPO needs from a model: the network split as net(x) = rest(firstLayer(x)), where firstLayer is
// f0, the layer the adversary is coupled with (re-run alone in YOPO's inner loop).

import type { Tensor } from '../../engine/index.js';
import { Module } from '../module.js';

export abstract class Classifier extends Module {
  /** [channels, height, width] of one input image. */
  abstract readonly inputShape: readonly [number, number, number];
  abstract readonly classes: number;

  /** f0: the first layer (with what the spec counts as part of it, e.g. SmallCNN's ReLU). */
  abstract firstLayer(x: Tensor): Tensor;

  /** g: everything after the first layer, up to the logits. */
  abstract rest(z: Tensor): Tensor;

  /** The parameters of f0 (YOPO gives them their own optimiser). */
  abstract firstLayerParameters(): Tensor[];

  forward(x: Tensor): Tensor {
    return this.rest(this.firstLayer(x));
  }

  /** The parameters of g. */
  restParameters(): Tensor[] {
    const first = new Set(this.firstLayerParameters());
    return this.parameters().filter((p) => !first.has(p));
  }
}
