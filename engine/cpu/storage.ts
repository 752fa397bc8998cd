// CPU storage: a typed array. Floats are Float32Array, or Float64Array in the float64 reference mode
// used by finite-difference gradient checks.

import type { TypedArray } from '../backend.js';

/** Float storage of the CPU backend: float32, or float64 on the reference. */
export type FloatArray = Float32Array | Float64Array;

/** The CPU backend's Storage: a typed array. */
export class CpuStorage {
  constructor(public data: TypedArray) {}
}

/** The typed array of a CPU storage handle. */
export function arr(s: object): TypedArray {
  return (s as CpuStorage).data;
}

/** The float array of a CPU storage handle. */
export function floats(s: object): FloatArray {
  return (s as CpuStorage).data as FloatArray;
}

/** The int32 array of a CPU storage handle. */
export function ints(s: object): Int32Array {
  return (s as CpuStorage).data as Int32Array;
}
