// The matmul kernel and its VJP against the CPU reference, as op checks for the reference harness: the
// definitions test/kernels/kernels_matmul.test.ts runs on Node's WebGPU (with more shapes and both kernel
// variants), and the ones (`checks`) that also run in Chromium. Likewise the linear layer (a matmul
// with a bias and ReLU epilogue), which test/kernels/kernels_linear.test.ts runs.

import { type LinearShape, type MatmulShape, Tape, Tensor, linear, matmul, mul, sum } from '../../engine/index.js';
import type { OpCheck } from '../../engine/reference/index.js';
import { WebGPUBackend } from '../backend.js';
import type { GpuBuffer } from '../webgpu/gpu.js';
import { linearMatmulShape, matmulWith } from '../matmul.js';
import type { MatmulVariant } from '../matmul_plan.js';
import { type Check, opCheck } from './check.js';

export const TRANSPOSES: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

/** "batch x m x n x k" and the transposes, e.g. "1x7x13x5 Aᵀ". */
export const matmulName = (s: MatmulShape) =>
  `${s.batch}x${s.m}x${s.n}x${s.k}${s.transA ? ' Aᵀ' : ''}${s.transB ? ' Bᵀ' : ''}`;

/** The seed of a shape's random inputs. */
export const matmulSeed = (s: MatmulShape) =>
  s.batch * 1000003 + s.m * 10007 + s.n * 101 + s.k + (s.transA ? 7 : 0) + (s.transB ? 13 : 0);

/** The backend's matmul as a check for the reference harness; on WebGPU, optionally one kernel variant of it. */
export function matmulCheck(s: MatmulShape, variant?: MatmulVariant): OpCheck {
  return {
    name: `matmul ${matmulName(s)}${variant ? ` (${variant} kernel)` : ''}`,
    inputs: [
      { shape: s.transA ? [s.batch, s.k, s.m] : [s.batch, s.m, s.k] },
      { shape: s.transB ? [s.batch, s.n, s.k] : [s.batch, s.k, s.n] },
    ],
    run: ([a, b], backend) => {
      const out =
        variant && backend instanceof WebGPUBackend
          ? matmulWith(backend.gpu, a.storage as GpuBuffer, b.storage as GpuBuffer, s, variant)
          : backend.matmul(a.storage, b.storage, s);
      return Tensor.fromStorage(backend, out, [s.batch, s.m, s.n], 'float32');
    },
    // Float32 sums of k products of values in [-1, 1]: the error grows with k.
    rtol: 1e-4,
    atol: 1e-6 * Math.max(1, s.k),
  };
}

/** A gradient case: batch 0 means plain 2-D operands (the kernel's own shape record). */
export type MatmulGradCase = MatmulShape;

export const GRAD_CASES: MatmulGradCase[] = [
  { batch: 0, m: 3, n: 4, k: 5, transA: false, transB: false },
  { batch: 0, m: 4, n: 3, k: 2, transA: true, transB: false },
  { batch: 0, m: 2, n: 5, k: 3, transA: false, transB: true },
  { batch: 2, m: 3, n: 2, k: 4, transA: true, transB: true },
  { batch: 2, m: 3, n: 4, k: 2, transA: false, transB: false },
];

export const gradName = (c: MatmulGradCase) =>
  `${c.batch ? `batch ${c.batch}, ` : ''}${c.m}x${c.n}x${c.k}${c.transA ? ' Aᵀ' : ''}${c.transB ? ' Bᵀ' : ''}`;

export function operandShapes(c: MatmulGradCase): { a: number[]; b: number[]; out: number[] } {
  const pre = c.batch ? [c.batch] : [];
  return {
    a: [...pre, ...(c.transA ? [c.k, c.m] : [c.m, c.k])],
    b: [...pre, ...(c.transB ? [c.n, c.k] : [c.k, c.n])],
    out: [...pre, c.m, c.n],
  };
}

/** sum(matmul(a, b) ⊙ w): a scalar whose gradient reaches both operands through the VJP. */
export const matmulLoss = (transA: boolean, transB: boolean) => (a: Tensor, b: Tensor, w: Tensor) =>
  sum(mul(matmul(a, b, { transA, transB }), w));

/** The VJP through the tape (dA, dB of matmulLoss), as a check for the reference harness. */
export function matmulVjpCheck(c: MatmulGradCase): OpCheck {
  const sh = operandShapes(c);
  return {
    name: `matmul VJP ${gradName(c)} (dA, dB)`,
    inputs: [{ shape: sh.a }, { shape: sh.b }, { shape: sh.out }],
    run: ([a, b, w]) => {
      const tape = new Tape();
      const out = tape.record(() => matmulLoss(c.transA, c.transB)(a, b, w));
      return tape.gradient(out, [a, b]);
    },
    // dA sums n products, dB sums m (values in [-1, 1]).
    rtol: 1e-4,
    atol: [1e-5 * Math.max(1, c.n), 1e-5 * Math.max(1, c.m)],
  };
}

export const gradSeed = (c: MatmulGradCase) => c.m * 17 + c.n * 5 + c.k;

const shape = (batch: number, m: number, n: number, k: number, transA = false, transB = false): MatmulShape => ({
  batch,
  m,
  n,
  k,
  transA,
  transB,
});

// Odd sizes in all four transpose combinations (separate load paths), a batched shape, and one that
// crosses the register tile's edges; the VJP plain and batched with both operands transposed.
const SHAPES_IN_BOTH: MatmulShape[] = [
  ...TRANSPOSES.map(([a, b]) => shape(1, 7, 13, 5, a, b)),
  shape(3, 5, 11, 7),
  shape(1, 33, 65, 17),
];

// ---- Linear: x·wᵀ + bias, then ReLU ---------------------------------------------------------------

/** What a linear check computes besides x·wᵀ: a bias, and the ReLU. */
export interface LinearEpilogue {
  bias: boolean;
  relu: boolean;
}

/** "rows x in → out", then "+ bias" and "ReLU" where the check has them. */
export const linearName = (s: LinearShape, e: LinearEpilogue) =>
  `${s.rows}x${s.inFeatures} → ${s.outFeatures}${e.bias ? ' + bias' : ''}${e.relu ? ', ReLU' : ''}`;

export const linearSeed = (s: LinearShape, e: LinearEpilogue) =>
  s.rows * 10007 + s.inFeatures * 101 + s.outFeatures + (e.bias ? 3 : 0) + (e.relu ? 5 : 0);

/** Inputs x [rows, in], w [out, in] and, with a bias, bias [out]. */
const linearInputs = (s: LinearShape, e: LinearEpilogue) => [
  { shape: [s.rows, s.inFeatures] },
  { shape: [s.outFeatures, s.inFeatures] },
  ...(e.bias ? [{ shape: [s.outFeatures] }] : []),
];

/** The backend's linear as a check for the reference harness; on WebGPU, optionally one matmul kernel variant of it. */
export function linearCheck(s: LinearShape, e: LinearEpilogue, variant?: MatmulVariant): OpCheck {
  return {
    name: `linear ${linearName(s, e)}${variant ? ` (${variant} kernel)` : ''}`,
    inputs: linearInputs(s, e),
    run: ([x, w, bias], backend) => {
      const out =
        variant && backend instanceof WebGPUBackend
          ? matmulWith(backend.gpu, x.storage as GpuBuffer, w.storage as GpuBuffer, linearMatmulShape(s), variant, {
              bias: bias ? (bias.storage as GpuBuffer) : null,
              relu: e.relu,
            })
          : backend.linear(x.storage, w.storage, bias?.storage ?? null, s, e.relu);
      return Tensor.fromStorage(backend, out, [s.rows, s.outFeatures], 'float32');
    },
    // Float32 sums of `in` products of values in [-1, 1], plus the bias.
    rtol: 1e-4,
    atol: 1e-6 * Math.max(1, s.inFeatures),
  };
}

/** sum(linear(x, w, bias) ⊙ c): a scalar whose gradient reaches x, w and the bias through the VJP. */
export const linearLoss =
  (e: LinearEpilogue) =>
  (...inputs: Tensor[]): Tensor => {
    const [x, w] = inputs;
    const bias = e.bias ? inputs[2] : null;
    const c = inputs[inputs.length - 1];
    return sum(mul(linear(x, w, bias, { relu: e.relu }), c));
  };

/** The VJP through the tape (dx, dw and dbias of linearLoss), as a check for the reference harness. */
export function linearVjpCheck(s: LinearShape, e: LinearEpilogue): OpCheck {
  return {
    name: `linear VJP ${linearName(s, e)} (dx, dw${e.bias ? ', dbias' : ''})`,
    inputs: [...linearInputs(s, e), { shape: [s.rows, s.outFeatures] }],
    run: (inputs) => {
      const tape = new Tape();
      const params = inputs.slice(0, -1);
      const out = tape.record(() => linearLoss(e)(...inputs));
      return tape.gradient(out, params);
    },
    // dx sums `out` products, dw and dbias sum `rows` (values in [-1, 1]).
    rtol: 1e-4,
    atol: [1e-5 * Math.max(1, s.outFeatures), 1e-5 * Math.max(1, s.rows), 1e-5 * Math.max(1, s.rows)],
  };
}

const LINEAR_IN_BOTH: [LinearShape, LinearEpilogue][] = [
  [
    { rows: 7, inFeatures: 29, outFeatures: 13 },
    { bias: true, relu: true },
  ],
  [
    { rows: 5, inFeatures: 12, outFeatures: 10 },
    { bias: true, relu: false },
  ],
];

export const checks: Check[] = [
  ...SHAPES_IN_BOTH.map((s) => opCheck(matmulCheck(s), matmulSeed(s))),
  ...[GRAD_CASES[0], GRAD_CASES[3]].map((c) => opCheck(matmulVjpCheck(c), gradSeed(c))),
  ...LINEAR_IN_BOTH.map(([s, e]) => opCheck(linearCheck(s, e), linearSeed(s, e))),
  opCheck(linearVjpCheck(...LINEAR_IN_BOTH[0]), linearSeed(...LINEAR_IN_BOTH[0])),
];
