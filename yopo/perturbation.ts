// The threat models of docs/algorithm.md ("Notation and threat models"), as RobustBench's: perturbations η with ‖η‖∞ ≤ ε (L∞) or ‖η‖₂ ≤ ε
// (L2, per example), and x + η in [0, 1]. Every attack and training method takes its steps and
// projections from here.

import {
  type Random,
  type Tensor,
  abs,
  add,
  addScalar,
  clamp,
  div,
  max,
  mul,
  rand,
  randn,
  scale,
  sign,
  sqrt,
  square,
  sub,
  sum,
} from '../engine/index.js';

/** The threat model's norm: L∞ or L2. */
export type Norm = 'linf' | 'l2';
/** Every Norm, for option parsing. */
export const NORMS: readonly Norm[] = ['linf', 'l2'];

/** Per-example norm ‖t_i‖ over all axes but the first, shaped [B, 1, ..., 1] to broadcast against t. */
export function exampleNorm(t: Tensor, norm: Norm): Tensor {
  const axes = t.shape.map((_, i) => i).slice(1);
  return norm === 'linf' ? max(abs(t), axes, true) : sqrt(sum(square(t), axes, true));
}

/** t / (‖t_i‖ + 1e-12) per example (AutoAttack's normalize). */
export function normalizePerExample(t: Tensor, norm: Norm): Tensor {
  return div(t, addScalar(exampleNorm(t, norm), 1e-12));
}

/** The steepest-ascent direction of the threat model: sign(g) for L∞, g/‖g‖₂ per example for L2. */
export function ascentDirection(g: Tensor, norm: Norm): Tensor {
  return norm === 'linf' ? sign(g) : normalizePerExample(g, 'l2');
}

/** Projects η onto the ε-ball: clip to [−ε, ε] (L∞) or rescale to ‖η_i‖₂ ≤ ε (L2). */
export function projectToBall(eta: Tensor, eps: number, norm: Norm = 'linf'): Tensor {
  if (norm === 'linf') return clamp(eta, -eps, eps);
  const n = exampleNorm(eta, 'l2');
  return mul(div(eta, addScalar(n, 1e-12)), clamp(n, 0, eps));
}

/** Π(η): onto the ε-ball, then η ← clip(x + η, 0, 1) − x. */
export function project(eta: Tensor, x: Tensor, eps: number, norm: Norm = 'linf'): Tensor {
  return sub(clamp(add(x, projectToBall(eta, eps, norm)), 0, 1), x);
}

/** η ← U(−ε, ε) elementwise, from the host generator (reproducible on every backend). */
export function uniformNoise(shape: readonly number[], eps: number, rng: Random): Tensor {
  return rand(shape, rng, -eps, eps);
}

/** A random start inside the ball: U(−ε, ε) for L∞; for L2 a Gaussian direction with radius ε·U(0, 1). */
export function randomStart(shape: readonly number[], eps: number, norm: Norm, rng: Random): Tensor {
  if (norm === 'linf') return uniformNoise(shape, eps, rng);
  const direction = normalizePerExample(randn(shape, rng), 'l2');
  return mul(direction, rand([shape[0], ...shape.slice(1).map(() => 1)], rng, 0, eps));
}

/** η + step·sign(g): one ascent step of a sign-gradient adversary. */
export function signStep(eta: Tensor, g: Tensor, step: number): Tensor {
  return add(eta, scale(sign(g), step));
}

/** η + step·d(g), d the threat model's ascent direction (sign for L∞, normalised gradient for L2). */
export function ascentStep(eta: Tensor, g: Tensor, step: number, norm: Norm = 'linf'): Tensor {
  return add(eta, scale(ascentDirection(g, norm), step));
}

/** The adversarial input clip(x + η, 0, 1). */
export function perturbed(x: Tensor, eta: Tensor): Tensor {
  return clamp(add(x, eta), 0, 1);
}
