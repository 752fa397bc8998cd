// The Module base: named parameters, buffers and child modules (PyTorch's naming, so a state dict
// reads like `layer1.0.bn1.running_mean`), train/eval mode, and state dicts as host arrays.

import { type Tensor, noGrad, tensor } from '../engine/index.js';

/** A tensor's values on the host: row-major data and its shape. */
export type HostTensor = { shape: number[]; data: Float32Array | Int32Array };

/** A layer or network: named parameters, buffers and child modules (PyTorch's state_dict names), train/eval mode. */
export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  abstract forward(x: Tensor): Tensor;

  protected registerParameter(name: string, t: Tensor): Tensor {
    this.params.set(name, t);
    return t;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.buffers.set(name, t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** This module and all its descendants, depth first. */
  modules(): Module[] {
    return [this, ...[...this.children.values()].flatMap((m) => m.modules())];
  }

  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [...this.params].map(([n, t]) => [prefix + n, t]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [...this.buffers].map(([n, t]) => [prefix + n, t]);
    for (const [n, m] of this.children) out.push(...m.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  parameterCount(): number {
    return this.parameters().reduce((s, t) => s + t.size, 0);
  }

  /** Hook: bring buffers up to date before they are read as state (e.g. host-side counters). */
  protected beforeStateDict(): void {}

  /** Hook: update host-side state after loadStateDict replaced this module's tensors. */
  protected afterLoadStateDict(_state: Map<string, HostTensor>, _prefix: string): void {}

  /** Parameters and buffers by name, in registration order (PyTorch's state_dict order). */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const visit = (m: Module, prefix: string) => {
      m.beforeStateDict();
      for (const [n, t] of m.params) out.set(prefix + n, t);
      for (const [n, t] of m.buffers) out.set(prefix + n, t);
      for (const [n, c] of m.children) visit(c, `${prefix}${n}.`);
    };
    visit(this, '');
    return out;
  }

  /** Reads every parameter and buffer back to the host (for checkpoints). */
  async stateDictData(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [name, t] of this.stateDict()) {
      const data = await t.data();
      out.set(name, {
        shape: [...t.shape],
        data: t.dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data),
      });
    }
    return out;
  }

  /** Replaces every parameter and buffer from host arrays; names and shapes must match exactly. */
  loadStateDict(state: Map<string, HostTensor>, source = 'state dict'): void {
    const mine = this.stateDict();
    const problems: string[] = [];
    for (const [name, t] of mine) {
      const s = state.get(name);
      if (!s) problems.push(`missing tensor ${name} [${t.shape.join(', ')}]`);
      else if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i]))
        problems.push(`tensor ${name}: expected shape [${t.shape.join(', ')}], got [${s.shape.join(', ')}]`);
    }
    for (const name of state.keys()) if (!mine.has(name)) problems.push(`unexpected tensor ${name}`);
    if (problems.length) throw new Error(`${source} does not fit this model:\n  ${problems.join('\n  ')}`);
    noGrad(() => {
      for (const [name, t] of mine) {
        const s = state.get(name)!;
        t.assign(tensor(s.data, s.shape, t.dtype));
      }
    });
    const visit = (m: Module, prefix: string) => {
      m.afterLoadStateDict(state, prefix);
      for (const [n, c] of m.children) visit(c, `${prefix}${n}.`);
    };
    visit(this, '');
  }

  train(mode = true): this {
    this.training = mode;
    for (const m of this.children.values()) m.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    for (const t of this.buffers.values()) t.dispose();
    for (const m of this.children.values()) m.dispose();
  }
}
