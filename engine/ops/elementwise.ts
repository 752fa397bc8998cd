// Unary elementwise ops and their derivatives, each rule one line as in micrograd.

import type { UnaryOp } from '../backend.js';
import { recordOp } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { eq, mul, div, passIfPositive } from './binary.js';
import { backendOf, requireFloat, wrap } from './util.js';

function unary(op: UnaryOp, x: Tensor): Tensor {
  requireFloat(op, x);
  const backend = backendOf(op, x);
  return wrap(backend, backend.unary(op, x.storage, x.size), x.shape);
}

/** −x elementwise. */
export function neg(x: Tensor): Tensor {
  const out = unary('neg', x);
  recordOp(out, [x], (dy) => [neg(dy)]);
  return out;
}

/** eˣ elementwise. */
export function exp(x: Tensor): Tensor {
  const out = unary('exp', x);
  recordOp(out, [x], (dy) => [mul(dy, out)]);
  return out;
}

/** Natural logarithm elementwise (x > 0). */
export function log(x: Tensor): Tensor {
  const out = unary('log', x);
  recordOp(out, [x], (dy) => [div(dy, x)]);
  return out;
}

/** √x elementwise (x ≥ 0). */
export function sqrt(x: Tensor): Tensor {
  const out = unary('sqrt', x);
  recordOp(out, [x], (dy) => [div(scale(dy, 0.5), out)]);
  return out;
}

/** |x| elementwise (gradient sign(x), 0 at 0). */
export function abs(x: Tensor): Tensor {
  const out = unary('abs', x);
  recordOp(out, [x], (dy) => [mul(dy, sign(x))]);
  return out;
}

/** sign(0) = 0. Its derivative is zero almost everywhere, so no gradient flows. */
export function sign(x: Tensor): Tensor {
  const out = unary('sign', x);
  recordOp(out, [x], () => [null]);
  return out;
}

/** max(x, 0) elementwise (gradient 0 at 0). */
export function relu(x: Tensor): Tensor {
  const out = unary('relu', x);
  recordOp(out, [x], (dy) => [passIfPositive(x, dy)]);
  return out;
}

/** 1 where x > 0, else 0 (the ReLU mask). */
export function step(x: Tensor): Tensor {
  const out = unary('step', x);
  recordOp(out, [x], () => [null]);
  return out;
}

/** x² elementwise. */
export function square(x: Tensor): Tensor {
  const out = unary('square', x);
  recordOp(out, [x], (dy) => [mul(dy, scale(x, 2))]);
  return out;
}

/** 1/x elementwise. */
export function reciprocal(x: Tensor): Tensor {
  const out = unary('reciprocal', x);
  recordOp(out, [x], (dy) => [neg(mul(dy, square(out)))]);
  return out;
}

/** scale·x + shift, with plain numbers (no scalar tensor upload). */
export function affine(x: Tensor, scaleBy: number, shift: number): Tensor {
  requireFloat('affine', x);
  const backend = backendOf('affine', x);
  const out = wrap(backend, backend.affine(x.storage, x.size, scaleBy, shift), x.shape);
  recordOp(out, [x], (dy) => [scale(dy, scaleBy)]);
  return out;
}

/** factor·x elementwise. */
export function scale(x: Tensor, factor: number): Tensor {
  return affine(x, factor, 0);
}

/** x + value elementwise. */
export function addScalar(x: Tensor, value: number): Tensor {
  return affine(x, 1, value);
}

/** min(max(x, lo), hi). The gradient passes where lo ≤ x ≤ hi (inclusive), as PyTorch's clamp does. */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  requireFloat('clamp', x);
  if (!(lo <= hi)) throw new Error(`clamp: lower bound ${lo} is above upper bound ${hi}`);
  const backend = backendOf('clamp', x);
  const out = wrap(backend, backend.clamp(x.storage, x.size, lo, hi), x.shape);
  recordOp(out, [x], (dy) => [mul(dy, eq(out, x))]);
  return out;
}
