// Clean and robust accuracy of a model (eval mode throughout; docs/algorithm.md, "Evaluation").
// The attack is a sequence of stages (attacks/registry.ts); each runs only on the examples that every
// earlier stage failed on, so an example counts as robust only if every stage (and restart) fails on
// it: the per-example worst case. The adversarial inputs are re-classified at the end and checked to
// lie in the ε-ball and [0, 1], so a number never rests on an attack's own bookkeeping.

import { Random, tensor } from '../engine/index.js';
import type { Classifier } from '../nn/index.js';
import { type AttackContext, type Stage, parseStages } from './attacks/registry.js';
import {
  argmaxRows,
  correctOf,
  gatherLabels,
  gatherRows,
  indicesWhere,
  logitsOf,
  paddedIndices,
  scatterRows,
} from './attacks/rows.js';
import { wilsonInterval } from './interval.js';
import type { Norm } from './perturbation.js';

/** A parsed evaluation attack: its name, radius ε (input units, inputs in [0, 1]; 0 for 'none'), norm and stages. */
export interface AttackSpec {
  /** 'pgd-20', 'apgd-ce+apgd-t', 'none', ... */
  name: string;
  eps: number;
  norm: Norm;
  stages: Stage[];
}

/** 'pgd-20', 'cw-30', 'fgsm', 'apgd-ce+apgd-t', 'autoattack' with the threat model's ε and PGD step size. */
export function parseAttack(spec: string, eps: number, alpha: number, restarts = 1, norm: Norm = 'linf'): AttackSpec {
  // A zero-strength attack would report robust accuracy = clean accuracy: refuse it rather than mislead.
  for (const part of spec.split('+')) {
    const steps = /^(pgd|cw)-(\d+)$/.exec(part);
    if (steps && Number(steps[2]) < 1)
      throw new Error(`attack '${part}' takes no step; use at least ${steps[1]}-1, or 'none' for clean accuracy only`);
    if (steps && !(alpha > 0))
      throw new Error(`attack '${part}' with step size ${alpha} never moves; use a positive step`);
  }
  if (spec !== 'none' && !(eps > 0))
    throw new Error(
      `attack '${spec}' with ε = ${eps} changes no image; use a positive ε, or 'none' for clean accuracy only`,
    );
  const context: AttackContext = { eps, norm, alpha, restarts };
  const stages = parseStages(spec, context);
  return {
    name: stages.length ? stages.map((s) => s.name).join('+') : 'none',
    eps: stages.length ? eps : 0,
    norm,
    stages,
  };
}

/** The attack's name as reported (e.g. 'apgd-ce+apgd-t', 'none'). */
export function attackName(a: AttackSpec): string {
  return a.name;
}

/** Whether every stage is a quick attack (FGSM, PGD ≤ 40 steps with one restart): not a reportable number. */
export function isQuickAttack(a: AttackSpec): boolean {
  return a.stages.length > 0 && a.stages.every((s) => s.quick);
}

/** Printed once beside a number from a quick attack. */
export const QUICK_ATTACK_NOTE =
  "note: a quick attack (FGSM/PGD with at most 40 steps and one restart) overstates robustness; for a reportable number run 'yopo eval --attack autoattack'";

/** Images to evaluate on: count images of shape [C, H, W] (NCHW f32 in [0, 1]) and their labels. */
export interface EvalData {
  images: Float32Array;
  labels: Int32Array;
  count: number;
  shape: readonly [number, number, number];
}

/** One example's outcome. */
export interface ExampleResult {
  index: number;
  label: number;
  clean_pred: number;
  adv_pred: number;
  /** The stage that first broke it (null: robust, or already wrong on the clean input). */
  broken_by: string | null;
  linf: number;
  l2: number;
}

/** Clean and robust accuracy (fractions in [0, 1]) over n images under one attack, with intervals, per-stage accuracies and optional per-example results. */
export interface EvalResult {
  clean_accuracy: number;
  robust_accuracy: number;
  attack: string;
  eps: number;
  norm: Norm;
  n: number;
  /** 95% Wilson intervals of the two accuracies. */
  clean_interval: [number, number];
  robust_interval: [number, number];
  /** Robust accuracy after each stage (cumulative) and the wall time the stage took over all batches. */
  stages: { attack: string; robust_accuracy: number; seconds: number }[];
  /** Per-example outcomes and adversarial inputs, when asked for (options.keepExamples). */
  examples?: ExampleResult[];
  adversarial?: Float32Array;
}

/** Options of evaluate: batch size (default 200), image limit, seed (default 0), progress callback, per-example results, time budget. */
/** One stage's work on one batch: images [first, first + count) of which `attacked` were still robust, `broken` of them fooled. */
export interface StageReport {
  first: number;
  count: number;
  attack: string;
  attacked: number;
  broken: number;
  seconds: number;
}

export interface EvaluateOptions {
  batchSize?: number;
  limit?: number;
  seed?: number;
  onBatch?: (done: number, total: number) => void;
  /** After each stage of each batch (a stage can take minutes on a software adapter). */
  onStage?: (report: StageReport) => void;
  /** Keep per-example results and the adversarial inputs (memory: one copy of the evaluated images). */
  keepExamples?: boolean;
  /** Start no batch expected (at the mean batch time so far) to end after this many seconds; n counts the images evaluated. */
  timeBudgetS?: number;
}

/** Per-example ‖adv − x‖∞ and ‖adv − x‖₂. */
function perturbationNorms(x: Float32Array, adv: Float32Array, per: number, i: number): { linf: number; l2: number } {
  let linf = 0;
  let sq = 0;
  for (let j = i * per; j < (i + 1) * per; j++) {
    const d = Math.abs(adv[j] - x[j]);
    linf = Math.max(linf, d);
    sq += d * d;
  }
  return { linf, l2: Math.sqrt(sq) };
}

/** Clean and robust accuracy of the model (in eval mode, restored after) on up to `limit` images of data (fewer when the time budget ends it), in batches, under the attack. */
export async function evaluate(
  model: Classifier,
  data: EvalData,
  attack: AttackSpec,
  options: EvaluateOptions = {},
): Promise<EvalResult> {
  const limit = Math.min(options.limit ?? data.count, data.count);
  const started = Date.now();
  let n = 0;
  const batchSize = options.batchSize ?? 200;
  const rng = new Random(options.seed ?? 0);
  const shape = data.shape;
  const per = shape[0] * shape[1] * shape[2];
  const classes = model.classes;
  const wasTraining = model.training;
  model.eval();
  let clean = 0;
  let robust = 0;
  const stageRobust = attack.stages.map(() => 0);
  const stageSeconds = attack.stages.map(() => 0);
  const examples: ExampleResult[] = [];
  const adversarial = options.keepExamples ? new Float32Array(limit * per) : undefined;
  try {
    for (let start = 0; start < limit; start += batchSize) {
      const elapsed = (Date.now() - started) / 1000;
      if (
        options.timeBudgetS !== undefined &&
        start > 0 &&
        elapsed + elapsed / (start / batchSize) > options.timeBudgetS
      )
        break;
      const b = Math.min(batchSize, limit - start);
      n = start + b;
      const labels = data.labels.slice(start, start + b);
      const x = data.images.slice(start * per, (start + b) * per);
      const cleanPred = argmaxRows(await logitsOf(model, x, [b, ...shape]), classes);
      const stillRobust = Uint8Array.from(cleanPred, (p, i) => (p === labels[i] ? 1 : 0));
      clean += stillRobust.reduce((s, v) => s + v, 0);
      const adv = Float32Array.from(x);
      const brokenBy: (string | null)[] = new Array(b).fill(null);
      for (let s = 0; s < attack.stages.length; s++) {
        const stage = attack.stages[s];
        const idx = indicesWhere(stillRobust);
        const stageStarted = performance.now();
        if (idx.length > 0) {
          // Padded to a size of paddedIndices's ladder (at most the batch size): fewer sizes to compile kernels for.
          const rows = paddedIndices(idx, batchSize);
          const subLabels = gatherLabels(labels, rows);
          const sub = tensor(gatherRows(x, per, rows), [rows.length, ...shape]);
          const found = await stage.run(model, sub, subLabels, rng);
          const foundAll = (await found.data()) as Float32Array;
          sub.dispose();
          found.dispose();
          const fooledAll = correctOf(await logitsOf(model, foundAll, [rows.length, ...shape]), subLabels, classes).map(
            (v) => 1 - v,
          );
          // Only the first idx.length rows are real; the padding repeats the first of them.
          const foundHost = foundAll.subarray(0, idx.length * per);
          const fooled = fooledAll.subarray(0, idx.length);
          scatterRows(adv, per, idx, foundHost, fooled);
          idx.forEach((e, i) => {
            if (!fooled[i]) return;
            stillRobust[e] = 0;
            brokenBy[e] = stage.name;
          });
        }
        const robustAfter = stillRobust.reduce((acc, v) => acc + v, 0);
        stageRobust[s] += robustAfter;
        const seconds = (performance.now() - stageStarted) / 1000;
        stageSeconds[s] += seconds;
        options.onStage?.({
          first: start,
          count: b,
          attack: stage.name,
          attacked: idx.length,
          broken: idx.length - robustAfter,
          seconds,
        });
      }
      // The final verdict: the stored adversarial inputs, classified again, inside the threat model.
      const advPred = attack.stages.length ? argmaxRows(await logitsOf(model, adv, [b, ...shape]), classes) : cleanPred;
      for (let i = 0; i < b; i++) {
        const size = perturbationNorms(x, adv, per, i);
        const bound = attack.norm === 'linf' ? size.linf : size.l2;
        if (bound > attack.eps * (1 + 1e-5) + 1e-6)
          throw new Error(
            `evaluate: ${brokenBy[i]} returned a perturbation of ${attack.norm} norm ${bound} > ε = ${attack.eps} (example ${start + i})`,
          );
        if (advPred[i] === labels[i]) robust++;
        if (options.keepExamples)
          examples.push({
            index: start + i,
            label: labels[i],
            clean_pred: cleanPred[i],
            adv_pred: advPred[i],
            broken_by: brokenBy[i],
            ...size,
          });
      }
      adversarial?.set(adv, start * per);
      options.onBatch?.(start + b, limit);
    }
  } finally {
    model.train(wasTraining);
  }
  return {
    clean_accuracy: clean / n,
    robust_accuracy: robust / n,
    attack: attack.name,
    eps: attack.eps,
    norm: attack.norm,
    n,
    clean_interval: wilsonInterval(clean, n),
    robust_interval: wilsonInterval(robust, n),
    stages: attack.stages.map((s, i) => ({
      attack: s.name,
      robust_accuracy: stageRobust[i] / n,
      seconds: stageSeconds[i],
    })),
    ...(options.keepExamples ? { examples, adversarial: adversarial!.subarray(0, n * per) } : {}),
  };
}
