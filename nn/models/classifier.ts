// What YOPO needs from a model: the network split as net(x) = rest(firstLayer(x)), where firstLayer is
// f0, the layer the adversary is coupled with (re-run alone in YOPO's inner loop).

import type { ConvFirstLayer, Tensor } from '../../engine/index.js';
import { Module } from '../module.js';

/**
 * An image classifier that YOPO can train: NCHW images in, logits out, split at the first layer.
 *
 * The contract (checked by checkClassifier, which train() runs before the first step):
 * - forward(x) = rest(firstLayer(x)) for every x. Keep Classifier's forward; if you override it, it
 *   must still compute exactly this.
 * - firstLayerParameters() returns the model's own parameter tensors that firstLayer uses, all of them:
 *   YOPO gives f0 its own optimiser and updates it from the Hamiltonian p·f0(x + η) alone.
 * - Put BatchNorm after the split (in rest) unless it belongs to f0 on purpose: YOPO re-runs f0 n times
 *   per full pass, so batch statistics inside f0 would be recomputed (and running statistics updated)
 *   on every inner step.
 * - A linear f0 (a bare convolution, as in PreActResNet18) is fine: its input gradient Wᵀp does not
 *   depend on η, so YOPO's n inner steps move along one direction, reshaped only by clipping and the
 *   projection onto the ε-ball.
 */
export abstract class Classifier extends Module {
  /** [channels, height, width] of one input image (pixels in [0, 1]). */
  abstract readonly inputShape: readonly [number, number, number];
  /** Number of classes: the logits are [batch, classes]. */
  abstract readonly classes: number;

  /** f0: the first layer (with what docs/algorithm.md counts as part of it, e.g. SmallCNN's ReLU). x: [batch, ...inputShape]. */
  abstract firstLayer(x: Tensor): Tensor;

  /** g: everything after the first layer, from firstLayer's output to the logits [batch, classes]. */
  abstract rest(z: Tensor): Tensor;

  /** The parameters of f0 (YOPO gives them their own optimiser): all those firstLayer uses, each one of parameters(). */
  abstract firstLayerParameters(): Tensor[];

  /**
   * f0 as a conv (+bias)(+ReLU) when firstLayer(x) is exactly that, so YOPO's inner step can run fused
   * (engine/ops/conv_ascent.ts); null (the default) keeps the op-by-op path. checkClassifier checks
   * that the two agree.
   */
  firstLayerConv(): ConvFirstLayer | null {
    return null;
  }

  /** Logits [batch, classes] of images [batch, ...inputShape]: rest(firstLayer(x)). */
  forward(x: Tensor): Tensor {
    return this.rest(this.firstLayer(x));
  }

  /** The parameters of g: every parameter not in firstLayerParameters(). */
  restParameters(): Tensor[] {
    const first = new Set(this.firstLayerParameters());
    return this.parameters().filter((p) => !first.has(p));
  }
}
