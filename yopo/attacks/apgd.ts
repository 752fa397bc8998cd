// APGD (Croce & Hein, ICML 2020, Algorithm 1), as in the reference code (autoattack/autopgd_base.py):
//
//   x⁽⁰⁾ random in the ball; η = 2ε; momentum α = 0.75
//   z⁽ᵏ⁺¹⁾ = P(x⁽ᵏ⁾ + η·d(∇L(x⁽ᵏ⁾)))                     d = sign (L∞) or g/‖g‖₂ (L2), P onto ball ∩ [0,1]
//   x⁽ᵏ⁺¹⁾ = P(x⁽ᵏ⁾ + α(z⁽ᵏ⁺¹⁾ − x⁽ᵏ⁾) + (1 − α)(x⁽ᵏ⁾ − x⁽ᵏ⁻¹⁾))   (α = 1 at the first step)
//   at each checkpoint w_j: halve η (and restart from the best point) where
//     (1) the loss rose in at most ρ = 0.75 of the steps since the last checkpoint, or
//     (2) η was not halved at the last checkpoint and the best loss has not improved since.
//
// APGD-CE ascends the cross-entropy; APGD-T the targeted DLR loss towards each of the top-9 other
// classes of the clean logits in turn. Every run attacks only the examples still classified correctly.

import {
  type Random,
  Tape,
  type Tensor,
  add,
  addScalar,
  argmax,
  cast,
  eq,
  keep,
  mul,
  rand,
  randn,
  scale,
  sub,
  sum,
  tensor,
  tidy,
  where,
} from '../../engine/index.js';
import type { Classifier } from '../../nn/index.js';
import { type Norm, ascentDirection, normalizePerExample, perturbed, projectToBall } from '../perturbation.js';
import { crossEntropyPerExample, dlrLoss, oneHotRows, targetedDlrLoss } from './dlr.js';
import {
  correctOf,
  gatherLabels,
  gatherRows,
  indicesWhere,
  logitsOf,
  paddedIndices,
  perExample,
  scatterRows,
} from './rows.js';

/** APGD's loss: cross-entropy (APGD-CE), the DLR loss (APGD-DLR) or the targeted DLR loss (APGD-T). */
export type ApgdLoss = 'ce' | 'dlr' | 'dlr-targeted';

/** Options of apgdAttack: radius eps (in input units, inputs in [0, 1]) in the given norm; loss defaults to 'ce', steps to 100, restarts to 1, ρ to 0.75. */
export interface ApgdOptions {
  eps: number;
  norm: Norm;
  loss?: ApgdLoss;
  /** Iterations per run (100 in AutoAttack). */
  steps?: number;
  /** Random restarts (1 in AutoAttack's standard version). For the targeted loss: per target class. */
  restarts?: number;
  /** Target classes for the targeted loss: the 2nd, 3rd, ... largest clean logits (9 in AutoAttack). */
  targets?: number;
  /** Fraction of rising steps below which the step size halves (ρ = 0.75). */
  rho?: number;
}

/** The iterations (0-based) after which APGD checks its step size: w_j = ⌈p_j·N⌉ − 1 with
 *  p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06), computed as the reference code does. */
export function apgdCheckpoints(steps: number): number[] {
  const sizeDecrease = Math.max(Math.floor(0.03 * steps), 1);
  const minLength = Math.max(Math.floor(0.06 * steps), 1);
  let k = Math.max(Math.floor(0.22 * steps), 1);
  const out: number[] = [];
  for (let i = k - 1; i < steps; i += k) {
    out.push(i);
    k = Math.max(k - sizeDecrease, minLength);
  }
  return out;
}

/** Oscillation test (1): in the last k steps the loss rose in at most ρ·k of them. lossSteps[-1] reads as 0, as in the reference. */
function oscillating(
  lossSteps: Float32Array<ArrayBufferLike>[],
  i: number,
  k: number,
  example: number,
  rho: number,
): boolean {
  let rises = 0;
  for (let c = 0; c < k; c++) {
    const now = lossSteps[i - c][example];
    const before = i - c - 1 >= 0 ? lossSteps[i - c - 1][example] : lossSteps[lossSteps.length - 1][example];
    if (now > before) rises++;
  }
  return rises <= k * rho;
}

interface LossAndGradient {
  loss: Float32Array<ArrayBufferLike>;
  correct: Uint8Array;
  grad: Tensor;
}

/** Per-example loss at x, whether x is still classified correctly, and ∇x Σ loss. */
async function lossAndGradient(
  model: Classifier,
  x: Tensor,
  labels: Int32Array,
  lossOf: (z: Tensor) => Tensor,
): Promise<LossAndGradient> {
  const { loss, correct, grad } = tidy(() => {
    const tape = new Tape();
    let logits!: Tensor;
    let perExampleLoss!: Tensor;
    const total = tape.record(() => {
      logits = model.forward(x);
      perExampleLoss = lossOf(logits);
      return sum(perExampleLoss);
    });
    const [g] = tape.gradient(total, [x]);
    const right = eq(cast(argmax(logits, 1), 'float32'), tensor(Float32Array.from(labels)));
    return { loss: perExampleLoss, correct: right, grad: g };
  });
  const lossHost = (await loss.data()) as Float32Array;
  const correctHost = Uint8Array.from(await correct.data(), (v) => (v > 0.5 ? 1 : 0));
  loss.dispose();
  correct.dispose();
  return { loss: lossHost, correct: correctHost, grad };
}

/** Replaces the tensor in a slot, disposing the old one. */
function swap(old: Tensor, next: Tensor): Tensor {
  old.dispose();
  return keep(next);
}

/** One APGD run on a batch where every example is to be attacked. Returns which examples were fooled and the fooling inputs. */
async function apgdRun(
  model: Classifier,
  x: Tensor,
  labels: Int32Array,
  lossOf: (z: Tensor) => Tensor,
  o: Required<Omit<ApgdOptions, 'targets' | 'restarts' | 'loss'>>,
  rng: Random,
) {
  const { eps, norm, steps, rho } = o;
  const b = labels.length;
  const rank = x.rank;
  // The start: a random point of the ball's surface direction (AutoAttack's normalize(t)·ε), clipped to [0, 1].
  let xAdv = keep(
    tidy(() => {
      const t = norm === 'linf' ? rand(x.shape, rng, -1, 1) : randn(x.shape, rng);
      return perturbed(x, scale(normalizePerExample(t, norm), eps));
    }),
  );
  let xAdvOld = keep(tidy(() => addScalar(xAdv, 0)));
  let xBest = keep(tidy(() => addScalar(xAdv, 0)));
  let xBestAdv = keep(tidy(() => addScalar(xAdv, 0)));
  let { loss, correct, grad }: LossAndGradient = await lossAndGradient(model, xAdv, labels, lossOf);
  grad = keep(grad);
  let gradBest = keep(tidy(() => addScalar(grad, 0)));
  const stillCorrect = Uint8Array.from(correct);
  const lossBest = Float32Array.from(loss);
  const lossSteps: Float32Array<ArrayBufferLike>[] = Array.from({ length: steps }, () => new Float32Array(b));
  const stepSize = new Float32Array(b).fill(2 * eps);
  let lossBestLastCheck = Float32Array.from(lossBest);
  let reducedLastCheck = new Uint8Array(b).fill(1);
  const checkpoints = new Set(apgdCheckpoints(steps));
  let sinceCheck = 0;
  for (let i = 0; i < steps; i++) {
    const momentum = i > 0 ? 0.75 : 1;
    const next = tidy(() => {
      const eta = perExample(stepSize, rank);
      const previousMove = sub(xAdv, xAdvOld);
      const z = perturbed(x, projectToBall(sub(add(xAdv, mul(eta, ascentDirection(grad, norm))), x), eps, norm));
      const moved = add(add(xAdv, scale(sub(z, xAdv), momentum)), scale(previousMove, 1 - momentum));
      return perturbed(x, projectToBall(sub(moved, x), eps, norm));
    });
    xAdvOld = swap(xAdvOld, xAdv);
    xAdv = keep(next);
    ({ loss, correct, grad } = await lossAndGradient(model, xAdv, labels, lossOf));
    grad = keep(grad);
    // The latest misclassified point is kept (x_best_adv), and the highest-loss point to restart from (x_best).
    const fooledNow = Uint8Array.from(correct, (c) => 1 - c);
    for (let e = 0; e < b; e++) stillCorrect[e] &= correct[e];
    const improved = Uint8Array.from(loss, (l, e) => (l > lossBest[e] ? 1 : 0));
    lossSteps[i] = loss;
    for (let e = 0; e < b; e++) if (improved[e]) lossBest[e] = loss[e];
    if (fooledNow.some((f) => f))
      xBestAdv = swap(
        xBestAdv,
        tidy(() => where(perExample(fooledNow, rank), xAdv, xBestAdv)),
      );
    if (improved.some((f) => f)) {
      const improvedMask = tidy(() => perExample(improved, rank));
      xBest = swap(
        xBest,
        tidy(() => where(improvedMask, xAdv, xBest)),
      );
      gradBest = swap(
        gradBest,
        tidy(() => where(improvedMask, grad, gradBest)),
      );
      improvedMask.dispose();
    }
    sinceCheck++;
    if (checkpoints.has(i)) {
      const halve = new Uint8Array(b);
      for (let e = 0; e < b; e++) {
        const noImprovement = !reducedLastCheck[e] && lossBestLastCheck[e] >= lossBest[e];
        halve[e] = oscillating(lossSteps, i, sinceCheck, e, rho) || noImprovement ? 1 : 0;
        if (halve[e]) stepSize[e] /= 2;
      }
      reducedLastCheck = halve;
      lossBestLastCheck = Float32Array.from(lossBest);
      if (halve.some((h) => h)) {
        const halveMask = tidy(() => perExample(halve, rank));
        xAdv = swap(
          xAdv,
          tidy(() => where(halveMask, xBest, xAdv)),
        );
        grad = swap(
          grad,
          tidy(() => where(halveMask, gradBest, grad)),
        );
        halveMask.dispose();
      }
      sinceCheck = 0;
    }
  }
  for (const t of [xAdv, xAdvOld, xBest, grad, gradBest]) t.dispose();
  return { fooled: Uint8Array.from(stillCorrect, (c) => 1 - c), adversarial: xBestAdv };
}

/** Target class of each example: the k-th largest clean logit (k = 2 is the runner-up). */
function kthLargestClass(logits: Float32Array, classes: number, k: number): Int32Array {
  const rows = logits.length / classes;
  return Int32Array.from({ length: rows }, (_, i) => {
    const order = Array.from({ length: classes }, (_, c) => c).sort(
      (a, c) => logits[i * classes + c] - logits[i * classes + a],
    );
    return order[k - 1];
  });
}

/**
 * APGD-CE (loss 'ce'), APGD-DLR ('dlr') or APGD-T ('dlr-targeted'). Returns adversarial inputs within the
 * ε-ball and [0, 1]: for each example the first misclassified point found, or x itself where none was.
 */
export async function apgdAttack(
  model: Classifier,
  x: Tensor,
  labels: Int32Array,
  options: ApgdOptions,
  rng: Random,
): Promise<Tensor> {
  const o = { eps: options.eps, norm: options.norm, steps: options.steps ?? 100, rho: options.rho ?? 0.75 };
  const loss = options.loss ?? 'ce';
  const restarts = options.restarts ?? 1;
  const classes = model.classes;
  const per = x.size / x.shape[0];
  const xHost = Float32Array.from((await x.data()) as Float32Array);
  const adv = Float32Array.from(xHost);
  const cleanLogits = await logitsOf(model, xHost, x.shape);
  const robust = correctOf(cleanLogits, labels, classes);
  const targetRanks =
    loss === 'dlr-targeted'
      ? Array.from({ length: Math.min(options.targets ?? 9, classes - 1) }, (_, i) => i + 2)
      : [0];
  for (const rank of targetRanks) {
    for (let r = 0; r < restarts; r++) {
      const idx = indicesWhere(robust);
      if (idx.length === 0) break;
      // Padded to a size of paddedIndices's ladder: each target and restart leaves fewer rows, and each new size compiles.
      // Only the first idx.length rows of the run are used.
      const rows = paddedIndices(idx);
      const sub = tensor(gatherRows(xHost, per, rows), [rows.length, ...x.shape.slice(1)]);
      const y = gatherLabels(labels, rows);
      const onehotY = oneHotRows(y, classes);
      let onehotTarget: Tensor | null = null;
      if (loss === 'dlr-targeted')
        onehotTarget = oneHotRows(kthLargestClass(gatherRows(cleanLogits, classes, rows), classes, rank), classes);
      const lossOf = (z: Tensor) =>
        loss === 'ce'
          ? crossEntropyPerExample(z, onehotY)
          : loss === 'dlr'
            ? dlrLoss(z, onehotY)
            : targetedDlrLoss(z, onehotY, onehotTarget!);
      const run = await apgdRun(model, sub, y, lossOf, o, rng);
      const found = (await run.adversarial.data()) as Float32Array;
      scatterRows(adv, per, idx, found, run.fooled);
      idx.forEach((e, i) => {
        if (run.fooled[i]) robust[e] = 0;
      });
      for (const t of [sub, onehotY, run.adversarial]) t.dispose();
      onehotTarget?.dispose();
    }
  }
  return tensor(adv, x.shape);
}
