// Elementwise closeness of two arrays, as a report rather than an exception: the tolerance rule every
// kernel check in yopo uses, |actual − expected| ≤ atol + rtol·|expected|, and the worst element.

/** Tolerances of a comparison: relative (a fraction of |expected|) and absolute (in the values' units). */
export interface Tolerance {
  /** Relative tolerance, a fraction of |expected|. Default 1e-4 (float32 agreement). */
  rtol?: number;
  /** Absolute tolerance, in the units of the values: covers results near zero. Default 1e-5. */
  atol?: number;
}

/** The element that exceeds its tolerance by the most (or, when all pass, the largest absolute error). */
export interface WorstElement {
  /** Flat row-major index into the arrays. */
  index: number;
  actual: number;
  expected: number;
  /** |actual − expected|. */
  absError: number;
}

/** What `compareValues` found. `ok` is false on a length mismatch, a NaN on one side only, or any element over tolerance. */
export interface Comparison {
  ok: boolean;
  /** Number of elements compared (the expected array's length). */
  count: number;
  /** How many elements exceed atol + rtol·|expected| (NaN against a number counts). */
  mismatches: number;
  /** Largest |actual − expected| over all elements (Infinity if a NaN is on one side only). */
  maxAbsError: number;
  /** Largest |actual − expected| / |expected| over elements with expected ≠ 0. */
  maxRelError: number;
  /** The worst element, null for empty arrays. */
  worst: WorstElement | null;
  rtol: number;
  atol: number;
  /** Set when the lengths differ: "length 12 vs 13". */
  lengthMismatch?: string;
}

/** Compares `actual` with `expected` elementwise under |a − e| ≤ atol + rtol·|e|; NaN matches only NaN. */
export function compareValues(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: Tolerance = {},
): Comparison {
  const rtol = tolerance.rtol ?? 1e-4;
  const atol = tolerance.atol ?? 1e-5;
  const report: Comparison = {
    ok: true,
    count: expected.length,
    mismatches: 0,
    maxAbsError: 0,
    maxRelError: 0,
    worst: null,
    rtol,
    atol,
  };
  if (actual.length !== expected.length) {
    return { ...report, ok: false, lengthMismatch: `length ${actual.length} vs ${expected.length}` };
  }
  let worstExcess = -Infinity;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const bothNaN = Number.isNaN(a) && Number.isNaN(e);
    const err = bothNaN ? 0 : a === e ? 0 : Number.isNaN(a) || Number.isNaN(e) ? Infinity : Math.abs(a - e);
    const excess = err - (atol + rtol * Math.abs(e));
    if (excess > 0) report.mismatches++;
    report.maxAbsError = Math.max(report.maxAbsError, err);
    if (e !== 0 && Number.isFinite(e)) report.maxRelError = Math.max(report.maxRelError, err / Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      report.worst = { index: i, actual: a, expected: e, absError: err };
    }
  }
  report.ok = report.mismatches === 0;
  return report;
}

/** Row-major multi-index of flat index `i` in `shape` (e.g. 14 in [3, 5] → [2, 4]). */
export function unravelIndex(i: number, shape: readonly number[]): number[] {
  const where = new Array<number>(shape.length);
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    where[axis] = shape[axis] > 0 ? i % shape[axis] : 0;
    i = shape[axis] > 0 ? Math.floor(i / shape[axis]) : 0;
  }
  return where;
}

/** One line naming the worst element, e.g. "3 of 91 elements off; worst [2,4]: 0.51 vs 0.5 (abs error 0.01, rtol 1e-4, atol 1e-5)". */
export function describeComparison(c: Comparison, shape?: readonly number[]): string {
  if (c.lengthMismatch) return c.lengthMismatch;
  if (!c.worst) return `0 elements (rtol ${c.rtol}, atol ${c.atol})`;
  const at = shape ? `[${unravelIndex(c.worst.index, shape)}]` : `element ${c.worst.index}`;
  const head = c.ok
    ? `all ${c.count} elements within tolerance; nearest to its tolerance`
    : `${c.mismatches} of ${c.count} elements off; worst`;
  return `${head} ${at}: ${c.worst.actual} vs ${c.worst.expected} (abs error ${c.worst.absError.toExponential(2)}, rtol ${c.rtol}, atol ${c.atol})`;
}
