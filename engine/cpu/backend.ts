// The CPU reference backend: clear TypedArray loops, float64 accumulation where it matters. Every WGSL
// kernel is tested against it. With { float64: true } float tensors are stored in float64, which the
// finite-difference gradient checks use.

import type {
  Backend,
  BinaryOp,
  Conv2dShape,
  ConvAscentOptions,
  ConvParamGradOptions,
  ConvParamGrads,
  DType,
  LinearShape,
  MatmulShape,
  Pool2dShape,
  ReduceOp,
  SgdItem,
  SgdOptions,
  Storage,
  TypedArray,
  UnaryOp,
} from '../backend.js';
import { type Shape, sizeOf } from '../shape.js';
import * as bn from './batchnorm.js';
import * as conv from './conv2d.js';
import { convAscent, convAscentFrom, convMaskedInputGradient, convReluBits } from './conv_ascent.js';
import { binaryRow, unaryRow } from '../elementwise_ops.js';
import { broadcastBinary, map } from './elementwise.js';
import * as mm from './matmul.js';
import * as pool from './pool.js';
import * as red from './reduce.js';
import * as sgd from './sgd.js';
import * as sm from './softmax.js';
import { CpuStorage, type FloatArray, arr, floats, ints } from './storage.js';

/** Options of the CPU reference backend. */
export interface CpuBackendOptions {
  /** Store float tensors in float64 (reference precision for gradient checks). Default false. */
  float64?: boolean;
}

/** The CPU reference backend: every Backend op as plain loops over typed arrays (float64 accumulation; float64 storage with { float64: true }). */
export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly floatPrecision: 'float32' | 'float64';
  private live = 0;
  private liveBytes = 0;

  constructor(options: CpuBackendOptions = {}) {
    this.floatPrecision = options.float64 ? 'float64' : 'float32';
  }

  private alloc(size: number, dtype: DType): TypedArray {
    if (dtype === 'int32') return new Int32Array(size);
    return this.floatPrecision === 'float64' ? new Float64Array(size) : new Float32Array(size);
  }

  private make(data: TypedArray): CpuStorage {
    this.live++;
    this.liveBytes += data.byteLength;
    return new CpuStorage(data);
  }

  private newFloats(size: number): FloatArray {
    return this.alloc(size, 'float32') as FloatArray;
  }

  upload(data: TypedArray, dtype: DType): Storage {
    const out = this.alloc(data.length, dtype);
    out.set(data);
    return this.make(out);
  }

  async read(x: Storage, _dtype: DType, size: number): Promise<TypedArray> {
    const data = arr(x);
    if (data.length !== size) throw new Error(`cpu read: storage holds ${data.length} elements, expected ${size}`);
    return data.slice() as TypedArray;
  }

  release(x: Storage): void {
    const s = x as CpuStorage;
    this.live--;
    this.liveBytes -= s.data.byteLength;
    s.data = new Float32Array(0);
  }

  fill(size: number, value: number, dtype: DType): Storage {
    const out = this.alloc(size, dtype);
    out.fill(value);
    return this.make(out);
  }

  cast(x: Storage, size: number, _from: DType, to: DType): Storage {
    const out = this.alloc(size, to);
    const src = arr(x);
    for (let i = 0; i < size; i++) out[i] = to === 'int32' ? Math.trunc(src[i]) : src[i];
    return this.make(out);
  }

  copyInto(dst: Storage, src: Storage, size: number): void {
    arr(dst).set(arr(src).subarray(0, size));
  }

  unary(op: UnaryOp, x: Storage, size: number): Storage {
    const out = this.newFloats(size);
    map(floats(x), out, unaryRow(op).cpu);
    return this.make(out);
  }

  affine(x: Storage, size: number, scale: number, shift: number): Storage {
    const out = this.newFloats(size);
    map(floats(x), out, (v) => scale * v + shift);
    return this.make(out);
  }

  clamp(x: Storage, size: number, lo: number, hi: number): Storage {
    const out = this.newFloats(size);
    map(floats(x), out, (v) => Math.min(Math.max(v, lo), hi));
    return this.make(out);
  }

  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape, dtype: DType): Storage {
    // dtype is the inputs' dtype; comparisons return float32 0/1.
    const row = binaryRow(op);
    const out = this.alloc(sizeOf(outShape), row.comparison ? 'float32' : dtype);
    const f = row.cpu;
    const intDiv = dtype === 'int32' && op === 'div';
    broadcastBinary(arr(a), aShape, arr(b), bShape, outShape, out, intDiv ? (p, q) => Math.trunc(p / q) : f);
    return this.make(out);
  }

  where(cond: Storage, a: Storage, b: Storage, size: number): Storage {
    const c = arr(cond);
    const x = arr(a);
    const y = arr(b);
    const out = this.alloc(size, x instanceof Int32Array ? 'int32' : 'float32');
    for (let i = 0; i < size; i++) out[i] = c[i] !== 0 ? x[i] : y[i];
    return this.make(out);
  }

  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[], dtype: DType): Storage {
    const outSize = sizeOf(shape.filter((_, i) => !axes.includes(i)));
    const out = this.alloc(outSize, dtype);
    red.reduce(op, arr(x), shape, axes, out);
    return this.make(out);
  }

  argmax(x: Storage, shape: Shape, axis: number): Storage {
    const out = new Int32Array(sizeOf(shape) / shape[axis]);
    red.argmax(arr(x), shape, axis, out);
    return this.make(out);
  }

  transpose(x: Storage, shape: Shape, perm: readonly number[], dtype: DType): Storage {
    const out = this.alloc(sizeOf(shape), dtype);
    red.transpose(arr(x), shape, perm, out);
    return this.make(out);
  }

  matmul(a: Storage, b: Storage, s: MatmulShape): Storage {
    const out = this.newFloats(s.batch * s.m * s.n);
    mm.matmul(floats(a), floats(b), s, out);
    return this.make(out);
  }

  linear(x: Storage, w: Storage, bias: Storage | null, s: LinearShape, relu = false): Storage {
    const out = this.newFloats(s.rows * s.outFeatures);
    mm.linear(floats(x), floats(w), bias ? floats(bias) : null, s, relu, out);
    return this.make(out);
  }

  logSoftmax(x: Storage, rows: number, cols: number): Storage {
    const out = this.newFloats(rows * cols);
    sm.logSoftmax(floats(x), rows, cols, out);
    return this.make(out);
  }

  softmaxCrossEntropy(logits: Storage, labels: Storage, rows: number, cols: number): Storage {
    const out = this.newFloats(1);
    out[0] = sm.softmaxCrossEntropy(floats(logits), ints(labels), rows, cols);
    return this.make(out);
  }

  softmaxCrossEntropyGrad(logits: Storage, labels: Storage, dy: Storage, rows: number, cols: number): Storage {
    const out = this.newFloats(rows * cols);
    sm.softmaxCrossEntropyGrad(floats(logits), ints(labels), floats(dy)[0], rows, cols, out);
    return this.make(out);
  }

  conv2d(x: Storage, w: Storage, bias: Storage | null, s: Conv2dShape, relu = false): Storage {
    const out = this.newFloats(s.batch * s.outChannels * s.outHeight * s.outWidth);
    conv.conv2d(floats(x), floats(w), bias ? floats(bias) : null, s, out);
    if (relu) out.forEach((v, i) => (out[i] = unaryRow('relu').cpu(v)));
    return this.make(out);
  }

  conv2dBackwardInput(dy: Storage, w: Storage, s: Conv2dShape, reluMask: Storage | null = null): Storage {
    const out = this.newFloats(s.batch * s.inChannels * s.inHeight * s.inWidth);
    conv.conv2dBackwardInput(maskedBy(floats(dy), reluMask), floats(w), s, out);
    return this.make(out);
  }

  conv2dBackwardFilter(x: Storage, dy: Storage, s: Conv2dShape, options: ConvParamGradOptions = {}): ConvParamGrads {
    const g = maskedBy(floats(dy), options.reluMask ?? null);
    const weight = this.newFloats(s.outChannels * s.inChannels * s.kernelHeight * s.kernelWidth);
    conv.conv2dBackwardFilter(floats(x), g, s, weight);
    if (!options.bias) return { weight: this.make(weight), bias: null };
    const bias = this.newFloats(s.outChannels);
    conv.conv2dBackwardBias(g, s, bias);
    return { weight: this.make(weight), bias: this.make(bias) };
  }

  convAscent(
    x: Storage,
    eta: Storage,
    p: Storage,
    w: Storage,
    bias: Storage | null,
    s: Conv2dShape,
    o: ConvAscentOptions,
  ): Storage {
    const out = this.newFloats(s.batch * s.inChannels * s.inHeight * s.inWidth);
    convAscent(floats(x), floats(eta), floats(p), floats(w), bias ? floats(bias) : null, s, o, out);
    return this.make(out);
  }

  convReluBits(x: Storage, eta: Storage, w: Storage, bias: Storage | null, s: Conv2dShape): Storage {
    const out = new Int32Array(s.batch * Math.ceil(s.outChannels / 32) * s.outHeight * s.outWidth);
    convReluBits(floats(x), floats(eta), floats(w), bias ? floats(bias) : null, s, out);
    return this.make(out);
  }

  convMaskedInputGradient(p: Storage, bits: Storage, w: Storage, s: Conv2dShape): Storage {
    const out = this.newFloats(s.batch * s.inChannels * s.inHeight * s.inWidth);
    convMaskedInputGradient(floats(p), ints(bits), floats(w), s, out);
    return this.make(out);
  }

  convAscentFrom(
    x: Storage,
    eta: Storage,
    p: Storage,
    w: Storage,
    bias: Storage | null,
    bits0: Storage,
    gradient0: Storage,
    s: Conv2dShape,
    o: Omit<ConvAscentOptions, 'relu'>,
  ): Storage {
    const out = this.newFloats(s.batch * s.inChannels * s.inHeight * s.inWidth);
    convAscentFrom(
      floats(x),
      floats(eta),
      floats(p),
      floats(w),
      bias ? floats(bias) : null,
      ints(bits0),
      floats(gradient0),
      s,
      o,
      out,
    );
    return this.make(out);
  }

  maxPool2d(x: Storage, s: Pool2dShape): Storage {
    const out = this.newFloats(s.batch * s.channels * s.outHeight * s.outWidth);
    pool.maxPool2d(floats(x), s, out);
    return this.make(out);
  }

  maxPool2dBackward(dy: Storage, x: Storage, s: Pool2dShape): Storage {
    const out = this.newFloats(s.batch * s.channels * s.inHeight * s.inWidth);
    pool.maxPool2dBackward(floats(dy), floats(x), s, out);
    return this.make(out);
  }

  avgPool2d(x: Storage, s: Pool2dShape): Storage {
    const out = this.newFloats(s.batch * s.channels * s.outHeight * s.outWidth);
    pool.avgPool2d(floats(x), s, out);
    return this.make(out);
  }

  avgPool2dBackward(dy: Storage, s: Pool2dShape): Storage {
    const out = this.newFloats(s.batch * s.channels * s.inHeight * s.inWidth);
    pool.avgPool2dBackward(floats(dy), s, out);
    return this.make(out);
  }

  batchNormStats(x: Storage, batch: number, channels: number, spatial: number): [Storage, Storage] {
    const mean = this.newFloats(channels);
    const variance = this.newFloats(channels);
    bn.batchNormStats(floats(x), batch, channels, spatial, mean, variance);
    return [this.make(mean), this.make(variance)];
  }

  batchNormApply(
    x: Storage,
    mean: Storage,
    variance: Storage,
    gamma: Storage,
    beta: Storage,
    batch: number,
    channels: number,
    spatial: number,
    eps: number,
  ): Storage {
    const out = this.newFloats(batch * channels * spatial);
    bn.batchNormApply(
      floats(x),
      floats(mean),
      floats(variance),
      floats(gamma),
      floats(beta),
      batch,
      channels,
      spatial,
      eps,
      out,
    );
    return this.make(out);
  }

  sgdUpdate(param: Storage, grad: Storage, momentum: Storage, _size: number, o: SgdOptions): void {
    sgd.sgdUpdate(floats(param), floats(grad), floats(momentum), o);
  }

  sgdUpdateMany(items: readonly SgdItem[], o: SgdOptions): void {
    for (const { param, grad, momentum, size } of items) this.sgdUpdate(param, grad, momentum, size, o);
  }

  async sync(): Promise<void> {}

  memory() {
    return { liveBuffers: this.live, pooledBuffers: 0, liveBytes: this.liveBytes, pooledBytes: 0 };
  }

  dispose(): void {}
}

/** dy passed where the ReLU mask (a fused-ReLU conv's output) is positive: passIfPositive(mask, dy). */
function maskedBy(dy: FloatArray, reluMask: Storage | null): FloatArray {
  if (!reluMask) return dy;
  const m = floats(reluMask);
  return dy.map((v, i) => (m[i]! > 0 ? v : 0));
}
