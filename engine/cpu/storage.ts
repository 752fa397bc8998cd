// CPU storage: a typed array. Floats are Float32Array, or Float64Array in the float64 reference mode
// used by finite-difference gradient checks.

import type { TypedArray } from '../backend.js';

export type FloatArray = Float32Array | Float64Array;

export class CpuStorage {
  constructor(public data: TypedArray) {}
}

export function arr(s: object): TypedArray {
  return (s as CpuStorage).data;
}

export function floats(s: object): FloatArray {
  return (s as CpuStorage).data as FloatArray;
}

export function ints(s: object): Int32Array {
  return (s as CpuStorage).data as Int32Array;
}
