// Weight initialisation, matching PyTorch's formulas so models start where the paper's code starts.

import { type Random, type Tensor, full, rand, randn } from '../engine/index.js';

/** PyTorch's default for Conv2d/Linear weights and biases: U(−1/√fan_in, 1/√fan_in)
 *  (kaiming_uniform with a = √5 reduces to this bound). */
export function defaultUniform(shape: number[], fanIn: number, rng: Random): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return rand(shape, rng, -bound, bound);
}

/** Kaiming-normal with gain √2: N(0, 2/fan), fan = fan_in or fan_out. */
export function kaimingNormal(shape: number[], fan: number, rng: Random): Tensor {
  return randn(shape, rng, 0, Math.sqrt(2 / fan));
}

/** A tensor of `shape` filled with `value` (e.g. BatchNorm's initial gamma). */
export function constant(shape: number[], value: number): Tensor {
  return full(shape, value);
}
