// Shared test tools: the WebGPU backend (one per test process, on the real adapter: lavapipe in CI),
// the CPU reference, and thin uvu wrappers over yopo/reference (the op harness, closeness checks, the
// finite-difference gradient check) that fail a test with the harness's report.

import * as assert from 'uvu/assert';
import { type Backend, CpuBackend, type Random, type Tensor, setBackend, tensor } from '../engine/index.js';
import {
  type CheckOpOptions,
  type GradientCheckOptions,
  type GradientInput,
  type OpCheck,
  type OpReport,
  checkGradient,
  checkOp,
  compareValues,
  describeComparison,
  formatGradientReport,
  formatReport,
} from '../engine/reference/index.js';
import { type WebGPUBackend, useWebGPU } from '../kernels/index.js';

let gpuBackend: Promise<WebGPUBackend> | null = null;

/** The WebGPU backend. A missing adapter fails the test loudly: CI must run these for real. Its
 *  program keys are checked (Gpu.checkProgramKeys): a key that misses what its WGSL depends on fails. */
export function webgpu(): Promise<WebGPUBackend> {
  gpuBackend ??= useWebGPU().then((b) => {
    b.gpu.checkProgramKeys = true;
    return b;
  });
  return gpuBackend;
}

export const cpu = new CpuBackend();
export const cpu64 = new CpuBackend({ float64: true });

/** Runs fn with `backend` selected for creation ops. */
export function on<T>(backend: Backend, fn: () => T): T {
  setBackend(backend);
  return fn();
}

/** Uploads the same host values to a backend. */
export function put(
  backend: Backend,
  values: Float32Array | Float64Array | Int32Array,
  shape: readonly number[],
): Tensor {
  return on(backend, () => tensor(values, shape, values instanceof Int32Array ? 'int32' : 'float32'));
}

export function randomArray(rng: Random, size: number, lo = -1, hi = 1): Float64Array {
  return rng.fillUniform(new Float64Array(size), lo, hi) as Float64Array;
}

/** |a − b| ≤ atol + rtol·|b| elementwise (the reference harness's rule), with the worst element named on failure. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  rtol = 1e-4,
  atol = 1e-5,
): void {
  const c = compareValues(actual, expected, { rtol, atol });
  if (!c.ok) assert.unreachable(`${what}: ${describeComparison(c)}`);
}

/** Runs an op check on `backend` against the CPU reference (yopo/reference's harness) and fails with its report. */
export async function assertOp(backend: Backend, check: OpCheck, options: CheckOpOptions = {}): Promise<OpReport> {
  const report = await checkOp(backend, check, options);
  if (!report.ok) assert.unreachable(formatReport(report));
  return report;
}

/** Maximum |x| of an array, to scale tolerances for sums of many terms. */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

/** The reference's finite-difference VJP check (float64 CPU), failing with its report. */
export async function gradCheck(
  f: (...inputs: Tensor[]) => Tensor,
  inputs: GradientInput[],
  what: string,
  options: GradientCheckOptions = {},
): Promise<void> {
  const report = await checkGradient(f, inputs, { backend: cpu64, ...options });
  if (!report.ok) assert.unreachable(`${what}: ${formatGradientReport(report)}`);
}
