// The layers the paper's models are made of. Each holds its parameters under PyTorch's names
// (weight, bias, running_mean, ...) and forwards through engine ops.

import {
  type ConvFirstLayer,
  type Random,
  type Tensor,
  batchNormEval,
  batchNormTrain,
  conv2d,
  full,
  keep,
  linear,
  maxPool2d,
  avgPool2d,
  mul,
  noGrad,
  relu,
  reshape,
  add,
  affine,
  tensor,
  tidy,
  scale,
} from '../engine/index.js';
import { constant, defaultUniform } from './init.js';
import { type HostTensor, Module } from './module.js';

/** Stride and zero padding in pixels (defaults 1 and 0); bias: false drops the bias; relu: true
 *  applies a ReLU in the conv's own kernel (the same as a ReLU layer after it, one pass fewer). */
export interface Conv2dLayerOptions {
  stride?: number;
  padding?: number;
  bias?: boolean;
  relu?: boolean;
}

/** A 2-D convolution layer: weight [out, in, k, k] and bias [out] (PyTorch's layout and default init); NCHW in and out. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;
  readonly relu: boolean;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    rng: Random,
    options: Conv2dLayerOptions = {},
  ) {
    super();
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.relu = options.relu ?? false;
    const fanIn = inChannels * kernel * kernel;
    this.weight = this.registerParameter(
      'weight',
      defaultUniform([outChannels, inChannels, kernel, kernel], fanIn, rng),
    );
    this.bias =
      options.bias === false ? null : this.registerParameter('bias', defaultUniform([outChannels], fanIn, rng));
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, relu: this.relu });
  }

  /** This conv (with its ReLU if it has one) as a first layer YOPO's fused inner step can run. */
  asFirstLayer(): ConvFirstLayer {
    return { weight: this.weight, bias: this.bias, stride: this.stride, padding: this.padding, relu: this.relu };
  }
}

/** relu: true applies a ReLU in the layer's own kernel (the same as a ReLU layer after it, one pass fewer). */
export interface LinearLayerOptions {
  relu?: boolean;
}

/** y = x·Wᵀ + b with W [out, in] (PyTorch's layout and default init), then ReLU when built with relu: true. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly relu: boolean;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Random,
    options: LinearLayerOptions = {},
  ) {
    super();
    this.relu = options.relu ?? false;
    this.weight = this.registerParameter('weight', defaultUniform([outFeatures, inFeatures], inFeatures, rng));
    this.bias = this.registerParameter('bias', defaultUniform([outFeatures], inFeatures, rng));
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias, { relu: this.relu });
  }
}

/**
 * Batch norm over NCHW. Training mode normalises with batch statistics and updates the running
 * averages (momentum 0.1, unbiased variance, as PyTorch); eval mode uses the running averages.
 */
export class BatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly batchesTracked: Tensor;
  private tracked = 0;

  constructor(
    readonly channels: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    this.weight = this.registerParameter('weight', constant([channels], 1));
    this.bias = this.registerParameter('bias', constant([channels], 0));
    this.runningMean = this.registerBuffer('running_mean', constant([channels], 0));
    this.runningVar = this.registerBuffer('running_var', constant([channels], 1));
    this.batchesTracked = this.registerBuffer('num_batches_tracked', full([], 0, 'int32'));
  }

  forward(x: Tensor): Tensor {
    if (!this.training) return batchNormEval(x, this.runningMean, this.runningVar, this.weight, this.bias, this.eps);
    const { y, mean, variance } = batchNormTrain(x, this.weight, this.bias, this.eps);
    const count = x.size / this.channels;
    const m = this.momentum;
    noGrad(() => {
      const [newMean, newVar] = tidy(() => [
        add(scale(this.runningMean, 1 - m), scale(mean, m)),
        add(scale(this.runningVar, 1 - m), scale(variance, (m * count) / Math.max(1, count - 1))),
      ]);
      this.runningMean.assign(keep(newMean));
      this.runningVar.assign(keep(newVar));
    });
    this.tracked++;
    return y;
  }

  /** The batch count lives on the host (no upload per step); it is written out for state dicts. */
  protected override beforeStateDict(): void {
    noGrad(() => this.batchesTracked.assign(tensor([this.tracked], [], 'int32')));
  }

  protected override afterLoadStateDict(state: Map<string, HostTensor>, prefix: string): void {
    this.tracked = state.get(`${prefix}num_batches_tracked`)?.data[0] ?? 0;
  }
}

/** max(x, 0) as a layer. */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** Max pooling over kernel×kernel windows (stride defaults to kernel). */
export class MaxPool2d extends Module {
  constructor(
    readonly kernel = 2,
    readonly stride = kernel,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernel, this.stride);
  }
}

/** Average pooling over kernel×kernel windows (stride defaults to kernel). */
export class AvgPool2d extends Module {
  constructor(
    readonly kernel: number,
    readonly stride = kernel,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernel, this.stride);
  }
}

/** [N, ...] → [N, product of the rest]. */
export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    return reshape(x, [x.shape[0], -1]);
  }
}

/** Inverted dropout: in training, zeroes each element with probability p and scales the rest by
 *  1/(1−p). The mask comes from the layer's seeded generator. Identity in eval mode. */
export class Dropout extends Module {
  /** The mask generator; the training loop reseeds it per step so a resumed run is identical. */
  constructor(
    readonly p: number,
    public rng: Random,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const keepScale = 1 / (1 - this.p);
    const mask = new Float32Array(x.size);
    for (let i = 0; i < mask.length; i++) mask[i] = this.rng.next() < this.p ? 0 : keepScale;
    return mul(x, tensor(mask, x.shape));
  }
}

/** Children run in order; named like PyTorch's Sequential ("0", "1", ... or the given names). */
export class Sequential extends Module {
  private readonly layers: Module[];

  constructor(layers: Module[] | [string, Module][]) {
    super();
    this.layers = [];
    layers.forEach((entry, i) => {
      const [name, m] = Array.isArray(entry) ? entry : [String(i), entry];
      this.layers.push(this.registerModule(name, m));
    });
  }

  forward(x: Tensor): Tensor {
    let out = x;
    for (const layer of this.layers) out = layer.forward(out);
    return out;
  }
}

/** scale·x + shift as a module: handy for input normalisation inside a model. */
export class Affine extends Module {
  constructor(
    readonly factor: number,
    readonly shift: number,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return affine(x, this.factor, this.shift);
  }
}
