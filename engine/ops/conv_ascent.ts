// YOPO's inner step on a conv (+bias)(+ReLU) first layer f0 as one op (Backend.convAscent): with
// a = clip(x + η, 0, 1),
//   convHamiltonianGradient = ∇η Σ p·f0(a)            (zero where x + η is outside [0, 1])
//   convSignAscentStep      = Π(η + σ·sign(∇η Σ p·f0(a)))   (Π: the ε-ball, then x + η ∈ [0, 1])
// The same values as the op-by-op path (yopo/first_layer.ts), in one or two kernels. Not
// differentiable: the result is an adversary's step, never part of a loss.

import type { ConvAscentOptions } from '../backend.js';
import { shapeString } from '../shape.js';
import { isRecording } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { conv2dShape } from './conv.js';
import { backendOf, requireFloat, wrap } from './util.js';

/** The first layer f0 = conv2d(·, weight, bias, stride, padding), then ReLU when `relu`. */
export interface ConvFirstLayer {
  weight: Tensor;
  bias: Tensor | null;
  stride: number;
  padding: number;
  relu: boolean;
}

/** Checks the operands of a fused first-layer op; returns the conv's shape and backend. */
function checked(op: string, x: Tensor, eta: Tensor, p: Tensor, f: ConvFirstLayer) {
  if (isRecording())
    throw new Error(
      `${op}: not differentiable; call it outside Tape.record (it computes an adversary's step, not a loss)`,
    );
  const inputs = f.bias ? [x, eta, p, f.weight, f.bias] : [x, eta, p, f.weight];
  requireFloat(op, ...inputs);
  const s = conv2dShape(x.shape, f.weight.shape, f.stride, f.padding);
  const where = `${op}: x ${shapeString(x.shape)}`;
  if (shapeString(eta.shape) !== shapeString(x.shape))
    throw new Error(`${where}, η ${shapeString(eta.shape)}: η must have x's shape`);
  const zShape = [s.batch, s.outChannels, s.outHeight, s.outWidth];
  if (shapeString(p.shape) !== shapeString(zShape))
    throw new Error(
      `${where}, p ${shapeString(p.shape)}: p must have the first layer's output shape ${shapeString(zShape)}`,
    );
  if (f.bias && (f.bias.rank !== 1 || f.bias.shape[0] !== s.outChannels))
    throw new Error(`${where}: bias ${shapeString(f.bias.shape)} does not match ${s.outChannels} output channels`);
  if (x.size === 0 || p.size === 0)
    throw new Error(`${where}, p ${shapeString(p.shape)}: empty tensors have no step to take`);
  return { s, where, backend: backendOf(op, ...inputs) };
}

function convAscent(
  op: string,
  x: Tensor,
  eta: Tensor,
  p: Tensor,
  f: ConvFirstLayer,
  o: Omit<ConvAscentOptions, 'relu'>,
): Tensor {
  const { s, backend } = checked(op, x, eta, p, f);
  return wrap(
    backend,
    backend.convAscent(x.storage, eta.storage, p.storage, f.weight.storage, f.bias?.storage ?? null, s, {
      ...o,
      relu: f.relu,
    }),
    x.shape,
  );
}

/** ∇η Σ p·f0(clip(x + η, 0, 1)) for a conv (+ReLU) first layer f0, in one or two kernels; shaped as x. */
export function convHamiltonianGradient(x: Tensor, eta: Tensor, p: Tensor, f: ConvFirstLayer): Tensor {
  return convAscent('convHamiltonianGradient', x, eta, p, f, { output: 'gradient', sigma: 0, eps: 0 });
}

/** Π(η + σ·sign(∇η Σ p·f0(clip(x + η, 0, 1)))) onto ‖η‖∞ ≤ ε and x + η ∈ [0, 1]: YOPO's L∞ inner step, fused. */
export function convSignAscentStep(
  x: Tensor,
  eta: Tensor,
  p: Tensor,
  f: ConvFirstLayer,
  sigma: number,
  eps: number,
): Tensor {
  if (!(sigma >= 0) || !(eps >= 0))
    throw new Error(`convSignAscentStep: step σ = ${sigma} and radius ε = ${eps} must be non-negative numbers`);
  return convAscent('convSignAscentStep', x, eta, p, f, { output: 'linfStep', sigma, eps });
}

// Within one full pass p is frozen and few ReLU bits move from step to step, so a ReLU layer's steps can
// start from a base computed once at the pass's η: its bits m₀ and Wᵀ(p ⊙ m₀). Each step then corrects
// Wᵀ(p ⊙ m₀) only where its own bits differ (kernels/conv_ascent.ts). The same values as convAscent.

/** The ReLU bits m₀ at η (int32 words [batch, ⌈O/32⌉, H′, W′]) and Wᵀ(p ⊙ m₀) (shaped as x, no clip). */
export interface ConvAscentBase {
  bits: Tensor;
  gradient: Tensor;
}

/** The base of a ReLU conv first layer's steps at η, for the frozen p. */
export function convAscentBase(x: Tensor, eta: Tensor, p: Tensor, f: ConvFirstLayer): ConvAscentBase {
  const { s, where, backend } = checked('convAscentBase', x, eta, p, f);
  if (!f.relu)
    throw new Error(
      `${where}: the first layer has no ReLU; a linear layer's steps need only Wᵀp (conv2dInputGradient)`,
    );
  const bits = wrap(
    backend,
    backend.convReluBits(x.storage, eta.storage, f.weight.storage, f.bias?.storage ?? null, s),
    [s.batch, Math.ceil(s.outChannels / 32), s.outHeight, s.outWidth],
    'int32',
  );
  return {
    bits,
    gradient: wrap(backend, backend.convMaskedInputGradient(p.storage, bits.storage, f.weight.storage, s), x.shape),
  };
}

function convAscentFrom(
  op: string,
  x: Tensor,
  eta: Tensor,
  p: Tensor,
  f: ConvFirstLayer,
  base: ConvAscentBase,
  o: Omit<ConvAscentOptions, 'relu'>,
): Tensor {
  const { s, where, backend } = checked(op, x, eta, p, f);
  if (!f.relu) throw new Error(`${where}: the first layer has no ReLU, so there are no bits to correct`);
  const bitsShape = [s.batch, Math.ceil(s.outChannels / 32), s.outHeight, s.outWidth];
  if (base.bits.dtype !== 'int32' || shapeString(base.bits.shape) !== shapeString(bitsShape))
    throw new Error(
      `${where}: base bits ${base.bits.dtype}${shapeString(base.bits.shape)} must be int32 ${shapeString(bitsShape)} (from convAscentBase)`,
    );
  if (shapeString(base.gradient.shape) !== shapeString(x.shape))
    throw new Error(`${where}: base gradient ${shapeString(base.gradient.shape)} must have x's shape`);
  requireFloat(op, base.gradient);
  backendOf(op, x, base.bits, base.gradient);
  return wrap(
    backend,
    backend.convAscentFrom(
      x.storage,
      eta.storage,
      p.storage,
      f.weight.storage,
      f.bias?.storage ?? null,
      base.bits.storage,
      base.gradient.storage,
      s,
      o,
    ),
    x.shape,
  );
}

/** convHamiltonianGradient for a ReLU conv f0, from the pass's base (convAscentBase with the same p). */
export function convHamiltonianGradientFrom(
  x: Tensor,
  eta: Tensor,
  p: Tensor,
  f: ConvFirstLayer,
  base: ConvAscentBase,
): Tensor {
  return convAscentFrom('convHamiltonianGradientFrom', x, eta, p, f, base, { output: 'gradient', sigma: 0, eps: 0 });
}

/** convSignAscentStep for a ReLU conv f0, from the pass's base (convAscentBase with the same p). */
export function convSignAscentStepFrom(
  x: Tensor,
  eta: Tensor,
  p: Tensor,
  f: ConvFirstLayer,
  base: ConvAscentBase,
  sigma: number,
  eps: number,
): Tensor {
  if (!(sigma >= 0) || !(eps >= 0))
    throw new Error(`convSignAscentStepFrom: step σ = ${sigma} and radius ε = ${eps} must be non-negative numbers`);
  return convAscentFrom('convSignAscentStepFrom', x, eta, p, f, base, { output: 'linfStep', sigma, eps });
}
