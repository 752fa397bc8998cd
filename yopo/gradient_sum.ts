// Σ of gradients over several backward passes, per parameter (YOPO sums m copies before one step).

import { type Tensor, add, keep, tidy } from '../engine/index.js';

/** Σ of gradients over several backward passes, per parameter (YOPO sums m copies before one step); dispose() frees the sums. */
export class GradientSum {
  private readonly sums = new Map<Tensor, Tensor>();

  /** Adds grads[i] to the running sum of params[i]. The grads are consumed. */
  add(params: readonly Tensor[], grads: readonly Tensor[]): void {
    params.forEach((p, i) => {
      const g = grads[i];
      const previous = this.sums.get(p);
      if (!previous) {
        this.sums.set(p, keep(g));
        return;
      }
      previous.assign(keep(tidy(() => add(previous, g))));
      g.dispose();
    });
  }

  /** The sums for these parameters, in order (a parameter never touched gets none: an error). */
  get(params: readonly Tensor[]): Tensor[] {
    return params.map((p) => {
      const s = this.sums.get(p);
      if (!s) throw new Error('GradientSum: a parameter received no gradient this step');
      return s;
    });
  }

  dispose(): void {
    for (const s of this.sums.values()) s.dispose();
    this.sums.clear();
  }
}
