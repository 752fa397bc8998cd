// Tensor creation. Random tensors are drawn on the host from a seeded Random and uploaded, so the same
// seed gives the same numbers on every backend.

import type { DType, TypedArray } from '../backend.js';
import { getBackend } from '../context.js';
import type { Random } from '../random.js';
import { type Shape, checkShape, shapeString, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { wrap } from './util.js';

type NestedNumbers = number | readonly NestedNumbers[];

function inferShape(values: NestedNumbers): number[] {
  const shape: number[] = [];
  let v: NestedNumbers = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = (v as readonly NestedNumbers[])[0];
  }
  return shape;
}

/** A tensor from a typed array, a flat array with a shape, or nested arrays. */
export function tensor(values: TypedArray | NestedNumbers, shape?: Shape, dtype?: DType): Tensor {
  const backend = getBackend();
  const dt: DType = dtype ?? (values instanceof Int32Array ? 'int32' : 'float32');
  let flat: ArrayLike<number>;
  let finalShape: number[];
  if (ArrayBuffer.isView(values)) {
    flat = values;
    finalShape = shape ? [...shape] : [values.length];
  } else if (typeof values === 'number') {
    flat = [values];
    finalShape = shape ? [...shape] : [];
  } else {
    flat = (values as number[]).flat(Infinity as 1) as number[];
    finalShape = shape ? [...shape] : inferShape(values);
  }
  checkShape(finalShape, 'tensor');
  if (sizeOf(finalShape) !== flat.length) {
    throw new Error(
      `tensor: ${flat.length} values do not fill shape ${shapeString(finalShape)} (${sizeOf(finalShape)} elements)`,
    );
  }
  if (dt === 'int32' && !(flat instanceof Int32Array)) {
    // Int32Array.from would truncate 2.5 to 2 and wrap 2^31 silently (a label 2.5 would become class 2).
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31)
        throw new Error(`tensor: int32 value ${v} at index ${i} is not a 32-bit integer`);
    }
  }
  const data =
    dt === 'int32'
      ? Int32Array.from(flat)
      : backend.floatPrecision === 'float64'
        ? Float64Array.from(flat)
        : Float32Array.from(flat);
  return wrap(backend, backend.upload(data, dt), finalShape, dt);
}

/** A 0-d tensor holding `value`. */
export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  return tensor([value], [], dtype);
}

/** A tensor of `shape` filled with `value`. */
export function full(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
  checkShape(shape, 'full');
  const backend = getBackend();
  return wrap(backend, backend.fill(sizeOf(shape), value, dtype), shape, dtype);
}

/** A tensor of `shape` filled with 0. */
export function zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
  return full(shape, 0, dtype);
}

/** A tensor of `shape` filled with 1. */
export function ones(shape: Shape, dtype: DType = 'float32'): Tensor {
  return full(shape, 1, dtype);
}

/** Same shape and dtype, on the same backend as t. */
export function fullLike(t: Tensor, value: number): Tensor {
  return wrap(t.backend, t.backend.fill(t.size, value, t.dtype), t.shape, t.dtype);
}

/** Zeros of t's shape and dtype, on t's backend. */
export function zerosLike(t: Tensor): Tensor {
  return fullLike(t, 0);
}

/** Ones of t's shape and dtype, on t's backend. */
export function onesLike(t: Tensor): Tensor {
  return fullLike(t, 1);
}

/** Uniform samples in [lo, hi). */
export function rand(shape: Shape, rng: Random, lo = 0, hi = 1): Tensor {
  checkShape(shape, 'rand');
  return tensor(rng.fillUniform(new Float64Array(sizeOf(shape)), lo, hi), shape, 'float32');
}

/** Normal samples. */
export function randn(shape: Shape, rng: Random, mean = 0, std = 1): Tensor {
  checkShape(shape, 'randn');
  return tensor(rng.fillNormal(new Float64Array(sizeOf(shape)), mean, std), shape, 'float32');
}
