// FLOP counts from layer shapes: what a timing should be compared against. Only conv and linear
// layers count (elementwise ops, pooling and BN are a few percent of the work); one multiply-add is 2
// FLOPs. A layer's two backward products (gradient w.r.t. its input and w.r.t. its weight) each cost as
// many multiply-adds as its forward, so forward + full backward ≈ 3x forward.

import type { Conv2dShape } from '../engine/index.js';
import type { LayerShape } from './layers.js';

/** Multiply-adds of a conv forward; also of its backward-input and of its backward-filter product. */
export function convMacs(s: Conv2dShape): number {
  return s.batch * s.outChannels * s.outHeight * s.outWidth * s.inChannels * s.kernelHeight * s.kernelWidth;
}

export function convFlops(s: Conv2dShape): number {
  return 2 * convMacs(s);
}

/** [m, k] @ [k, n]. */
export function matmulFlops(m: number, n: number, k: number): number {
  return 2 * m * n * k;
}

export function layerMacs(l: LayerShape): number {
  return l.kind === 'conv' ? convMacs(l.shape) : l.batch * l.inFeatures * l.outFeatures;
}

export function forwardFlops(layers: readonly LayerShape[]): number {
  return layers.reduce((total, l) => total + 2 * layerMacs(l), 0);
}

/** Which gradients a backward pass computes for a layer. */
export interface BackwardNeeds {
  input: boolean;
  weight: boolean;
}

/** Forward + backward FLOPs of the layers; each wanted gradient costs one forward's worth. */
export function forwardBackwardFlops(layers: readonly LayerShape[], needs: BackwardNeeds): number {
  const factor = 1 + (needs.input ? 1 : 0) + (needs.weight ? 1 : 0);
  return factor * forwardFlops(layers);
}

/** A full propagation as the benchmark times it: forward, then gradients w.r.t. every weight and the input. */
export function fullPassFlops(layers: readonly LayerShape[]): number {
  return forwardBackwardFlops(layers, { input: true, weight: true });
}

/** YOPO's inner step: f0's forward and its VJP w.r.t. the input only (no weight gradient). */
export function firstLayerStepFlops(firstLayer: readonly LayerShape[]): number {
  return forwardBackwardFlops(firstLayer, { input: true, weight: false });
}

/** Achieved GFLOP/s for `flops` done in `ms` milliseconds. */
export function gflopsPerSecond(flops: number, ms: number): number {
  return flops / (ms * 1e6);
}
