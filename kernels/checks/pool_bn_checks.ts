// Pooling and batch-norm kernels against the CPU reference, as op checks for the reference harness:
// the definitions test/kernels/kernels_pool_bn.test.ts runs on Node's WebGPU (with more cases, ties and
// finite differences), and the ones (`checks`) that also run in Chromium.

import { Random, Tape, Tensor, batchNormTrain, mul, pool2dShape, sum } from '../../engine/index.js';
import type { OpCheck } from '../../engine/reference/index.js';
import { type Check, opCheck } from './check.js';

export type PoolKind = 'max' | 'avg';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Forward and backward of one pooling kind through the Backend methods, as a check for the reference
 *  harness: inputs x (random unless `x` is given) and dy; outputs y and dx. */
export function poolCheck(
  kind: PoolKind,
  shape: number[],
  kernel: number,
  stride: number,
  rtol: [number, number],
  atol: [number, number],
  x?: ArrayLike<number>,
): OpCheck {
  const s = pool2dShape(shape, kernel, stride, 'test');
  const yShape = [s.batch, s.channels, s.outHeight, s.outWidth];
  return {
    name: `${kind}Pool2d k${kernel} s${stride} [${shape}] (forward, backward)`,
    inputs: [{ shape, values: x }, { shape: yShape }],
    run: ([xt, dy], b) => [
      Tensor.fromStorage(
        b,
        kind === 'max' ? b.maxPool2d(xt.storage, s) : b.avgPool2d(xt.storage, s),
        yShape,
        'float32',
      ),
      Tensor.fromStorage(
        b,
        kind === 'max' ? b.maxPool2dBackward(dy.storage, xt.storage, s) : b.avgPool2dBackward(dy.storage, s),
        shape,
        'float32',
      ),
    ],
    rtol,
    atol,
  };
}

export const POOL_CASES: { shape: number[]; kernel: number; stride: number; what: string }[] = [
  { shape: [3, 5, 13, 11], kernel: 2, stride: 2, what: '2x2 stride 2, odd sizes (floor)' },
  { shape: [2, 3, 9, 9], kernel: 3, stride: 2, what: '3x3 stride 2 (overlapping windows)' },
  { shape: [1, 2, 8, 7], kernel: 3, stride: 1, what: '3x3 stride 1 (heavily overlapping)' },
  { shape: [2, 2, 11, 10], kernel: 2, stride: 3, what: '2x2 stride 3 (gaps between windows)' },
  { shape: [2, 7, 4, 4], kernel: 4, stride: 4, what: 'global 4x4' },
];

/** Pooling of random inputs: the seed and tolerances test/kernels/kernels_pool_bn.test.ts uses (float32 reference). */
export const POOL_SEED = 11;
export const poolCaseCheck = (kind: PoolKind, c: (typeof POOL_CASES)[number]) =>
  poolCheck(kind, c.shape, c.kernel, c.stride, [1e-6, 1e-5], [1e-6, 1e-6]);

/** Per-channel batch mean and variance through the Backend method, as a check for the reference harness. */
export function statsCheck(shape: number[], x: Float32Array): OpCheck {
  const [n, c, h, w] = shape;
  return {
    name: `batchNormStats [${shape}]`,
    inputs: [{ shape, values: x }],
    run: ([xt], b) => b.batchNormStats(xt.storage, n, c, h * w).map((st) => Tensor.fromStorage(b, st, [c], 'float32')),
    // Means of ~1000 carry float32 rounding of the sums (~1e-7 relative); variances stay accurate
    // to ~1e-5 relative because nothing subtracts E[x]² from E[x²] (which would be off by ~10%).
    rtol: [1e-6, 1e-4],
    atol: [1e-5, 1e-6],
  };
}

export const BN_CASES: { shape: number[]; offset: number; what: string }[] = [
  { shape: [3, 5, 7, 9], offset: 0, what: 'small odd sizes, one workgroup per channel' },
  { shape: [17, 2, 25, 25], offset: 0, what: 'three uneven chunks per channel, scalar loads' },
  { shape: [4, 3, 16, 16], offset: 1000, what: 'values 1000 ± 1, one workgroup per channel' },
  { shape: [40, 2, 32, 32], offset: 1000, what: 'values 1000 ± 1, four chunks per channel' },
];

/** Values with per-channel offsets and scales around `offset`, so that channels differ. */
export function channelValues(shape: number[], offset: number, seed = 21): Float32Array {
  const rng = new Random(seed);
  const [, ch, h, w] = shape;
  const x = new Float32Array(size(shape));
  for (let i = 0; i < x.length; i++) {
    const channel = Math.floor(i / (h * w)) % ch;
    x[i] = offset + channel * 0.25 + (1 + channel) * 0.5 * rng.uniform(-1, 1);
  }
  return x;
}

/** batchNormApply with given statistics through the Backend method. */
export function batchNormApplyCheck(shape: number[]): OpCheck {
  const [n, c, h, w] = shape;
  return {
    name: `batchNormApply [${shape}]`,
    inputs: [
      { shape, lo: -2, hi: 3 },
      { shape: [c] },
      { shape: [c], lo: 0.1, hi: 2 },
      { shape: [c], lo: 0.5, hi: 1.5 },
      { shape: [c] },
    ],
    run: ([x, mean, variance, gamma, beta], b) =>
      Tensor.fromStorage(
        b,
        b.batchNormApply(x.storage, mean.storage, variance.storage, gamma.storage, beta.storage, n, c, h * w, 1e-3),
        x.shape,
        'float32',
      ),
    rtol: 1e-5,
    atol: 1e-6,
  };
}

/** batchNormTrain's y, batch mean and batch variance. */
export function batchNormTrainCheck(c: (typeof BN_CASES)[number]): OpCheck {
  const ch = c.shape[1];
  return {
    name: `batchNormTrain [${c.shape}] (y, mean, variance)`,
    inputs: [
      { shape: c.shape, lo: c.offset - 1, hi: c.offset + 1 },
      { shape: [ch], lo: 0.5, hi: 1.5 },
      { shape: [ch] },
    ],
    run: ([x, gamma, beta]) => {
      const out = batchNormTrain(x, gamma, beta);
      return [out.y, out.mean, out.variance];
    },
    // y = (x − mean)·γ/σ: a mean error of ~1e-5 at offset 1000 shows up as ~1e-4 in y.
    rtol: [1e-4, 1e-6, 1e-4],
    atol: [c.offset ? 2e-4 : 1e-5, 1e-5, 1e-6],
  };
}

const weighted = (y: Tensor, w: Tensor) => sum(mul(y, w));

/** batchNormTrain's VJP through the tape: dx, dγ, dβ of sum(y ⊙ w). */
export function batchNormVjpCheck(shape: number[]): OpCheck {
  const c = shape[1];
  return {
    name: `batchNormTrain VJP [${shape}] (dx, dgamma, dbeta)`,
    inputs: [{ shape, lo: -2, hi: 2 }, { shape: [c], lo: 0.5, hi: 1.5 }, { shape: [c] }, { shape }],
    run: ([x, gamma, beta, w]) => {
      const tape = new Tape();
      const loss = tape.record(() => weighted(batchNormTrain(x, gamma, beta).y, w));
      return tape.gradient(loss, [x, gamma, beta]);
    },
    rtol: 1e-4,
    atol: 1e-5,
  };
}

export const BN_APPLY_SHAPE = [3, 5, 7, 9];
export const BN_VJP_SHAPE = [4, 3, 5, 6];

export const checks: Check[] = [
  // Odd sizes with floor, and overlapping windows.
  ...(['max', 'avg'] as const).flatMap((kind) =>
    POOL_CASES.slice(0, 2).map((c) => opCheck(poolCaseCheck(kind, c), POOL_SEED, 'float32')),
  ),
  // Statistics of small odd sizes and of values far from zero (the numerically hard case).
  ...[BN_CASES[0], BN_CASES[2]].map((c) => opCheck(statsCheck(c.shape, channelValues(c.shape, c.offset)), 1)),
  opCheck(batchNormApplyCheck(BN_APPLY_SHAPE), 4),
  opCheck(batchNormTrainCheck(BN_CASES[0]), 8),
  opCheck(batchNormVjpCheck(BN_VJP_SHAPE), 35),
];
