// The elementwise kernels against the CPU reference on random inputs: every unary and binary op on an
// odd size (one element per invocation) and a multiple of 4 (the vec4 kernels), binary ops also with
// broadcasting, plus affine and clamp. Checks that run in Node and in Chromium alike.

import {
  BINARY_OPS,
  type BinaryOp,
  Random,
  UNARY_OPS,
  type UnaryOp,
  affine,
  binary,
  clamp,
  unary,
} from '../../engine/index.js';
import type { OpCheck, OpInput } from '../../engine/reference/index.js';
import { type Check, opCheck } from './check.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Values on a coarse grid (multiples of 0.25) with some exact zeros, so comparisons, max/min, sign,
 *  step and relu see ties and zeros; or away from zero (|x| in [0.5, 2]) for denominators. */
function values(shape: number[], kind: 'grid' | 'nonzero', seed: number): Float64Array {
  const rng = new Random(seed);
  return Float64Array.from({ length: size(shape) }, () => {
    const v = rng.uniform(-1, 1);
    return kind === 'grid' ? Math.round(v * 4) / 4 : (rng.next() < 0.5 ? -1 : 1) * (1.25 + 0.75 * v);
  });
}

function unaryInput(op: UnaryOp, shape: number[], seed: number): OpInput {
  if (op === 'log' || op === 'sqrt') return { shape, lo: 0.05, hi: 5 };
  if (op === 'reciprocal') return { shape, values: values(shape, 'nonzero', seed) };
  if (op === 'sign' || op === 'step' || op === 'relu' || op === 'abs')
    return { shape, values: values(shape, 'grid', seed) };
  return { shape, lo: -3, hi: 3 };
}

/** A unary op on one shape. */
export function unaryCheck(op: UnaryOp, shape: number[], seed = 17): OpCheck {
  return {
    name: `${op} [${shape}]`,
    inputs: [unaryInput(op, shape, seed)],
    run: ([x]) => unary(op, x),
    rtol: 1e-5,
    atol: 1e-6,
  };
}

/** A binary op on two shapes (broadcast against each other). */
export function binaryCheck(op: BinaryOp, a: number[], b: number[], seed = 19): OpCheck {
  const right: OpInput = { shape: b, values: values(b, op === 'div' ? 'nonzero' : 'grid', seed + 1) };
  return {
    name: `${op} [${a}] [${b}]`,
    inputs: [{ shape: a, values: values(a, 'grid', seed) }, right],
    run: ([x, y]) => binary(op, x, y),
    rtol: 1e-5,
    atol: 1e-6,
  };
}

// [7, 13]: one element per invocation; [4, 13]: vec4. Broadcasting a row, and a scalar against vec4 data.
const UNARY_SHAPES = [
  [7, 13],
  [4, 13],
];
const BINARY_PAIRS: [number[], number[]][] = [
  [[7, 13], [13]],
  [
    [4, 13],
    [4, 13],
  ],
  [
    [3, 1, 11],
    [5, 1],
  ],
];

export const checks: Check[] = [
  ...UNARY_OPS.flatMap((op) => UNARY_SHAPES.map((shape) => opCheck(unaryCheck(op, shape), 17, 'float32'))),
  ...BINARY_OPS.flatMap((op) => BINARY_PAIRS.map(([a, b]) => opCheck(binaryCheck(op, a, b), 19, 'float32'))),
  opCheck(
    {
      name: 'affine(-1/3, 1e-3) [7, 13]',
      inputs: [{ shape: [7, 13], lo: -3, hi: 3 }],
      run: ([x]) => affine(x, -1 / 3, 1e-3),
      rtol: 1e-5,
      atol: 1e-6,
    },
    23,
    'float32',
  ),
  opCheck(
    {
      name: 'clamp(-0.5, 0.3) [4, 13]',
      inputs: [{ shape: [4, 13], lo: -3, hi: 3 }],
      run: ([x]) => clamp(x, -0.5, 0.3),
      rtol: 0,
      atol: 0,
    },
    29,
    'float32',
  ),
];
