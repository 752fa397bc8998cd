// The WGSL column of the elementwise op table (engine/elementwise_ops.ts): each op as a scalar WGSL
// expression, of v for a unary op and of a and b for a binary op. The records are keyed by the
// table's unions, so an op added to the table does not compile until it has an expression here; the
// kernels (unary.ts, binary.ts) apply them one value or one vec4 component at a time.

import type { BinaryOp, UnaryOp } from '../engine/backend.js';

/**
 * True where v is NaN, tested on the bits: WGSL lets compilers assume NaN never occurs in float
 * comparisons and max/min (lavapipe's max(NaN, 0.0) is 0.0), which would hide a diverged value.
 */
export const isNan = (v: string) => `((bitcast<u32>(${v}) & 0x7fffffffu) > 0x7f800000u)`;

/** f32 expressions of v. relu and step pass NaN through as IEEE 754 says (max(NaN, 0) is NaN), like the CPU reference. */
export const UNARY_WGSL: Record<UnaryOp, string> = {
  neg: '-v',
  exp: 'exp(v)',
  log: 'log(v)',
  sqrt: 'sqrt(v)',
  abs: 'abs(v)',
  sign: 'sign(v)',
  relu: `select(max(v, 0.0), v, ${isNan('v')})`,
  step: `select(select(0.0, 1.0, v > 0.0), v, ${isNan('v')})`,
  square: 'v * v',
  reciprocal: '1.0 / v',
};

/** Expressions of a and b of the inputs' type T (f32 or i32), in which ZERO stands for T(0); comparisons give f32 0/1. */
export const BINARY_WGSL: Record<BinaryOp, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  maximum: 'max(a, b)',
  minimum: 'min(a, b)',
  eq: 'select(0.0, 1.0, a == b)',
  ne: 'select(0.0, 1.0, a != b)',
  lt: 'select(0.0, 1.0, a < b)',
  le: 'select(0.0, 1.0, a <= b)',
  gt: 'select(0.0, 1.0, a > b)',
  ge: 'select(0.0, 1.0, a >= b)',
  passIfPositive: 'select(ZERO, b, a > ZERO)',
};
