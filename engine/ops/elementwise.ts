// Unary elementwise ops. Each op's derivative is its row of the op table (../elementwise_ops.ts), run
// untaped (./untaped.ts); affine and clamp carry numbers of their own, so their rules are here.

import { type UnaryOp, unaryRow } from '../elementwise_ops.js';
import { recordOp } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { eq, mul } from './binary.js';
import { VJP_OPS, affineUntaped, unaryUntaped } from './untaped.js';
import { backendOf, requireFloat, wrap } from './util.js';

/** The unary op `op` of the table on x, with the row's VJP recorded (none for a row without one). */
export function unary(op: UnaryOp, x: Tensor): Tensor {
  const out = unaryUntaped(op, x);
  const { vjp } = unaryRow(op);
  recordOp(out, [x], vjp ? (dy) => [vjp(VJP_OPS, { x, out, dy })] : () => [null]);
  return out;
}

/** −x elementwise. */
export function neg(x: Tensor): Tensor {
  return unary('neg', x);
}

/** eˣ elementwise. */
export function exp(x: Tensor): Tensor {
  return unary('exp', x);
}

/** Natural logarithm elementwise (x > 0). */
export function log(x: Tensor): Tensor {
  return unary('log', x);
}

/** √x elementwise (x ≥ 0). */
export function sqrt(x: Tensor): Tensor {
  return unary('sqrt', x);
}

/** |x| elementwise (gradient sign(x), 0 at 0). */
export function abs(x: Tensor): Tensor {
  return unary('abs', x);
}

/** sign(0) = 0. Its derivative is zero almost everywhere, so no gradient flows. */
export function sign(x: Tensor): Tensor {
  return unary('sign', x);
}

/** max(x, 0) elementwise (gradient 0 at 0). */
export function relu(x: Tensor): Tensor {
  return unary('relu', x);
}

/** 1 where x > 0, else 0 (the ReLU mask). */
export function step(x: Tensor): Tensor {
  return unary('step', x);
}

/** x² elementwise. */
export function square(x: Tensor): Tensor {
  return unary('square', x);
}

/** 1/x elementwise. */
export function reciprocal(x: Tensor): Tensor {
  return unary('reciprocal', x);
}

/** scale·x + shift, with plain numbers (no scalar tensor upload). */
export function affine(x: Tensor, scaleBy: number, shift: number): Tensor {
  const out = affineUntaped(x, scaleBy, shift);
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
