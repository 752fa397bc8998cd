// The WebGPU backend: each op runs its WGSL kernel (one file per kernel family in this folder) on the
// shared execution layer (kernels/webgpu/gpu.ts). Storage is a pooled GpuBuffer.
// The reference below puts WebGPU's types (GPUDevice, …) into the shipped .d.ts files, so a consumer's
// TypeScript finds them without listing @webgpu/types itself.
/// <reference types="@webgpu/types" preserve="true" />

import {
  type Backend,
  type BinaryOp,
  checkLabels,
  type Conv2dShape,
  type ConvAscentOptions,
  type ConvParamGradOptions,
  type ConvParamGrads,
  type DType,
  type LinearShape,
  type MatmulShape,
  type Pool2dShape,
  type ReduceOp,
  type SgdItem,
  type SgdOptions,
  type Storage,
  type TypedArray,
  type UnaryOp,
} from '../engine/backend.js';
import type { Shape } from '../engine/shape.js';
import type { AdapterDescription } from './webgpu/device.js';
import { Gpu, type GpuBuffer } from './webgpu/gpu.js';
import * as bn from './batchnorm.js';
import * as bin from './binary.js';
import * as conv from './conv2d.js';
import { convAscent, convAscentFrom, convMaskedInputGradient, convReluBits } from './conv_ascent.js';
import * as fill from './fill.js';
import * as mm from './matmul.js';
import * as pool from './pool.js';
import * as red from './reduce.js';
import * as sgd from './sgd.js';
import * as sm from './softmax.js';
import { attachTuner, tunerOf } from './tune.js';
import { transpose } from './transpose.js';
import * as un from './unary.js';

const buf = (s: Storage): GpuBuffer => s as GpuBuffer;

/** The WebGPU backend: every Backend op as a WGSL kernel on one GPUDevice (float32; storage in pooled GPU buffers). */
export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly floatPrecision = 'float32' as const;
  readonly gpu: Gpu;
  /** What names the adapter in on-disk caches (tuning choices, compiled programs): vendor|architecture|device|description. */
  readonly adapterIdentity: string;
  /** The host values of int32 buffers uploaded from the host (labels), so cross-entropy checks them
   *  before its kernel runs, as the CPU backend does; forgotten when the buffer is released or overwritten.
   *  Labels computed on the GPU have none: the kernel turns an out-of-range one into NaN. */
  private readonly hostInts = new WeakMap<GpuBuffer, Int32Array>();

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterDescription | null = null,
  ) {
    this.gpu = new Gpu(device);
    // Kernels with variants (matmul) ask this device's tuner which to run (kernels/tune.ts).
    const info = adapter ?? device.adapterInfo;
    this.adapterIdentity = info
      ? [info.vendor, info.architecture, info.device, info.description].join('|')
      : 'unknown adapter';
    attachTuner(
      this.gpu,
      this.adapterIdentity,
      adapter?.isSoftware ?? /llvmpipe|lavapipe|swiftshader|software/i.test(this.adapterIdentity),
    );
  }

  upload(data: TypedArray, dtype: DType): Storage {
    const view =
      dtype === 'int32'
        ? data instanceof Int32Array
          ? data
          : Int32Array.from(data)
        : data instanceof Float32Array
          ? data
          : Float32Array.from(data);
    const out = this.gpu.acquire(view.byteLength);
    if (view.byteLength > 0) this.gpu.write(out, view);
    if (view instanceof Int32Array) this.hostInts.set(out, view.slice());
    return out;
  }

  async read(x: Storage, dtype: DType, size: number): Promise<TypedArray> {
    // A readback is the first await point after new shapes ran: measure their variants now (YOPO_TUNE).
    const tuner = tunerOf(this.gpu);
    if (tuner?.hasPending) await tuner.tunePending();
    const bytes = await this.gpu.read(buf(x), size * 4);
    return dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
  }

  release(x: Storage): void {
    this.hostInts.delete(buf(x));
    this.gpu.release(buf(x));
  }

  fill(size: number, value: number, dtype: DType): Storage {
    return fill.fill(this.gpu, size, value, dtype);
  }

  cast(x: Storage, size: number, from: DType, to: DType): Storage {
    return fill.cast(this.gpu, buf(x), size, from, to);
  }

  copyInto(dst: Storage, src: Storage, size: number): void {
    this.hostInts.delete(buf(dst));
    this.gpu.copy(buf(src), buf(dst), size * 4);
  }

  unary(op: UnaryOp, x: Storage, size: number): Storage {
    return un.unary(this.gpu, op, buf(x), size);
  }

  affine(x: Storage, size: number, scale: number, shift: number): Storage {
    return un.affine(this.gpu, buf(x), size, scale, shift);
  }

  clamp(x: Storage, size: number, lo: number, hi: number): Storage {
    return un.clamp(this.gpu, buf(x), size, lo, hi);
  }

  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape, dtype: DType): Storage {
    return bin.binary(this.gpu, op, buf(a), aShape, buf(b), bShape, outShape, dtype);
  }

  where(cond: Storage, a: Storage, b: Storage, size: number): Storage {
    return bin.where(this.gpu, buf(cond), buf(a), buf(b), size, 'float32');
  }

  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[], dtype: DType): Storage {
    return red.reduce(this.gpu, op, buf(x), shape, axes, dtype);
  }

  argmax(x: Storage, shape: Shape, axis: number): Storage {
    return red.argmax(this.gpu, buf(x), shape, axis);
  }

  transpose(x: Storage, shape: Shape, perm: readonly number[], dtype: DType): Storage {
    return transpose(this.gpu, buf(x), shape, perm, dtype);
  }

  matmul(a: Storage, b: Storage, s: MatmulShape): Storage {
    return mm.matmul(this.gpu, buf(a), buf(b), s);
  }

  linear(x: Storage, w: Storage, bias: Storage | null, s: LinearShape, relu = false): Storage {
    return mm.linear(this.gpu, buf(x), buf(w), bias ? buf(bias) : null, s, relu);
  }

  logSoftmax(x: Storage, rows: number, cols: number): Storage {
    return sm.logSoftmax(this.gpu, buf(x), rows, cols);
  }

  softmaxCrossEntropy(logits: Storage, labels: Storage, rows: number, cols: number): Storage {
    this.checkHostLabels(labels, rows, cols);
    return sm.softmaxCrossEntropy(this.gpu, buf(logits), buf(labels), rows, cols);
  }

  softmaxCrossEntropyGrad(logits: Storage, labels: Storage, dy: Storage, rows: number, cols: number): Storage {
    this.checkHostLabels(labels, rows, cols);
    return sm.softmaxCrossEntropyGrad(this.gpu, buf(logits), buf(labels), buf(dy), rows, cols);
  }

  conv2d(x: Storage, w: Storage, bias: Storage | null, s: Conv2dShape, relu = false): Storage {
    return conv.conv2d(this.gpu, buf(x), buf(w), bias ? buf(bias) : null, s, undefined, relu);
  }

  conv2dBackwardInput(dy: Storage, w: Storage, s: Conv2dShape, reluMask: Storage | null = null): Storage {
    return conv.conv2dBackwardInput(this.gpu, buf(dy), buf(w), s, undefined, reluMask ? buf(reluMask) : null);
  }

  conv2dBackwardFilter(x: Storage, dy: Storage, s: Conv2dShape, options: ConvParamGradOptions = {}): ConvParamGrads {
    const reluMask = options.reluMask ? buf(options.reluMask) : null;
    return conv.conv2dBackwardFilter(this.gpu, buf(x), buf(dy), s, undefined, { bias: options.bias, reluMask });
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
    return convAscent(this.gpu, buf(x), buf(eta), buf(p), buf(w), bias ? buf(bias) : null, s, o);
  }

  convReluBits(x: Storage, eta: Storage, w: Storage, bias: Storage | null, s: Conv2dShape): Storage {
    return convReluBits(this.gpu, buf(x), buf(eta), buf(w), bias ? buf(bias) : null, s);
  }

  convMaskedInputGradient(p: Storage, bits: Storage, w: Storage, s: Conv2dShape): Storage {
    return convMaskedInputGradient(this.gpu, buf(p), buf(bits), buf(w), s);
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
    return convAscentFrom(
      this.gpu,
      buf(x),
      buf(eta),
      buf(p),
      buf(w),
      bias ? buf(bias) : null,
      buf(bits0),
      buf(gradient0),
      s,
      o,
    );
  }

  maxPool2d(x: Storage, s: Pool2dShape): Storage {
    return pool.maxPool2d(this.gpu, buf(x), s);
  }

  maxPool2dBackward(dy: Storage, x: Storage, s: Pool2dShape): Storage {
    return pool.maxPool2dBackward(this.gpu, buf(dy), buf(x), s);
  }

  avgPool2d(x: Storage, s: Pool2dShape): Storage {
    return pool.avgPool2d(this.gpu, buf(x), s);
  }

  avgPool2dBackward(dy: Storage, s: Pool2dShape): Storage {
    return pool.avgPool2dBackward(this.gpu, buf(dy), s);
  }

  batchNormStats(x: Storage, batch: number, channels: number, spatial: number): [Storage, Storage] {
    return bn.batchNormStats(this.gpu, buf(x), batch, channels, spatial);
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
    return bn.batchNormApply(
      this.gpu,
      buf(x),
      buf(mean),
      buf(variance),
      buf(gamma),
      buf(beta),
      batch,
      channels,
      spatial,
      eps,
    );
  }

  sgdUpdate(param: Storage, grad: Storage, momentum: Storage, size: number, o: SgdOptions): void {
    sgd.sgdUpdate(this.gpu, buf(param), buf(grad), buf(momentum), size, o);
  }

  sgdUpdateMany(items: readonly SgdItem[], o: SgdOptions): void {
    const bound = items.map((it) => ({
      param: buf(it.param),
      grad: buf(it.grad),
      momentum: buf(it.momentum),
      size: it.size,
    }));
    sgd.sgdUpdateMany(this.gpu, bound, o);
  }

  private checkHostLabels(labels: Storage, rows: number, cols: number): void {
    const host = this.hostInts.get(buf(labels));
    if (host) checkLabels(host.subarray(0, rows), cols);
  }

  sync(): Promise<void> {
    return this.gpu.sync();
  }

  memory() {
    return this.gpu.memory();
  }

  dispose(): void {
    this.gpu.destroy();
  }
}
