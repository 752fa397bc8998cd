// A linear layer in one op: x·wᵀ + bias, then an optional ReLU, in one backend pass (as conv2d does for
// convolutions), instead of a matmul, a broadcast add and a ReLU.

import { shapeString } from '../shape.js';
import { recordOp } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { passIfPositive } from './binary.js';
import { matmul } from './matmul.js';
import { sum } from './reduce.js';
import { backendOf, requireFloat, wrap } from './util.js';

/** `relu`: a ReLU after the bias, in the same pass (no pre-activation tensor is written or kept). */
export interface LinearOptions {
  relu?: boolean;
}

/** x [N, in], w [out, in] (PyTorch's layout), bias [out] or null → x·wᵀ + bias [N, out], then relu(·) when options.relu. */
export function linear(x: Tensor, w: Tensor, bias: Tensor | null = null, options: LinearOptions = {}): Tensor {
  requireFloat('linear', x, w, ...(bias ? [bias] : []));
  const where = `linear: input ${shapeString(x.shape)}, weight ${shapeString(w.shape)}`;
  if (x.rank !== 2) throw new Error(`${where}: input must be [batch, in features] (2-D)`);
  if (w.rank !== 2) throw new Error(`${where}: weight must be [out features, in features] (2-D)`);
  const [rows, inFeatures] = x.shape;
  const [outFeatures, wIn] = w.shape;
  if (wIn !== inFeatures) throw new Error(`${where}: input has ${inFeatures} features, weight expects ${wIn}`);
  // The bias and ReLU are applied by the matmul kernel, which an empty sum never runs.
  if (inFeatures === 0) throw new Error(`${where}: no input features`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== outFeatures))
    throw new Error(`${where}: bias of shape ${shapeString(bias.shape)} does not match ${outFeatures} output features`);
  const backend = bias ? backendOf('linear', x, w, bias) : backendOf('linear', x, w);
  const relu = options.relu ?? false;
  const s = { rows, inFeatures, outFeatures };
  const out = wrap(backend, backend.linear(x.storage, w.storage, bias?.storage ?? null, s, relu), [rows, outFeatures]);
  const inputs = bias ? [x, w, bias] : [x, w];
  recordOp(out, inputs, (dy, needed) => {
    // Through the ReLU: relu(z) > 0 exactly where z > 0, so the output is the mask.
    const dz = relu ? passIfPositive(out, dy) : dy;
    return [
      needed[0] ? matmul(dz, w) : null,
      needed[1] ? matmul(dz, x, { transA: true }) : null,
      ...(bias ? [needed[2] ? sum(dz, [0]) : null] : []),
    ];
  });
  return out;
}
