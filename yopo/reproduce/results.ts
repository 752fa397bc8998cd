// The numbers of a `yopo reproduce` experiment, read back from its run folders (metrics.jsonl written by
// `yopo train`, reproduce_evaluations.jsonl written by run.ts): per method the steps and time per step,
// the curve at the marks under both attacks, the final checkpoints on the test images, whether the run
// collapsed, and how long each method took to reach the others' best. results.json is this, as JSON.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { wilsonInterval } from '../interval.js';
import { findPreset } from '../presets.js';
import type { MetricRecord } from '../report/index.js';
import type { Experiment, PaperPoint } from './experiments.js';
import {
  type ReproduceSettings,
  markEvaluations,
  readAddedEvaluations,
  readDivergence,
  readRunMetrics,
  runFolders,
} from './run.js';

/** An accuracy measured on n images, with its 95% Wilson interval. */
export interface Measured {
  accuracy: number;
  n: number;
  interval: [number, number];
}

/** One evaluation mark of a method: training time, the paper's attack (with clean accuracy) and the strong one. */
export interface MarkResult {
  step: number;
  elapsed_s: number;
  /** The 1-minute load average when `yopo train` evaluated the mark (null in logs from before it was recorded). */
  load_average: number | null;
  clean: Measured;
  paper: Measured;
  strong: Measured | null;
}

/** A final checkpoint (last or best) on the test images. */
export interface FinalResult {
  step: number | null;
  clean: Measured | null;
  paper: Measured | null;
  strong: Measured | null;
}

/** A clean accuracy that fell back near chance after being well above it. */
export interface Collapse {
  peak: number;
  peakS: number;
  fallen: number;
  fallenS: number;
  recovered: boolean;
}

/** One method of the experiment, measured. */
export interface MethodResult {
  name: string;
  preset: string;
  follows: string;
  dir: string;
  adapter: string | null;
  steps: number;
  trainingS: number;
  /** Training seconds of the first step, which include compiling the kernels on a fresh process (WebGPU). */
  firstStepS: number | null;
  /** Mean seconds per step after the first (null under two steps). */
  secondsPerStep: number | null;
  marks: MarkResult[];
  last: FinalResult;
  best: FinalResult;
  collapse: Collapse | null;
  /** The training's divergence (a non-finite loss), when it diverged. */
  diverged: string | null;
  /** What the paper reported for this preset. */
  paperReported: string;
  paperPoints: PaperPoint[];
}

/** When `method` first reached `target`'s best robust accuracy under an attack (null: not in its budget). */
export interface TimeToReach {
  attack: 'paper' | 'strong';
  method: string;
  target: string;
  targetAccuracy: number;
  targetS: number;
  reachedS: number | null;
}

/** Everything report.md, figure.svg and results.json say. */
export interface ExperimentResults {
  experiment: string;
  source: string;
  claim: string;
  /** The attack the paper measured with (the marks use settings.paperAttack, the same unless overridden). */
  paperAttack: string;
  settings: ReproduceSettings;
  machine: Record<string, string>;
  methods: MethodResult[];
  timeToReach: TimeToReach[];
}

/** Classes of every dataset yopo trains on (MNIST, Fashion-MNIST, CIFAR-10): chance is 10%. */
const CHANCE = 0.1;
/** A clean accuracy at least this high is "well above chance"; falling back to at most this one is "near chance". */
export const COLLAPSE_PEAK = 0.5;
export const COLLAPSE_FLOOR = 0.25;

export function measured(accuracy: number, n: number): Measured {
  return { accuracy, n, interval: wilsonInterval(Math.round(accuracy * n), n) };
}

/** The first fall of clean accuracy to COLLAPSE_FLOOR or below after it reached COLLAPSE_PEAK, and whether a later mark climbed back above the peak threshold. */
export function detectCollapse(marks: readonly { elapsed_s: number; clean: Measured }[]): Collapse | null {
  let peak: { accuracy: number; s: number } | null = null;
  for (const [i, m] of marks.entries()) {
    if (m.clean.accuracy >= COLLAPSE_PEAK && (peak === null || m.clean.accuracy > peak.accuracy))
      peak = { accuracy: m.clean.accuracy, s: m.elapsed_s };
    if (peak && m.clean.accuracy <= COLLAPSE_FLOOR) {
      const recovered = marks.slice(i + 1).some((later) => later.clean.accuracy >= COLLAPSE_PEAK);
      return { peak: peak.accuracy, peakS: peak.s, fallen: m.clean.accuracy, fallenS: m.elapsed_s, recovered };
    }
  }
  return null;
}

function stepsAndTime(records: MetricRecord[]): { steps: number; trainingS: number; firstStepS: number | null } {
  let steps = 0;
  let trainingS = 0;
  let firstStepS: number | null = null;
  for (const r of records) {
    if (typeof r.loss !== 'number' && r.loss !== null) continue; // step records carry a loss (null if it was not finite)
    steps = Math.max(steps, r.step);
    trainingS = Math.max(trainingS, r.elapsed_s);
    if (r.step === 1) firstStepS = r.elapsed_s;
  }
  return { steps, trainingS, firstStepS };
}

function readAdapter(dir: string): string | null {
  try {
    const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { adapter?: unknown };
    return typeof c.adapter === 'string' ? c.adapter : null;
  } catch {
    return null;
  }
}

/** Reads the experiment's run folders into its results. */
export function gatherResults(
  experiment: Experiment,
  settings: ReproduceSettings,
  out: string,
  machine: Record<string, string>,
): ExperimentResults {
  const methods = runFolders(experiment, settings, out).map(({ method, dir }): MethodResult => {
    const records = existsSync(dir) ? readRunMetrics(dir) : [];
    const added = existsSync(dir) ? readAddedEvaluations(dir) : [];
    const marks = markEvaluations(records).map((r): MarkResult => {
      const strong = added.find((a) => a.kind === 'mark' && a.step === r.step);
      return {
        step: r.step,
        elapsed_s: r.elapsed_s,
        load_average: typeof r.load_average === 'number' ? r.load_average : null,
        clean: measured(r.clean_accuracy as number, r.n as number),
        paper: measured(r.robust_accuracy as number, r.n as number),
        strong: strong ? measured(strong.robust_accuracy, strong.n) : null,
      };
    });
    const final = (kind: 'last' | 'best'): FinalResult => {
      const fromTrain = records.find((r) => r.final === kind);
      const paperAdded = added.find((a) => a.kind === kind && a.attack === settings.paperAttack);
      const strong = added.find((a) => a.kind === kind && a.attack === settings.strongAttack);
      const paper = fromTrain
        ? {
            clean: fromTrain.test_clean_accuracy as number,
            robust: fromTrain.test_robust_accuracy as number,
            n: fromTrain.n as number,
          }
        : paperAdded
          ? { clean: paperAdded.clean_accuracy, robust: paperAdded.robust_accuracy, n: paperAdded.n }
          : null;
      const clean = paper ? measured(paper.clean, paper.n) : strong ? measured(strong.clean_accuracy, strong.n) : null;
      const step = fromTrain
        ? (fromTrain.checkpoint_step as number)
        : typeof strong?.checkpoint_step === 'number'
          ? strong.checkpoint_step
          : null;
      return {
        step,
        clean,
        paper: paper ? measured(paper.robust, paper.n) : null,
        strong: strong ? measured(strong.robust_accuracy, strong.n) : null,
      };
    };
    const { steps, trainingS, firstStepS } = stepsAndTime(records);
    const preset = findPreset(method.preset);
    return {
      name: method.name,
      preset: method.preset,
      follows: preset?.follows ?? '',
      dir,
      adapter: readAdapter(dir),
      steps,
      trainingS,
      firstStepS,
      secondsPerStep: steps >= 2 && firstStepS !== null ? (trainingS - firstStepS) / (steps - 1) : null,
      marks,
      last: final('last'),
      best: final('best'),
      collapse: detectCollapse(marks),
      diverged: existsSync(dir) ? (readDivergence(dir)?.message ?? null) : null,
      paperReported: preset?.reported ?? '',
      paperPoints: method.paperPoints ?? [],
    };
  });
  return {
    experiment: experiment.name,
    source: experiment.source,
    claim: experiment.claim,
    paperAttack: experiment.paperAttack,
    settings,
    machine,
    methods,
    timeToReach: timesToReach(methods),
  };
}

/** For each attack and each ordered pair of methods: when the one first reached the other's best robust accuracy at the marks. */
export function timesToReach(methods: MethodResult[]): TimeToReach[] {
  const out: TimeToReach[] = [];
  for (const attack of ['paper', 'strong'] as const) {
    const curve = (m: MethodResult) =>
      m.marks.filter((k) => k[attack] !== null).map((k) => ({ s: k.elapsed_s, accuracy: k[attack]!.accuracy }));
    for (const target of methods) {
      const points = curve(target);
      if (!points.length) continue;
      const best = points.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
      for (const method of methods) {
        if (method === target || !curve(method).length) continue;
        const reached = curve(method).find((p) => p.accuracy >= best.accuracy);
        out.push({
          attack,
          method: method.name,
          target: target.name,
          targetAccuracy: best.accuracy,
          targetS: best.s,
          reachedS: reached ? reached.s : null,
        });
      }
    }
  }
  return out;
}

export { CHANCE };
