// Shape arithmetic shared by the ops and both backends: sizes, strides, NumPy broadcasting.

/** Dimensions of a tensor, outermost first (row-major); [] is a 0-d scalar. */
export type Shape = readonly number[];

/** Number of elements of a shape (1 for []). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C order) strides: the last axis is contiguous. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** A shape as text, e.g. "[3, 5]". */
export function shapeString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Whether two shapes have the same dimensions. */
export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Throws a clear error naming `what` unless every dimension is a non-negative integer. */
export function checkShape(shape: Shape, what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0)
      throw new Error(`${what}: invalid shape ${shapeString(shape)} (dimensions must be non-negative integers)`);
  }
}

/** NumPy broadcasting: align from the right; each pair of dimensions must match or one must be 1. */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(
        `${op}: shapes ${shapeString(a)} and ${shapeString(b)} cannot be broadcast together (axis ${i}: ${da} vs ${db})`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides that read an input of shape `inShape` at the coordinates of a broadcast output of shape
 * `outShape`: 0 along axes where the input is broadcast (missing or of size 1).
 */
export function broadcastStrides(inShape: Shape, outShape: Shape): number[] {
  const inStrides = stridesOf(inShape);
  const offset = outShape.length - inShape.length;
  return outShape.map((_d, i) => {
    const j = i - offset;
    if (j < 0 || inShape[j] === 1) return 0;
    return inStrides[j];
  });
}

/** The output axes along which a tensor of `inShape` was broadcast to `outShape` (to sum a gradient back). */
export function broadcastAxes(inShape: Shape, outShape: Shape): number[] {
  const offset = outShape.length - inShape.length;
  const axes: number[] = [];
  for (let i = 0; i < outShape.length; i++) {
    const j = i - offset;
    if (j < 0 || (inShape[j] === 1 && outShape[i] !== 1)) axes.push(i);
  }
  return axes;
}

/** Normalises axis arguments (negative counts from the end), sorted and de-duplicated. */
export function normalizeAxes(axes: number | readonly number[] | undefined, rank: number, op: string): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = new Set<number>();
  for (const a of list) {
    if (!Number.isInteger(a) || a < -rank || a >= rank)
      throw new Error(`${op}: axis ${a} is out of range for a tensor of rank ${rank}`);
    out.add(a < 0 ? a + rank : a);
  }
  return [...out].sort((x, y) => x - y);
}
