// Momentum SGD over a list of parameters, one fused update for all of them (PyTorch's rule: weight
// decay added to the gradient before momentum; on WebGPU several tensors per dispatch). The momentum
// buffers are the optimiser's state, saved with checkpoints so a run resumes exactly.

import { type Backend, type SgdItem, type Tensor, noGrad, shapeString, tensor, zerosLike } from '../engine/index.js';
import type { HostTensor } from './module.js';

/** Learning rate, momentum, weight decay (L2, added to the gradient) and Nesterov, as PyTorch's SGD. */
export interface SgdConfig {
  lr: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** Momentum SGD over a list of parameter tensors (PyTorch's rule), with its momentum buffers as state. */
export class SGD {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly buffers: Tensor[];
  steps = 0;

  constructor(
    readonly params: Tensor[],
    config: SgdConfig,
  ) {
    this.lr = config.lr;
    this.momentum = config.momentum ?? 0.9;
    this.weightDecay = config.weightDecay ?? 5e-4;
    this.nesterov = config.nesterov ?? false;
    if (!(this.lr > 0)) throw new Error(`SGD: learning rate must be positive, got ${this.lr}`);
    if (this.nesterov && this.momentum <= 0) throw new Error('SGD: Nesterov momentum needs momentum > 0');
    this.buffers = params.map((p) => noGrad(() => zerosLike(p)));
  }

  /** p ← p − lr·(momentum update of grad + wd·p), in place, for every parameter (several tensors per dispatch on WebGPU). */
  step(grads: readonly Tensor[]): void {
    if (grads.length !== this.params.length)
      throw new Error(`SGD.step: got ${grads.length} gradients for ${this.params.length} parameters`);
    const options = { lr: this.lr, momentum: this.momentum, weightDecay: this.weightDecay, nesterov: this.nesterov };
    // Every gradient is checked before any update, so a bad one leaves all parameters as they were;
    // then one batched update per backend (in practice all parameters share one).
    const byBackend = new Map<Backend, SgdItem[]>();
    this.params.forEach((p, i) => {
      const g = grads[i];
      if (g.size !== p.size)
        throw new Error(
          `SGD.step: gradient ${i} has shape ${shapeString(g.shape)}, parameter has ${shapeString(p.shape)}`,
        );
      const items = byBackend.get(p.backend) ?? [];
      items.push({ param: p.storage, grad: g.storage, momentum: this.buffers[i].storage, size: p.size });
      byBackend.set(p.backend, items);
    });
    for (const [backend, items] of byBackend) backend.sgdUpdateMany(items, options);
    this.steps++;
  }

  /** Momentum buffers as host arrays, named by parameter index. */
  async stateData(prefix: string): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (let i = 0; i < this.buffers.length; i++) {
      out.set(`${prefix}${i}.momentum_buffer`, {
        shape: [...this.buffers[i].shape],
        data: Float32Array.from(await this.buffers[i].data()),
      });
    }
    return out;
  }

  loadStateData(state: Map<string, HostTensor>, prefix: string, source: string): void {
    this.buffers.forEach((b, i) => {
      const s = state.get(`${prefix}${i}.momentum_buffer`);
      if (!s) throw new Error(`${source}: missing optimiser state ${prefix}${i}.momentum_buffer`);
      if (s.data.length !== b.size)
        throw new Error(
          `${source}: optimiser state ${prefix}${i}.momentum_buffer has ${s.data.length} values, expected ${b.size}`,
        );
      noGrad(() => b.assign(tensor(s.data, b.shape)));
    });
  }

  dispose(): void {
    for (const b of this.buffers) b.dispose();
  }
}
