// The op harness: runs one op on a backend under test and on the CPU reference with the very same
// random inputs, compares every output, and returns a report (max error, where, shapes, seed) rather
// than throwing, so a test framework, a browser page or a script can decide what to do with it.

import type { Backend, DType, TypedArray } from '../backend.js';
import { getBackend, hasBackend, setBackend } from '../context.js';
import { CpuBackend } from '../cpu/backend.js';
import { tensor } from '../ops/creation.js';
import { Random } from '../random.js';
import { tidy } from '../scope.js';
import { sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { type Comparison, type Tolerance, compareValues, describeComparison, unravelIndex } from './compare.js';

/** Shape used for an input that names none: odd sizes, so kernels' edge handling is exercised. */
export const DEFAULT_INPUT_SHAPE: readonly number[] = [7, 13];

/** One input of an op check. Values are drawn uniformly from [lo, hi) (integers for int32) unless given. */
export interface OpInput {
  /** Default DEFAULT_INPUT_SHAPE ([7, 13]). */
  shape?: readonly number[];
  /** Default 'float32'. */
  dtype?: DType;
  /** Lower bound of the random values. Default −1 (float32) or 0 (int32). */
  lo?: number;
  /** Upper bound (exclusive). Default 1 (float32) or 10 (int32). */
  hi?: number;
  /** Fixed values (row-major, length = product of shape) instead of random ones. */
  values?: ArrayLike<number>;
}

/** An op to check: its inputs and how to compute its outputs from input tensors on a given backend. */
export interface OpCheck {
  /** Name used in the report, e.g. "conv2d 3x3 stride 2". */
  name: string;
  inputs: readonly OpInput[];
  /**
   * Computes the op's output(s). Called once on the backend under test and once on the reference, with
   * that backend selected for creation ops and the inputs already uploaded to it. Runs inside tidy:
   * intermediates are freed, the returned tensors are read back and then disposed by the harness.
   * A backend-level kernel is wrapped with Tensor.fromStorage(backend, storage, shape, dtype).
   */
  run(inputs: Tensor[], backend: Backend): Tensor | Tensor[];
  /** Relative tolerance (default 1e-4); one per output, or one for all. */
  rtol?: number | readonly number[];
  /** Absolute tolerance in the outputs' units (default 1e-5); one per output, or one for all. */
  atol?: number | readonly number[];
}

/** How one output compared. */
export interface OutputReport {
  /** Position among the op's outputs. */
  output: number;
  shape: number[];
  dtype: DType;
  /** Shape or dtype of the backend's output differs from the reference's: "shape [3,4] vs [3,5]". */
  mismatch?: string;
  comparison: Comparison;
  /** Multi-index of the worst element in `shape` (null when the output is empty). */
  where: number[] | null;
}

/** The result of checkOp. Never thrown: `ok` says whether every output agreed. */
export interface OpReport {
  name: string;
  ok: boolean;
  /** Backend under test and reference, by name ('webgpu', 'cpu'). */
  backend: string;
  reference: string;
  /** Seed of the random inputs: rerun with it to reproduce a failure. */
  seed: number;
  inputShapes: number[][];
  outputs: OutputReport[];
  /** Set when the op threw on either backend (then outputs is empty). */
  error?: string;
  /** Largest absolute error over all outputs. */
  maxAbsError: number;
  /** The reference's outputs (float64 where the reference stores float64), for further checks. */
  expected: TypedArray[];
  /** The backend's outputs. */
  actual: TypedArray[];
}

/** Seed and reference backend of checkOp. */
export interface CheckOpOptions {
  /** Seed of the random inputs. Default 1. */
  seed?: number;
  /** The reference backend. Default a float64 CpuBackend (inputs are float32-rounded first, so both see the same numbers). */
  reference?: Backend;
}

/** Draws the inputs on the host: float32-rounded floats, or integers. */
export function makeInputs(
  inputs: readonly OpInput[],
  seed: number,
): { values: Float64Array | Int32Array; shape: number[]; dtype: DType }[] {
  const rng = new Random(seed);
  return inputs.map((inp) => {
    const shape = [...(inp.shape ?? DEFAULT_INPUT_SHAPE)];
    const dtype = inp.dtype ?? 'float32';
    const n = sizeOf(shape);
    if (inp.values && inp.values.length !== n)
      throw new Error(`checkOp: input of shape [${shape}] needs ${n} values, got ${inp.values.length}`);
    if (dtype === 'int32') {
      const lo = inp.lo ?? 0;
      const hi = inp.hi ?? 10;
      return {
        values: inp.values ? Int32Array.from(inp.values) : Int32Array.from({ length: n }, () => lo + rng.int(hi - lo)),
        shape,
        dtype,
      };
    }
    const values = inp.values
      ? Float64Array.from(inp.values)
      : (rng.fillUniform(new Float64Array(n), inp.lo ?? -1, inp.hi ?? 1) as Float64Array);
    return { values: Float64Array.from(Float32Array.from(values)), shape, dtype };
  });
}

async function runOn(backend: Backend, check: OpCheck, inputs: ReturnType<typeof makeInputs>) {
  const previous = hasBackend() ? getBackend() : null;
  setBackend(backend);
  try {
    const outs = tidy(() => {
      const ts = inputs.map((inp) => tensor(inp.values, inp.shape, inp.dtype));
      const result = check.run(ts, backend);
      return Array.isArray(result) ? result : [result];
    });
    const results = [];
    for (const t of outs) {
      results.push({ data: await t.data(), shape: [...t.shape], dtype: t.dtype });
      t.dispose();
    }
    return results;
  } finally {
    if (previous) setBackend(previous);
  }
}

const pick = (v: number | readonly number[] | undefined, i: number, fallback: number) =>
  v === undefined ? fallback : typeof v === 'number' ? v : (v[i] ?? fallback);

/** Runs `check` on `backend` and on the reference with the same random inputs and compares each output. */
export async function checkOp(backend: Backend, check: OpCheck, options: CheckOpOptions = {}): Promise<OpReport> {
  const seed = options.seed ?? 1;
  const reference = options.reference ?? new CpuBackend({ float64: true });
  const inputs = makeInputs(check.inputs, seed);
  const report: OpReport = {
    name: check.name,
    ok: false,
    backend: backend.name,
    reference: reference.name,
    seed,
    inputShapes: inputs.map((i) => i.shape),
    outputs: [],
    maxAbsError: 0,
    expected: [],
    actual: [],
  };
  let expected: Awaited<ReturnType<typeof runOn>>;
  let actual: Awaited<ReturnType<typeof runOn>>;
  try {
    expected = await runOn(reference, check, inputs);
    actual = await runOn(backend, check, inputs);
  } catch (e) {
    report.error = e instanceof Error ? e.message : String(e);
    return report;
  }
  if (actual.length !== expected.length) {
    report.error = `${actual.length} outputs on ${backend.name}, ${expected.length} on the reference`;
    return report;
  }
  report.ok = true;
  expected.forEach((e, i) => {
    const a = actual[i];
    const comparison = compareValues(a.data, e.data, {
      rtol: pick(check.rtol, i, 1e-4),
      atol: pick(check.atol, i, 1e-5),
    });
    const mismatch =
      a.shape.join(',') !== e.shape.join(',')
        ? `shape [${a.shape}] vs [${e.shape}]`
        : a.dtype !== e.dtype
          ? `dtype ${a.dtype} vs ${e.dtype}`
          : undefined;
    const where = comparison.worst ? unravelIndex(comparison.worst.index, e.shape) : null;
    report.outputs.push({ output: i, shape: e.shape, dtype: e.dtype, mismatch, comparison, where });
    report.ok &&= comparison.ok && !mismatch;
    report.maxAbsError = Math.max(report.maxAbsError, comparison.maxAbsError);
    report.expected.push(e.data);
    report.actual.push(a.data);
  });
  return report;
}

/** A readable summary: one line per output, the failing ones naming the worst element and the seed. */
export function formatReport(r: OpReport): string {
  const head = `${r.name} on ${r.backend} vs ${r.reference} (inputs ${r.inputShapes.map((s) => `[${s}]`).join(' ')}, seed ${r.seed})`;
  if (r.error) return `${head}: error: ${r.error}`;
  const lines = r.outputs.map(
    (o) => `  output ${o.output} [${o.shape}]: ${o.mismatch ?? describeComparison(o.comparison, o.shape)}`,
  );
  return `${head}: ${r.ok ? 'ok' : 'FAILED'}, max abs error ${r.maxAbsError.toExponential(2)}\n${lines.join('\n')}`;
}

export type { Comparison, Tolerance };
