// Shared test tools: the WebGPU backend (one per test process, on the real adapter: lavapipe in CI),
// the CPU reference, closeness checks, and a central finite-difference gradient check in float64.

import * as assert from 'uvu/assert';
import { type Backend, CpuBackend, Random, Tape, type Tensor, setBackend, tensor, tidy } from '../engine/index.js';
import { WebGPUBackend, useWebGPU } from '../kernels/index.js';

let gpuBackend: Promise<WebGPUBackend> | null = null;

/** The WebGPU backend. A missing adapter fails the test loudly: CI must run these for real. */
export function webgpu(): Promise<WebGPUBackend> {
  gpuBackend ??= useWebGPU();
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
export function put(backend: Backend, values: Float32Array | Float64Array | Int32Array, shape: readonly number[]): Tensor {
  return on(backend, () => tensor(values, shape, values instanceof Int32Array ? 'int32' : 'float32'));
}

export function randomArray(rng: Random, size: number, lo = -1, hi = 1): Float64Array {
  return rng.fillUniform(new Float64Array(size), lo, hi) as Float64Array;
}

/** |a − b| ≤ atol + rtol·|b| elementwise, with the worst element named on failure. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-4, atol = 1e-5): void {
  assert.is(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (Number.isNaN(a) !== Number.isNaN(e) || excess > worstExcess) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) assert.unreachable(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
}

/** Maximum |x| of an array, to scale tolerances for sums of many terms. */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

/**
 * Central finite differences on the float64 CPU backend: for a scalar function f of the inputs, checks
 * the tape's gradient against (f(x + h·e_i) − f(x − h·e_i)) / 2h for every element of every input
 * (or a random sample of `samples` elements per input when given).
 */
export async function gradCheck(
  f: (...inputs: Tensor[]) => Tensor,
  inputs: { values: Float64Array | Int32Array; shape: number[]; differentiable?: boolean }[],
  what: string,
  options: { h?: number; rtol?: number; atol?: number; samples?: number; seed?: number } = {},
): Promise<void> {
  const h = options.h ?? 1e-6;
  const rtol = options.rtol ?? 1e-5;
  const atol = options.atol ?? 1e-7;
  const rng = new Random(options.seed ?? 7);
  setBackend(cpu64);
  const make = (values: Float64Array | Int32Array, i: number) => tensor(values, inputs[i].shape, values instanceof Int32Array ? 'int32' : 'float32');
  const evaluate = async (values: (Float64Array | Int32Array)[]) => {
    const out = tidy(() => f(...values.map(make)));
    const v = await out.item();
    out.dispose();
    return v;
  };
  const base = inputs.map((inp) => inp.values);
  const analytic = tidy(() => {
    const ts = base.map(make);
    const tape = new Tape();
    const out = tape.record(() => f(...ts));
    const wrt = ts.filter((_, i) => inputs[i].differentiable !== false);
    return tape.gradient(out, wrt);
  });
  let k = 0;
  for (let i = 0; i < inputs.length; i++) {
    if (inputs[i].differentiable === false) continue;
    const g = (await analytic[k++].data()) as Float64Array;
    const n = base[i].length;
    const indices = options.samples && options.samples < n ? Array.from({ length: options.samples }, () => rng.int(n)) : Array.from({ length: n }, (_, j) => j);
    for (const j of indices) {
      const plus = base.map((v) => v.slice());
      const minus = base.map((v) => v.slice());
      plus[i][j] += h;
      minus[i][j] -= h;
      const numeric = ((await evaluate(plus)) - (await evaluate(minus))) / (2 * h);
      const err = Math.abs(numeric - g[j]);
      if (err > atol + rtol * Math.abs(numeric)) {
        assert.unreachable(`${what}: d/d input${i}[${j}] analytic ${g[j]} vs finite difference ${numeric}`);
      }
    }
  }
  for (const t of analytic) t.dispose();
}
