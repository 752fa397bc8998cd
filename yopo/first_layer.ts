// YOPO's key computation: the adversary only needs the first layer. With p = ∂L/∂z1 frozen,
//   H(η) = Σ p · f0(clip(x + η, 0, 1))
// and ∇η H is the VJP of f0 at clip(x + η) with cotangent p (passing the clip only where
// 0 ≤ x + η ≤ 1). At the η where p was computed, ∇η H equals the true ∇η L.

import { type ConvFirstLayer, Tape, type Tensor, conv2dInputGradient, sum, mul, tensor } from '../engine/index.js';
import type { Classifier } from '../nn/index.js';
import { perturbed } from './perturbation.js';

/** ∇η Σ p·f0(clip(x+η, 0, 1)): one first-layer forward and one VJP w.r.t. the input. */
export function hamiltonianGradientWrtEta(model: Classifier, x: Tensor, eta: Tensor, p: Tensor): Tensor {
  const tape = new Tape();
  const z = tape.record(() => model.firstLayer(perturbed(x, eta)));
  return tape.gradient(z, [eta], p)[0];
}

/** ∇θ0 Σ p·f0(clip(x+η, 0, 1)) for the first layer's parameters θ0. */
export function hamiltonianGradientWrtFirstLayer(model: Classifier, x: Tensor, eta: Tensor, p: Tensor): Tensor[] {
  const tape = new Tape();
  const h = tape.record(() => sum(mul(p, model.firstLayer(perturbed(x, eta)))));
  return tape.gradient(h, model.firstLayerParameters());
}

// A linear first layer (a conv with no ReLU after it: the ResNets') has
//   Σ p · f0(a) = Σ (Wᵀp) · a + Σ p · b,
// so up to a constant H is the Hamiltonian of the identity layer with cotangent Wᵀp (f0's VJP with
// cotangent p, the same at every input a). Wᵀp stays fixed while p does, so YOPO's inner steps need it
// once per full pass, and each step is then the identity layer's: elementwise (yopo/first_layer_adversary.ts).

/** Wᵀp: the VJP of the conv `f` w.r.t. its input, with cotangent p, for inputs shaped as x. */
export function linearFirstLayerCotangent(f: ConvFirstLayer, x: Tensor, p: Tensor): Tensor {
  if (f.relu) throw new Error('linearFirstLayerCotangent: the first layer has a ReLU, so its VJP depends on the input');
  return conv2dInputGradient(p, f.weight, x.shape, { stride: f.stride, padding: f.padding });
}

/** The identity layer on `channels` channels as a 1×1 conv: its fused inner step against Wᵀp is a linear first layer's inner step. */
export function identityFirstLayer(channels: number): ConvFirstLayer {
  const eye = new Float32Array(channels * channels);
  for (let c = 0; c < channels; c++) eye[c * channels + c] = 1;
  return { weight: tensor(eye, [channels, channels, 1, 1]), bias: null, stride: 1, padding: 0, relu: false };
}
