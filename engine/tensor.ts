// A tensor: a shape, a dtype and a reference-counted handle to backend storage. Tensors are always
// contiguous and row-major; reshape shares storage, everything else makes new storage. Memory is freed
// explicitly (dispose) or by the scope that created it (tidy, see scope.ts).

import type { Backend, DType, Storage, TypedArray } from './backend.js';
import { type Shape, shapeString, sizeOf } from './shape.js';
import { trackTensor } from './scope.js';

/** Storage shared by a tensor and its reshaped views; freed when the last one is disposed. */
class StorageRef {
  refs = 1;
  constructor(
    readonly backend: Backend,
    readonly storage: Storage,
  ) {}
}

let nextTensorId = 0;

/** An n-d array on a backend: shape, dtype and reference-counted storage; free it with dispose() or tidy(). */
export class Tensor {
  readonly id = nextTensorId++;
  readonly size: number;
  private ref: StorageRef | null;

  private constructor(
    readonly shape: readonly number[],
    readonly dtype: DType,
    ref: StorageRef,
  ) {
    this.size = sizeOf(shape);
    this.ref = ref;
    trackTensor(this);
  }

  /** Wraps freshly made backend storage; the tensor owns it. */
  static fromStorage(backend: Backend, storage: Storage, shape: Shape, dtype: DType): Tensor {
    return new Tensor([...shape], dtype, new StorageRef(backend, storage));
  }

  /** A tensor of another shape over the same storage. */
  view(shape: Shape): Tensor {
    const ref = this.liveRef('reshape');
    if (sizeOf(shape) !== this.size)
      throw new Error(
        `reshape: cannot view ${shapeString(this.shape)} (${this.size} elements) as ${shapeString(shape)} (${sizeOf(shape)} elements)`,
      );
    ref.refs++;
    return new Tensor([...shape], this.dtype, ref);
  }

  get backend(): Backend {
    return this.liveRef('backend').backend;
  }

  get storage(): Storage {
    return this.liveRef('storage').storage;
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.ref === null;
  }

  /** Reads the values back to the host (a GPU readback: call it only when you need the numbers). */
  async data(): Promise<TypedArray> {
    const ref = this.liveRef('data');
    return ref.backend.read(ref.storage, this.dtype, this.size);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1)
      throw new Error(`item: tensor of shape ${shapeString(this.shape)} has ${this.size} elements, expected 1`);
    return (await this.data())[0];
  }

  /** Nested arrays, for printing and tests. */
  async array(): Promise<unknown> {
    const data = Array.from(await this.data());
    const build = (offset: number, axis: number): unknown => {
      if (axis === this.shape.length) return data[offset];
      const stride = sizeOf(this.shape.slice(axis + 1));
      return Array.from({ length: this.shape[axis] }, (_, i) => build(offset + i * stride, axis + 1));
    };
    return build(0, 0);
  }

  /**
   * Takes over the storage of `src` (same shape and dtype) and disposes `src`: the way to update a
   * long-lived tensor (a parameter, a perturbation) with a value computed inside a tidy scope.
   */
  assign(src: Tensor): this {
    const mine = this.liveRef('assign');
    if (src === this) return this;
    if (src.dtype !== this.dtype || src.size !== this.size || !sameDims(src.shape, this.shape)) {
      throw new Error(
        `assign: cannot assign a ${src.dtype} tensor of shape ${shapeString(src.shape)} to a ${this.dtype} tensor of shape ${shapeString(this.shape)}`,
      );
    }
    const theirs = src.liveRef('assign');
    if (theirs.backend !== mine.backend)
      throw new Error(`assign: tensors live on different backends (${mine.backend.name} and ${theirs.backend.name})`);
    theirs.refs++;
    this.release();
    this.ref = theirs;
    src.dispose();
    return this;
  }

  dispose(): void {
    this.release();
  }

  toString(): string {
    return `Tensor(${this.dtype}${shapeString(this.shape)}${this.ref ? '' : ', disposed'})`;
  }

  private release(): void {
    const ref = this.ref;
    if (!ref) return;
    this.ref = null;
    if (--ref.refs === 0) ref.backend.release(ref.storage);
  }

  private liveRef(op: string): StorageRef {
    if (!this.ref)
      throw new Error(`${op}: tensor #${this.id} of shape ${shapeString(this.shape)} was already disposed`);
    return this.ref;
  }
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
