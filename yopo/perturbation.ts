// The L∞ threat model of YOPO-SPEC: perturbations η with |η| ≤ ε and x + η in [0, 1].

import { type Random, type Tensor, add, clamp, rand, scale, sign, sub } from '../engine/index.js';

/** Π(η): clip η to [−ε, ε], then η ← clip(x + η, 0, 1) − x. */
export function project(eta: Tensor, x: Tensor, eps: number): Tensor {
  return sub(clamp(add(x, clamp(eta, -eps, eps)), 0, 1), x);
}

/** η ← U(−ε, ε) elementwise, from the host generator (reproducible on every backend). */
export function uniformNoise(shape: readonly number[], eps: number, rng: Random): Tensor {
  return rand(shape, rng, -eps, eps);
}

/** η + step·sign(g): one ascent step of a sign-gradient adversary. */
export function signStep(eta: Tensor, g: Tensor, step: number): Tensor {
  return add(eta, scale(sign(g), step));
}

/** The adversarial input clip(x + η, 0, 1). */
export function perturbed(x: Tensor, eta: Tensor): Tensor {
  return clamp(add(x, eta), 0, 1);
}
