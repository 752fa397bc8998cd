// The conv and linear layer shapes a model really runs, found by tracing one forward pass rather than
// restating the architecture here: the benchmark's FLOP counts and conv shapes then follow nn/ when a
// model changes.

import { type Conv2dShape, type Tensor, conv2dShape, noGrad, tidy, zeros } from '../engine/index.js';
import { Conv2d, Linear, type Classifier, type Module } from '../nn/index.js';

export type LayerShape =
  | { kind: 'conv'; name: string; shape: Conv2dShape; bias: boolean }
  | { kind: 'linear'; name: string; batch: number; inFeatures: number; outFeatures: number };

/** Which part of the network to trace: the whole forward, or only the first layer f0 (YOPO's inner loop). */
export type TracePart = 'forward' | 'firstLayer';

/**
 * The conv/linear layers met by one pass of `part`, in call order, with the batch set to `batch`.
 * Runs the model once on a batch of one zero image in eval mode without a tape (so BN running
 * statistics and dropout masks are untouched), on the current backend.
 */
export function traceLayers(model: Classifier, batch: number, part: TracePart = 'forward'): LayerShape[] {
  const names = moduleNames(model);
  const seen: LayerShape[] = [];
  const patched: Module[] = [];
  // Instance-level wrappers (deleted afterwards): nothing outside this model is affected.
  for (const m of model.modules()) {
    const name = names.get(m) ?? '?';
    if (m instanceof Conv2d) {
      const conv = m;
      conv.forward = (x: Tensor) => {
        const s = conv2dShape([batch, ...x.shape.slice(1)], conv.weight.shape, conv.stride, conv.padding);
        seen.push({ kind: 'conv', name, shape: s, bias: conv.bias !== null });
        return Conv2d.prototype.forward.call(conv, x);
      };
      patched.push(m);
    } else if (m instanceof Linear) {
      const linear = m;
      linear.forward = (x: Tensor) => {
        seen.push({ kind: 'linear', name, batch, inFeatures: linear.inFeatures, outFeatures: linear.outFeatures });
        return Linear.prototype.forward.call(linear, x);
      };
      patched.push(m);
    }
  }
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() =>
      tidy(() => {
        const x = zeros([1, ...model.inputShape]);
        part === 'forward' ? model.forward(x) : model.firstLayer(x);
      }),
    );
  } finally {
    for (const m of patched) delete (m as { forward?: unknown }).forward;
    model.train(wasTraining);
  }
  return seen;
}

/** Module → its dotted PyTorch-style name (conv1, layer2.0.shortcut.0, classifier.fc1). */
function moduleNames(root: Module): Map<Module, string> {
  const out = new Map<Module, string>();
  const visit = (m: Module, prefix: string) => {
    for (const [n, child] of m.namedChildren()) {
      const name = prefix ? `${prefix}.${n}` : n;
      out.set(child, name);
      visit(child, name);
    }
  };
  visit(root, '');
  return out;
}

/** A short, stable name for a conv shape (the batch is left out): in 32x26x26 → 32, 3x3 kernel, stride 1, padding 0. */
export function convTag(s: Conv2dShape): string {
  const k = s.kernelHeight === s.kernelWidth ? `${s.kernelHeight}` : `${s.kernelHeight}x${s.kernelWidth}`;
  return `${s.inChannels}x${s.inHeight}x${s.inWidth}-${s.outChannels}-k${k}s${s.stride}p${s.padding}`;
}

/** Conv shapes without repeats (a ResNet reuses most of its shapes), in first-use order. */
export function distinctConvShapes(layers: readonly LayerShape[]): Conv2dShape[] {
  const byTag = new Map<string, Conv2dShape>();
  for (const l of layers) if (l.kind === 'conv' && !byTag.has(convTag(l.shape))) byTag.set(convTag(l.shape), l.shape);
  return [...byTag.values()];
}
