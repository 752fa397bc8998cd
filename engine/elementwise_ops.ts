// The elementwise ops in one table: each row names an op and gives its CPU function (the reference
// every backend is checked against) and its VJP. Everything else is derived from these rows: the op
// unions UnaryOp and BinaryOp, the lists tests loop over (UNARY_OPS, BINARY_OPS), the CPU backend's
// loops (cpu/elementwise.ts) and the autodiff rules of the tensor ops (ops/elementwise.ts,
// ops/binary.ts). The WGSL expression of each op is the table's last column, kept beside the WGSL
// kernels (kernels/elementwise_ops.ts) because engine/ holds no kernels; there it is a
// Record<UnaryOp, string>, so a row added here does not compile until it has one.
//
// A VJP gets the tensor ops it may use as `t` (ElementwiseVjpOps; this file imports no op, so the CPU
// backend can read the table without loading autodiff), the op's input(s), its output and the incoming
// gradient dy; it returns the gradient of each input (null: none flows), before any sum over broadcast
// axes.

import type { Tensor } from './tensor.js';

/** The tensor ops a VJP of this table may use (ops/untaped.ts gives them; VJPs run untaped). */
export interface ElementwiseVjpOps {
  neg(x: Tensor): Tensor;
  sign(x: Tensor): Tensor;
  square(x: Tensor): Tensor;
  scale(x: Tensor, factor: number): Tensor;
  mul(a: Tensor, b: Tensor): Tensor;
  div(a: Tensor, b: Tensor): Tensor;
  passIfPositive(a: Tensor, b: Tensor): Tensor;
  lt(a: Tensor, b: Tensor): Tensor;
  le(a: Tensor, b: Tensor): Tensor;
  gt(a: Tensor, b: Tensor): Tensor;
  ge(a: Tensor, b: Tensor): Tensor;
}
type Ops = ElementwiseVjpOps;

interface UnaryRow {
  cpu: (x: number) => number;
  vjp: ((t: Ops, v: { x: Tensor; out: Tensor; dy: Tensor }) => Tensor) | null;
}

interface BinaryRow {
  cpu: (a: number, b: number) => number;
  /** Comparisons return float32 0/1 whatever the inputs' dtype, and pass no gradient. */
  comparison?: true;
  vjp: ((t: Ops, v: { a: Tensor; b: Tensor; out: Tensor; dy: Tensor }) => [Tensor | null, Tensor | null]) | null;
}

/** The unary ops. relu and step pass NaN through (IEEE 754: max(NaN, 0) is NaN), so a diverged value is never hidden as 0. */
export const UNARY = {
  neg: { cpu: (x) => -x, vjp: (t, { dy }) => t.neg(dy) },
  exp: { cpu: Math.exp, vjp: (t, { out, dy }) => t.mul(dy, out) },
  log: { cpu: Math.log, vjp: (t, { x, dy }) => t.div(dy, x) },
  sqrt: { cpu: Math.sqrt, vjp: (t, { out, dy }) => t.div(t.scale(dy, 0.5), out) },
  /** Gradient sign(x): 0 at 0. */
  abs: { cpu: Math.abs, vjp: (t, { x, dy }) => t.mul(dy, t.sign(x)) },
  /** sign(0) = 0; flat almost everywhere, so no gradient flows. */
  sign: { cpu: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0), vjp: null },
  /** max(x, 0); gradient 0 at 0. */
  relu: { cpu: (x) => (x > 0 || Number.isNaN(x) ? x : 0), vjp: (t, { x, dy }) => t.passIfPositive(x, dy) },
  /** 1 where x > 0, else 0: ReLU's derivative (the mask); no gradient flows. */
  step: { cpu: (x) => (x > 0 ? 1 : Number.isNaN(x) ? x : 0), vjp: null },
  square: { cpu: (x) => x * x, vjp: (t, { x, dy }) => t.mul(dy, t.scale(x, 2)) },
  reciprocal: { cpu: (x) => 1 / x, vjp: (t, { out, dy }) => t.neg(t.mul(dy, t.square(out))) },
} satisfies Record<string, UnaryRow>;

/** The binary ops, with NumPy broadcasting; arithmetic keeps the inputs' dtype. */
export const BINARY = {
  add: { cpu: (a, b) => a + b, vjp: (_t, { dy }) => [dy, dy] },
  sub: { cpu: (a, b) => a - b, vjp: (t, { dy }) => [dy, t.neg(dy)] },
  mul: { cpu: (a, b) => a * b, vjp: (t, { a, b, dy }) => [t.mul(dy, b), t.mul(dy, a)] },
  div: { cpu: (a, b) => a / b, vjp: (t, { a, b, dy }) => [t.div(dy, b), t.neg(t.div(t.mul(dy, a), t.square(b)))] },
  /** Ties send the gradient to a. */
  maximum: {
    cpu: (a, b) => (a >= b ? a : b),
    vjp: (t, { a, b, dy }) => [t.mul(dy, t.ge(a, b)), t.mul(dy, t.lt(a, b))],
  },
  /** Ties send the gradient to a. */
  minimum: {
    cpu: (a, b) => (a <= b ? a : b),
    vjp: (t, { a, b, dy }) => [t.mul(dy, t.le(a, b)), t.mul(dy, t.gt(a, b))],
  },
  eq: { cpu: (a, b) => (a === b ? 1 : 0), comparison: true, vjp: null },
  ne: { cpu: (a, b) => (a !== b ? 1 : 0), comparison: true, vjp: null },
  lt: { cpu: (a, b) => (a < b ? 1 : 0), comparison: true, vjp: null },
  le: { cpu: (a, b) => (a <= b ? 1 : 0), comparison: true, vjp: null },
  gt: { cpu: (a, b) => (a > b ? 1 : 0), comparison: true, vjp: null },
  ge: { cpu: (a, b) => (a >= b ? 1 : 0), comparison: true, vjp: null },
  /** b where a > 0, else 0: ReLU's backward in one pass (a the ReLU's input, b dy). The gradient flows
   *  to b through the same mask; a gets none (the mask is flat almost everywhere). */
  passIfPositive: { cpu: (a, b) => (a > 0 ? b : 0), vjp: (t, { a, dy }) => [null, t.passIfPositive(a, dy)] },
} satisfies Record<string, BinaryRow>;

/** An elementwise op of one input (a row of UNARY). */
export type UnaryOp = keyof typeof UNARY;
/** An elementwise op of two inputs (a row of BINARY). */
export type BinaryOp = keyof typeof BINARY;

/** Every UnaryOp, in table order, for tests that loop over them. */
export const UNARY_OPS = Object.keys(UNARY) as readonly UnaryOp[];
/** Every BinaryOp, in table order, for tests that loop over them. */
export const BINARY_OPS = Object.keys(BINARY) as readonly BinaryOp[];

/** The row of a unary op, typed as a row (the table's literal types differ from row to row). */
export const unaryRow = (op: UnaryOp): UnaryRow => UNARY[op];
/** The row of a binary op, typed as a row. */
export const binaryRow = (op: BinaryOp): BinaryRow => BINARY[op];
