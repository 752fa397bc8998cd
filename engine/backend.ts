// The contract between tensors and the machines that compute them. A backend owns storage (a typed
// array on the CPU, a GPUBuffer on WebGPU) and implements every primitive op on contiguous row-major
// data. Ops in engine/ops/ check shapes, then call these; autodiff is written in terms of ops, so a
// backend never needs to know about gradients.

import type { Shape } from './shape.js';

/** Element type of a tensor: 32-bit float, or 32-bit signed integer (labels, indices). */
export type DType = 'float32' | 'int32';
/** Host array of tensor values; Float64Array only on the float64 CPU reference. */
export type TypedArray = Float32Array | Float64Array | Int32Array;

/** Opaque handle to a backend's memory for one tensor. */
export type Storage = object;

// The elementwise ops are rows of one table (elementwise_ops.ts), which also gives their CPU functions and VJPs.
export { BINARY_OPS, type BinaryOp, UNARY_OPS, type UnaryOp, binaryRow, unaryRow } from './elementwise_ops.js';
import type { BinaryOp, UnaryOp } from './elementwise_ops.js';

/** Reductions over axes: sum, max or min of the elements. */
export type ReduceOp = 'sum' | 'max' | 'min';

/** `out[b] = op(a[b]) @ op(b[b])` with op = transpose when asked; a is [batch, m, k] (or [batch, k, m]). */
export interface MatmulShape {
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
}

/** A linear layer's product: x [rows, inFeatures] times wᵀ, w [outFeatures, inFeatures] (PyTorch's layout). */
export interface LinearShape {
  rows: number;
  inFeatures: number;
  outFeatures: number;
}

/**
 * Throws, naming the first bad row, unless every label is a class index in [0, classes). Every
 * backend calls it before its cross-entropy kernel (WebGPU on the labels it uploaded from the host).
 */
export function checkLabels(labels: ArrayLike<number>, classes: number): void {
  for (let r = 0; r < labels.length; r++) {
    const label = labels[r];
    if (!(Number.isInteger(label) && label >= 0 && label < classes))
      throw new Error(`softmaxCrossEntropy: label ${label} at row ${r} is outside [0, ${classes})`);
  }
}

/** NCHW convolution with a square-or-not kernel, equal stride and zero padding on both axes. */
export interface Conv2dShape {
  batch: number;
  inChannels: number;
  inHeight: number;
  inWidth: number;
  outChannels: number;
  outHeight: number;
  outWidth: number;
  kernelHeight: number;
  kernelWidth: number;
  stride: number;
  padding: number;
}

/** What conv2dBackwardFilter computes besides the weight gradient. */
export interface ConvParamGradOptions {
  /** Also the bias gradient: dy summed over the batch and the pixels, per out channel. */
  bias?: boolean;
  /** The output of a conv with a fused ReLU: the gradients are of dy passed where it is positive. */
  reluMask?: Storage | null;
}

/** The parameter gradients of a conv: weight [out, in, kh, kw], bias [out] when asked for. */
export interface ConvParamGrads {
  weight: Storage;
  bias: Storage | null;
}

/** NCHW pooling window; output size = floor((in + 2·pad − kernel) / stride) + 1 (no padding used by our models). */
export interface Pool2dShape {
  batch: number;
  channels: number;
  inHeight: number;
  inWidth: number;
  outHeight: number;
  outWidth: number;
  kernel: number;
  stride: number;
}

/**
 * YOPO's inner step on a first layer f0 = conv2d(·, w, bias), then ReLU when `relu`, fused: with
 * a = clip(x + η, 0, 1), g = ∇η Σ p·f0(a) is the conv's input-VJP of p (masked by f0's ReLU where it
 * has one: z = conv(a) > 0), zero where x + η is outside [0, 1]. 'gradient' returns g; 'linfStep'
 * returns Π(η + σ·sign(g)): clip to [−ε, ε], then to x + η ∈ [0, 1], in the same f32 operations
 * as the op-by-op path.
 */
export interface ConvAscentOptions {
  relu: boolean;
  output: 'gradient' | 'linfStep';
  /** The step σ and radius ε of 'linfStep' (ignored for 'gradient'). */
  sigma: number;
  eps: number;
}

/** Momentum SGD with weight decay added to the gradient before momentum (PyTorch's rule). */
export interface SgdOptions {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

/** One parameter tensor of `sgdUpdateMany`: its storage, its gradient's and its momentum buffer's, all `size` elements. */
export interface SgdItem {
  param: Storage;
  grad: Storage;
  momentum: Storage;
  size: number;
}

/** The primitive ops a backend implements, on contiguous row-major storage; sizes count elements, shapes are dimension lists. */
export interface Backend {
  readonly name: 'cpu' | 'webgpu';
  /** Float dtype used for arithmetic: 'float64' only for the CPU reference in gradient checks. */
  readonly floatPrecision: 'float32' | 'float64';

  // Memory.
  upload(data: TypedArray, dtype: DType): Storage;
  read(x: Storage, dtype: DType, size: number): Promise<TypedArray>;
  release(x: Storage): void;
  fill(size: number, value: number, dtype: DType): Storage;
  cast(x: Storage, size: number, from: DType, to: DType): Storage;
  /** Copies `src` into `dst` in place (both of `size` elements): used for optimiser and BN state. */
  copyInto(dst: Storage, src: Storage, size: number, dtype: DType): void;

  // Elementwise.
  unary(op: UnaryOp, x: Storage, size: number): Storage;
  /** scale·x + shift with compile-time constants. */
  affine(x: Storage, size: number, scale: number, shift: number): Storage;
  clamp(x: Storage, size: number, lo: number, hi: number): Storage;
  /** `dtype` is the dtype of a and b (they agree); the output keeps it, except comparisons: float32 0/1. */
  binary(op: BinaryOp, a: Storage, aShape: Shape, b: Storage, bShape: Shape, outShape: Shape, dtype: DType): Storage;
  /** cond ? a : b, all three of `size` elements (the op layer broadcasts first). */
  where(cond: Storage, a: Storage, b: Storage, size: number): Storage;

  // Reductions and layout.
  reduce(op: ReduceOp, x: Storage, shape: Shape, axes: readonly number[], dtype: DType): Storage;
  argmax(x: Storage, shape: Shape, axis: number): Storage;
  transpose(x: Storage, shape: Shape, perm: readonly number[], dtype: DType): Storage;
  matmul(a: Storage, b: Storage, s: MatmulShape): Storage;
  /** x·wᵀ plus bias [outFeatures] on every row, then ReLU (NaN passing) when `relu`: one pass, like conv2d. */
  linear(x: Storage, w: Storage, bias: Storage | null, s: LinearShape, relu?: boolean): Storage;

  // Losses.
  logSoftmax(x: Storage, rows: number, cols: number): Storage;
  /** Mean over rows of −log softmax(x)[label]; labels int32 in [0, cols). Returns a 1-element tensor. */
  softmaxCrossEntropy(logits: Storage, labels: Storage, rows: number, cols: number): Storage;
  /** d(mean CE)/d logits · dy, with dy a 1-element tensor: (softmax − onehot) · dy / rows. */
  softmaxCrossEntropyGrad(logits: Storage, labels: Storage, dy: Storage, rows: number, cols: number): Storage;

  // Convolution and pooling (NCHW).
  /** The convolution plus bias, then ReLU (NaN passing) when `relu`: one pass, and no pre-activation tensor. */
  conv2d(x: Storage, w: Storage, bias: Storage | null, s: Conv2dShape, relu?: boolean): Storage;
  /** The input gradient; with `reluMask` (the output of a conv with a fused ReLU), of dy passed where the
   *  mask is positive (passIfPositive(reluMask, dy)) without that tensor being written. */
  conv2dBackwardInput(dy: Storage, w: Storage, s: Conv2dShape, reluMask?: Storage | null): Storage;
  /** The weight gradient, and with `options.bias` the bias gradient (dy summed over batch and pixels) in the
   *  same pass; with `options.reluMask` (the output of a conv with a fused ReLU) both of dy passed where the
   *  mask is positive, without that tensor being written. */
  conv2dBackwardFilter(x: Storage, dy: Storage, s: Conv2dShape, options?: ConvParamGradOptions): ConvParamGrads;
  /** YOPO's fused first-layer step (see ConvAscentOptions): x and eta [batch, C, H, W], p [batch, O, H′, W′]; returns g or the new η, shaped as x. */
  convAscent(
    x: Storage,
    eta: Storage,
    p: Storage,
    w: Storage,
    bias: Storage | null,
    s: Conv2dShape,
    o: ConvAscentOptions,
  ): Storage;
  /** The ReLU bits of conv(clip(x + η, 0, 1)) + b: int32 words [batch, ⌈O/32⌉, H′, W′], bit o % 32 of word o / 32 set where channel o is > 0. */
  convReluBits(x: Storage, eta: Storage, w: Storage, bias: Storage | null, s: Conv2dShape): Storage;
  /** Wᵀ(p ⊙ m), m the ReLU bits `bits` (as convReluBits): the conv's input VJP of p where the bit is set; shaped as x, no clip. */
  convMaskedInputGradient(p: Storage, bits: Storage, w: Storage, s: Conv2dShape): Storage;
  /** convAscent on a ReLU conv from a base: g = gradient0 + Σ ±W·p over the ReLU bits at η that differ from
   *  bits0 (+ where now set, − where now clear), exactly 0 where no bit at η reaches the pixel, and zero
   *  where x + η is outside [0, 1]; then g or the L∞ step.
   *  With gradient0 = convMaskedInputGradient(p, bits0) it equals convAscent (YOPO: one base a full pass). */
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
  ): Storage;
  maxPool2d(x: Storage, s: Pool2dShape): Storage;
  maxPool2dBackward(dy: Storage, x: Storage, s: Pool2dShape): Storage;
  avgPool2d(x: Storage, s: Pool2dShape): Storage;
  avgPool2dBackward(dy: Storage, s: Pool2dShape): Storage;

  // Batch norm over NCHW, per channel.
  /** Per-channel batch mean and biased variance: returns [mean, variance], each [C]. */
  batchNormStats(x: Storage, batch: number, channels: number, spatial: number): [Storage, Storage];
  /** (x − mean)/sqrt(var + eps)·gamma + beta. */
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
  ): Storage;

  // Optimiser: updates param and momentum buffer in place.
  sgdUpdate(param: Storage, grad: Storage, momentum: Storage, size: number, o: SgdOptions): void;
  /** `sgdUpdate` on each item in turn, same arithmetic; the WebGPU backend updates several tensors per dispatch. */
  sgdUpdateMany(items: readonly SgdItem[], o: SgdOptions): void;

  /** Finishes queued work (WebGPU: submits and waits); a no-op on the CPU. */
  sync(): Promise<void>;
  /** Live-memory counters for leak tests. */
  memory(): { liveBuffers: number; pooledBuffers: number; liveBytes: number; pooledBytes: number };
  dispose(): void;
}
