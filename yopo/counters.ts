// Counting propagations, so tests can check what each method really runs: every call of the model's
// rest (g) is a full propagation; every call of firstLayer (f0) without a following g is a
// first-layer-only propagation. Counting at the model catches a hidden full forward anywhere.
// YOPO's fused inner step (engine/ops/conv_ascent.ts) runs f0's forward and VJP in its kernels without
// calling firstLayer: it asks for the layer with firstLayerConv, so each call of that which returns a
// layer counts as a first-layer propagation too.

import type { Classifier } from '../nn/index.js';

/** Live counts of a model's forward propagations: full passes and first-layer passes. */
export interface PropagationCounts {
  /** Calls of g: full forward passes (each full backward follows one of them). */
  full: number;
  /** Calls of f0, including the ones inside full passes, and fused inner steps (calls of firstLayerConv). */
  firstLayer: number;
}

const counted = new WeakMap<Classifier, PropagationCounts>();

/** Wraps the model's firstLayer and rest (once) and returns its live counters. */
export function propagationCounts(model: Classifier): PropagationCounts {
  const counts = counted.get(model);
  if (counts) return counts;
  const c: PropagationCounts = { full: 0, firstLayer: 0 };
  const firstLayer = model.firstLayer.bind(model);
  const rest = model.rest.bind(model);
  model.firstLayer = (x) => {
    c.firstLayer++;
    return firstLayer(x);
  };
  const firstLayerConv = model.firstLayerConv.bind(model);
  model.firstLayerConv = () => {
    const conv = firstLayerConv();
    if (conv) c.firstLayer++;
    return conv;
  };
  model.rest = (z) => {
    c.full++;
    return rest(z);
  };
  counted.set(model, c);
  return c;
}

/** First-layer-only propagations: f0 calls not part of a full pass. */
export function firstLayerOnly(c: PropagationCounts): number {
  return c.firstLayer - c.full;
}
