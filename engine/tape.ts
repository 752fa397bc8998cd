// Reverse-mode autodiff with an explicit tape, in the spirit of micrograd: every op run while a tape
// is recording appends (inputs, output, vjp); gradient() walks the entries backwards. The gradient can
// be taken with respect to ANY tensor seen by the tape: parameters, inputs, or an intermediate such as
// the first layer's output (YOPO's p). VJPs are written with ops, so they run on every backend; they
// run with recording paused (noGrad), so a gradient is not itself recorded (no second derivatives).
//
//   const tape = new Tape();
//   const loss = tape.record(() => crossEntropy(model.forward(x), y));
//   const [gW, gX] = tape.gradient(loss, [w, x]);
//
// Use it inside tidy(): the tape keeps intermediate tensors alive until the scope ends.

import { onesLike, zerosLike } from './ops/creation.js';
import { binaryUntaped } from './ops/untaped.js';
import type { Tensor } from './tensor.js';

/**
 * Maps the gradient of an op's output to the gradients of its inputs (null: no gradient flows).
 * `needed[i]` says whether input i's gradient is wanted; an expensive VJP (conv, matmul) skips the
 * others, so e.g. YOPO's inner loop never computes a weight gradient it does not use.
 */
export type Vjp = (dy: Tensor, needed: readonly boolean[]) => (Tensor | null)[];

interface Entry {
  inputs: readonly Tensor[];
  output: Tensor;
  vjp: Vjp;
}

let recording: Tape | null = null;

/** Called by ops after computing `output`: records how to differentiate it if a tape is recording. */
export function recordOp(output: Tensor, inputs: readonly Tensor[], vjp: Vjp): void {
  recording?.entries.push({ inputs, output, vjp });
}

/** Whether an op run now would be recorded by a tape (inside Tape.record and outside noGrad). */
export function isRecording(): boolean {
  return recording !== null;
}

/** Runs fn with recording paused: for work that must not be differentiated (updates, metrics). */
export function noGrad<T>(fn: () => T): T {
  const saved = recording;
  recording = null;
  try {
    return fn();
  } finally {
    recording = saved;
  }
}

/** Records ops run inside record() and computes vector-Jacobian products of any recorded output with respect to any tensor it saw. */
export class Tape {
  readonly entries: Entry[] = [];

  /** Records every op that fn runs. Tapes do not nest: record one computation at a time. */
  record<T>(fn: () => T): T {
    if (recording)
      throw new Error('Tape.record: another tape is already recording; finish it first (tapes do not nest)');
    recording = this;
    try {
      return fn();
    } finally {
      recording = null;
    }
  }

  /**
   * Gradients of `target` with respect to each tensor in `wrt`. For a non-scalar target pass `seed`,
   * the cotangent (same shape as target): this computes the vector-Jacobian product seedᵀ·∂target/∂wrt.
   * A tensor in `wrt` that `target` does not depend on gets zeros.
   */
  gradient(target: Tensor, wrt: readonly Tensor[], seed?: Tensor): Tensor[] {
    if (!seed && target.size !== 1) {
      throw new Error(
        `Tape.gradient: target has shape [${target.shape.join(', ')}]; pass a seed (cotangent) for a non-scalar target`,
      );
    }
    if (seed && (seed.size !== target.size || seed.dtype !== target.dtype)) {
      throw new Error(
        `Tape.gradient: seed of shape [${seed.shape.join(', ')}] does not match target of shape [${target.shape.join(', ')}]`,
      );
    }
    // A target this tape never saw would get all-zero gradients: a silent wrong answer.
    if (!wrt.some((t) => t.id === target.id) && !this.entries.some((e) => e.output.id === target.id)) {
      throw new Error(
        `Tape.gradient: the target (shape [${target.shape.join(', ')}]) was not computed while this tape was recording; compute it inside tape.record(...)`,
      );
    }
    return noGrad(() => this.backward(target, wrt, seed ?? onesLike(target)));
  }

  private backward(target: Tensor, wrt: readonly Tensor[], seed: Tensor): Tensor[] {
    const wanted = new Set(wrt.map((t) => t.id));
    // Forward pass over the tape: which tensors depend on something in wrt? Only their VJPs matter.
    const dependsOnWrt = new Set(wanted);
    for (const e of this.entries) {
      if (e.inputs.some((t) => dependsOnWrt.has(t.id))) dependsOnWrt.add(e.output.id);
    }
    const grads = new GradientSlots(new Set([...wanted, target.id]));
    grads.set(target.id, seed);
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      const dy = grads.get(e.output.id);
      if (!dy || !dependsOnWrt.has(e.output.id)) continue;
      const inputGrads = e.vjp(
        dy,
        e.inputs.map((t) => dependsOnWrt.has(t.id)),
      );
      for (let j = 0; j < e.inputs.length; j++) {
        const input = e.inputs[j];
        const g = inputGrads[j];
        if (!g || !dependsOnWrt.has(input.id)) continue;
        const previous = grads.get(input.id);
        grads.set(input.id, previous ? binaryUntaped('add', previous, g) : g);
      }
      // The output's gradient has been passed on: free it unless the caller asked for it.
      grads.drop(e.output.id);
      for (const g of inputGrads) if (g) grads.disposeIfUnused(g);
    }
    return wrt.map((t) => grads.get(t.id) ?? zerosLike(t));
  }
}

/**
 * Gradient per tensor id. A VJP may hand the same tensor to several inputs (add passes dy through to
 * both sides), so a gradient tensor is disposed only when no slot holds it any more and it is not one
 * the caller asked for.
 */
class GradientSlots {
  private readonly byId = new Map<number, Tensor>();
  private readonly holders = new Map<Tensor, number>();

  constructor(private readonly keepIds: ReadonlySet<number>) {}

  get(id: number): Tensor | undefined {
    return this.byId.get(id);
  }

  set(id: number, g: Tensor): void {
    const old = this.byId.get(id);
    this.byId.set(id, g);
    this.holders.set(g, (this.holders.get(g) ?? 0) + 1);
    if (old) this.release(old);
  }

  drop(id: number): void {
    if (this.keepIds.has(id)) return;
    const old = this.byId.get(id);
    if (!old) return;
    this.byId.delete(id);
    this.release(old);
  }

  disposeIfUnused(g: Tensor): void {
    if (!this.holders.has(g)) g.dispose();
  }

  private release(g: Tensor): void {
    const n = (this.holders.get(g) ?? 1) - 1;
    if (n > 0) {
      this.holders.set(g, n);
      return;
    }
    this.holders.delete(g);
    g.dispose();
  }
}
