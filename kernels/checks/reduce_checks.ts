// Reductions against the CPU reference on random inputs: sum, mean, max and min over single axes,
// several axes and all axes (odd shapes), the long workgroup-tree path, runs of contiguous elements
// (reduce_planes: the conv bias gradient), and argmax. Checks that run in Node and in Chromium alike.

import { argmax, max, mean, min, sum } from '../../engine/index.js';
import type { OpCheck } from '../../engine/reference/index.js';
import { type Check, opCheck } from './check.js';

/** Tolerance for a sum of `count` terms of magnitude ≤ m (float32 accumulation on the GPU). */
const sumTol = (count: number, m: number) => 2e-7 * count * m + 1e-6;

const REDUCERS = { sum, mean, max, min };
type Reducer = keyof typeof REDUCERS;

/** One reduction of a random [-1, 1) input over `axes` (all axes when undefined). */
export function reduceCheck(
  op: Reducer,
  shape: number[],
  axes: number | number[] | undefined,
  keepDims = false,
): OpCheck {
  const list = axes === undefined ? shape.map((_, i) => i) : typeof axes === 'number' ? [axes] : axes;
  const count = list.reduce((n, a) => n * shape[a < 0 ? a + shape.length : a], 1);
  const exact = op === 'max' || op === 'min';
  return {
    name: `${op} [${shape}] axes ${JSON.stringify(axes ?? 'all')}${keepDims ? ' keepDims' : ''}`,
    inputs: [{ shape }],
    run: ([x]) => REDUCERS[op](x, axes, keepDims),
    rtol: exact ? 0 : 1e-5,
    atol: exact ? 0 : op === 'mean' ? sumTol(count, 1) / count : sumTol(count, 1),
  };
}

export function argmaxCheck(shape: number[], axis: number): OpCheck {
  return {
    name: `argmax [${shape}] axis ${axis}`,
    inputs: [{ shape }],
    run: ([x]) => argmax(x, axis),
    rtol: 0,
    atol: 0,
  };
}

const ODD = [3, 5, 11];

export const checks: Check[] = [
  ...(['sum', 'mean', 'max', 'min'] as const).flatMap((op) => [
    opCheck(reduceCheck(op, ODD, 1), 31),
    opCheck(reduceCheck(op, ODD, [0, 2], true), 32),
    opCheck(reduceCheck(op, ODD, undefined), 33),
  ]),
  // ≥ 256 elements per output and few outputs: one workgroup per output with a shared-memory tree.
  opCheck(reduceCheck('sum', [1000, 3], 0), 34),
  opCheck(reduceCheck('max', [40, 3, 20], [0, 2]), 35),
  // Runs of contiguous elements (reduce_planes): a conv bias gradient over [0, 2, 3] with planes of 143
  // single values, and a sum of everything in vec4s.
  opCheck(reduceCheck('sum', [130, 3, 13, 11], [0, 2, 3]), 38),
  opCheck(reduceCheck('min', [130, 3, 13, 11], [0, 2, 3]), 39),
  opCheck(reduceCheck('sum', [21, 6, 8, 10], undefined), 40),
  opCheck(argmaxCheck(ODD, 2), 36),
  opCheck(argmaxCheck([7, 13], 0), 37),
];
