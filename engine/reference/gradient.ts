// The finite-difference VJP check: the tape's gradient of a scalar function against central
// differences (f(x + h·e_i) − f(x − h·e_i)) / 2h, on a float64 CPU backend so that h can be small.
// Returns a report instead of throwing.

import type { Backend } from '../backend.js';
import { getBackend, hasBackend, setBackend } from '../context.js';
import { CpuBackend } from '../cpu/backend.js';
import { tensor } from '../ops/creation.js';
import { Random } from '../random.js';
import { tidy } from '../scope.js';
import { Tape } from '../tape.js';
import type { Tensor } from '../tensor.js';

/** One input of a gradient check: its values and shape; int32 inputs (labels) and those marked
 *  `differentiable: false` are passed to f but not differentiated. */
export interface GradientInput {
  values: Float64Array | Int32Array;
  shape: readonly number[];
  differentiable?: boolean;
}

/** Step, tolerances and sampling of checkGradient. */
export interface GradientCheckOptions {
  /** Finite-difference step, in the inputs' units. Default 1e-6. */
  h?: number;
  /** Relative tolerance against |numeric|. Default 1e-5. */
  rtol?: number;
  /** Absolute tolerance. Default 1e-7. */
  atol?: number;
  /** Check this many random elements per input instead of all of them. */
  samples?: number;
  /** Seed that picks the sampled elements. Default 7. */
  seed?: number;
  /** Backend to run on; default a float64 CpuBackend (float32 is too coarse for finite differences). */
  backend?: Backend;
}

/** The element whose analytic and numeric derivatives disagree the most. */
export interface GradientMismatch {
  /** Index of the input among f's arguments. */
  input: number;
  /** Flat index into that input. */
  index: number;
  analytic: number;
  numeric: number;
}

/** The result of checkGradient; `ok` when every checked derivative is within atol + rtol·|numeric|. */
export interface GradientReport {
  ok: boolean;
  /** Derivatives compared. */
  checked: number;
  /** How many exceeded the tolerance. */
  failures: number;
  /** Largest |analytic − numeric|. */
  maxAbsError: number;
  /** The worst element (largest excess over tolerance), null if nothing was checked. */
  worst: GradientMismatch | null;
  /** Set when f threw. */
  error?: string;
}

/** Checks the tape's gradient of scalar f w.r.t. each differentiable input against central differences. */
export async function checkGradient(
  f: (...inputs: Tensor[]) => Tensor,
  inputs: readonly GradientInput[],
  options: GradientCheckOptions = {},
): Promise<GradientReport> {
  const h = options.h ?? 1e-6;
  const rtol = options.rtol ?? 1e-5;
  const atol = options.atol ?? 1e-7;
  const rng = new Random(options.seed ?? 7);
  const backend = options.backend ?? new CpuBackend({ float64: true });
  const report: GradientReport = { ok: true, checked: 0, failures: 0, maxAbsError: 0, worst: null };
  const previous = hasBackend() ? getBackend() : null;
  setBackend(backend);
  const make = (values: Float64Array | Int32Array, i: number) =>
    tensor(values, inputs[i].shape, values instanceof Int32Array ? 'int32' : 'float32');
  const evaluate = async (values: (Float64Array | Int32Array)[]) => {
    const out = tidy(() => f(...values.map(make)));
    const v = await out.item();
    out.dispose();
    return v;
  };
  const differentiable = (i: number) => inputs[i].differentiable !== false && !(inputs[i].values instanceof Int32Array);
  try {
    const base = inputs.map((inp) => inp.values);
    const analytic = tidy(() => {
      const ts = base.map(make);
      const tape = new Tape();
      const out = tape.record(() => f(...ts));
      return tape.gradient(
        out,
        ts.filter((_, i) => differentiable(i)),
      );
    });
    let k = 0;
    let worstExcess = -Infinity;
    for (let i = 0; i < inputs.length; i++) {
      if (!differentiable(i)) continue;
      const g = await analytic[k++].data();
      const n = base[i].length;
      const indices =
        options.samples && options.samples < n
          ? Array.from({ length: options.samples }, () => rng.int(n))
          : Array.from({ length: n }, (_, j) => j);
      for (const j of indices) {
        const plus = base.map((v) => v.slice());
        const minus = base.map((v) => v.slice());
        plus[i][j] += h;
        minus[i][j] -= h;
        const numeric = ((await evaluate(plus)) - (await evaluate(minus))) / (2 * h);
        const err = Math.abs(numeric - g[j]);
        const excess = (Number.isNaN(err) ? Infinity : err) - (atol + rtol * Math.abs(numeric));
        report.checked++;
        report.maxAbsError = Math.max(report.maxAbsError, Number.isNaN(err) ? Infinity : err);
        if (excess > 0) report.failures++;
        if (excess > worstExcess) {
          worstExcess = excess;
          report.worst = { input: i, index: j, analytic: g[j], numeric };
        }
      }
    }
    for (const t of analytic) t.dispose();
  } catch (e) {
    report.error = e instanceof Error ? e.message : String(e);
  } finally {
    if (previous) setBackend(previous);
  }
  report.ok = !report.error && report.failures === 0;
  return report;
}

/** One line: "ok, 24 derivatives" or "3 of 24 derivatives off; worst d/d input1[5]: analytic … vs finite difference …". */
export function formatGradientReport(r: GradientReport): string {
  if (r.error) return `error: ${r.error}`;
  if (r.ok) return `ok, ${r.checked} derivatives, max abs error ${r.maxAbsError.toExponential(2)}`;
  const w = r.worst!;
  return `${r.failures} of ${r.checked} derivatives off; worst d/d input${w.input}[${w.index}]: analytic ${w.analytic} vs finite difference ${w.numeric}`;
}
