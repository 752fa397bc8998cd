// `yopo reproduce NAME`, the experiment: its methods trained one after another (never at once: they
// would share the cores and skew every time), each an ordinary `yopo train` run folder under --out with
// the same budget and the same evaluation marks (every --eval-every-minutes of training time). Each mark
// is evaluated under the paper's attack by `yopo train` itself and under APGD-CE + APGD-T here, from the
// checkpoint kept at the mark, on the same validation images; then each method's last and best
// checkpoints on the test images. Everything is resumable: rerunning the same command continues where
// it stopped (a run folder resumes with `yopo train --resume`; an evaluation already recorded in the
// run's reproduce_evaluations.jsonl is not redone).

import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../nn/index.js';
import type { EvalResult } from '../evaluate.js';
import { percentWithInterval } from '../interval.js';
import { type MetricRecord, MetricsLog, formatDuration } from '../report/index.js';
import type { TrainPosition } from '../train.js';
import type { Experiment, ExperimentMethod } from './experiments.js';

/** The file that marks an --out folder as `yopo reproduce`'s own, with the experiment's settings. */
export const RECORD_FILE = 'reproduce.json';
/** In each run folder: the evaluations `yopo reproduce` added (the strong attack at each mark, the final ones). */
export const EVALUATIONS_FILE = 'reproduce_evaluations.jsonl';

/** The settings of one experiment run, as recorded in reproduce.json (a rerun must give the same). */
export interface ReproduceSettings {
  experiment: string;
  setting: string | null;
  /** Training minutes per method, or null with `epochs`. */
  minutes: number | null;
  epochs: number | null;
  evalEveryMinutes: number;
  evalLimit: number;
  testLimit: number;
  seed: number;
  /** Options for small smoke runs (null: the preset's). */
  batchSize: number | null;
  limit: number | null;
  valSplit: number | null;
  /** The paper's attack, unless overridden for a smoke run. */
  paperAttack: string;
  strongAttack: string;
  /** Run folders of the baseline method taken from another `yopo reproduce` of the same experiment (--baseline). */
  baseline: string | null;
}

/** What the experiment needs from the command line's layer: running `yopo train`, reading checkpoints, evaluating them. */
export interface ReproduceEnv {
  /**
   * Runs `yopo train ARGV` in this process: 'stopped' when Ctrl-C or SIGTERM stopped it (after its
   * checkpoint), the error's message when the training diverged (a non-finite loss).
   */
  train(argv: string[]): Promise<'done' | 'stopped' | { diverged: string }>;
  /** The position of the run folder's resumable checkpoint, or null without one. */
  checkpointPosition(runDir: string): Promise<TrainPosition | null>;
  /** A checkpoint of the run evaluated on its validation split or on the test set (first `limit` images). */
  evaluateCheckpoint(
    runDir: string,
    checkpoint: string,
    split: 'validation' | 'test',
    attack: string,
    limit: number,
  ): Promise<EvalResult>;
  /** Arguments every `yopo train` call gets (--backend, --data-dir). */
  sessionArguments: string[];
  log(line: string): void;
}

/** One evaluation `yopo reproduce` added, as a line of reproduce_evaluations.jsonl. */
export interface AddedEvaluation extends MetricRecord {
  /** 'mark': at a training-time mark, on validation images; 'last' / 'best': the final checkpoints on test images. */
  kind: 'mark' | 'last' | 'best';
  split: 'validation' | 'test';
  checkpoint: string;
  attack: string;
  clean_accuracy: number;
  robust_accuracy: number;
  n: number;
  load_average: number;
  /** Wall seconds the evaluation took. */
  seconds: number;
}

/** The `yopo train` arguments of a method's run (what reproduce.json records, less the session's). */
export function trainArguments(method: ExperimentMethod, s: ReproduceSettings): string[] {
  const args = [
    '--preset',
    method.preset,
    '--eval-every-minutes',
    String(s.evalEveryMinutes),
    '--eval-limit',
    String(s.evalLimit),
    '--test-limit',
    String(s.testLimit),
    '--keep-checkpoints',
    '--seed',
    String(s.seed),
    '--eval-attack',
    s.paperAttack,
  ];
  if (s.minutes !== null) args.push('--time-budget', String(s.minutes));
  if (s.epochs !== null) args.push('--epochs', String(s.epochs));
  if (s.batchSize !== null) args.push('--batch-size', String(s.batchSize));
  if (s.limit !== null) args.push('--limit', String(s.limit));
  if (s.valSplit !== null) args.push('--val-split', String(s.valSplit));
  return args;
}

/** The run folder of each method: under --out, or the baseline's from --baseline. */
export function runFolders(
  experiment: Experiment,
  s: ReproduceSettings,
  out: string,
): { method: ExperimentMethod; dir: string }[] {
  const methods = experiment.methods(s.setting ?? undefined);
  return methods.map((method, i) => ({
    method,
    dir: i === methods.length - 1 && s.baseline ? s.baseline : join(out, method.name),
  }));
}

/** Reads a JSON-lines evaluations file, or [] when there is none. */
export function readAddedEvaluations(runDir: string): AddedEvaluation[] {
  const file = join(runDir, EVALUATIONS_FILE);
  return existsSync(file) ? (MetricsLog.read(file) as AddedEvaluation[]) : [];
}

/** The metrics.jsonl records of a run, or [] when there is none. */
export function readRunMetrics(runDir: string): MetricRecord[] {
  const file = join(runDir, 'metrics.jsonl');
  return existsSync(file) ? MetricsLog.read(file) : [];
}

/** The evaluations `yopo train` made at the marks (validation, the paper's attack), each with its kept checkpoint. */
export function markEvaluations(records: MetricRecord[]): MetricRecord[] {
  return records
    .filter((r) => r.final === undefined && typeof r.robust_accuracy === 'number' && typeof r.checkpoint === 'string')
    .sort((a, b) => a.step - b.step);
}

/**
 * Checks that --out may hold this experiment: empty or absent, or written by `yopo reproduce` with the
 * same settings (then the command continues it). Returns a one-line problem, or null.
 */
export function outProblem(out: string, s: ReproduceSettings): string | null {
  if (!existsSync(out)) return null;
  const record = join(out, RECORD_FILE);
  if (!existsSync(record)) {
    const entries = readdirSync(out);
    return entries.length
      ? `${out} holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''} that yopo reproduce did not write (no ${RECORD_FILE}); choose another --out (nothing was changed)`
      : null;
  }
  let saved: { settings?: ReproduceSettings };
  try {
    saved = JSON.parse(readFileSync(record, 'utf8'));
  } catch (e) {
    return `${record} cannot be read (${(e as Error).message}); choose another --out`;
  }
  const differing = Object.keys(s).filter(
    (k) =>
      JSON.stringify(saved.settings?.[k as keyof ReproduceSettings]) !==
      JSON.stringify(s[k as keyof ReproduceSettings]),
  );
  return differing.length
    ? `${out} holds a yopo reproduce run with other settings (${differing.map((k) => `${k}: ${JSON.stringify(saved.settings?.[k as keyof ReproduceSettings])}`).join(', ')}); give the same options to continue it, or choose another --out`
    : null;
}

/**
 * Checks a --baseline folder: a run of this experiment's baseline method, written by another
 * `yopo reproduce` whose reproduce.json gives it the same `yopo train` arguments. Returns a problem or null.
 */
export function baselineProblem(dir: string, method: ExperimentMethod, s: ReproduceSettings): string | null {
  const record = join(dir, '..', RECORD_FILE);
  if (!existsSync(join(dir, 'config.json')) || !existsSync(record))
    return `--baseline ${dir} is not a run folder of another yopo reproduce (no config.json, or no ${RECORD_FILE} beside it)`;
  let saved: { runs?: { name: string; train: string[] }[] };
  try {
    saved = JSON.parse(readFileSync(record, 'utf8'));
  } catch (e) {
    return `--baseline: ${record} cannot be read (${(e as Error).message})`;
  }
  const want = trainArguments(method, { ...s, baseline: null });
  const run = saved.runs?.find((r) => r.name === method.name);
  if (!run) return `--baseline ${dir}: ${record} records no ${method.name} run`;
  if (JSON.stringify(run.train) !== JSON.stringify(want))
    return `--baseline ${dir} was trained with other settings (${run.train.join(' ')}; this experiment needs ${want.join(' ')})`;
  return null;
}

/** Runs (or continues) the experiment's methods and their evaluations. Returns false when stopped (Ctrl-C), true when everything is measured. */
export async function runExperiment(
  experiment: Experiment,
  s: ReproduceSettings,
  out: string,
  env: ReproduceEnv,
): Promise<boolean> {
  const runs = runFolders(experiment, s, out);
  const record = {
    note: 'written by yopo reproduce: the experiment and its settings; rerun the same command to continue it',
    settings: s,
    runs: runs.map(({ method, dir }) => ({
      name: method.name,
      preset: method.preset,
      dir,
      train: trainArguments(method, { ...s, baseline: null }),
    })),
  };
  await writeFileAtomic(join(out, RECORD_FILE), new TextEncoder().encode(`${JSON.stringify(record, null, 2)}\n`));
  const eta = new Eta(s, runs.length);
  for (const [i, { method, dir }] of runs.entries()) {
    const label = `[${i + 1}/${runs.length} ${method.name}]`;
    let position = await env.checkpointPosition(dir);
    const diverged = readDivergence(dir);
    if (diverged) env.log(`${label} ${diverged.message} (recorded earlier; its training ends there)`);
    if (!diverged && !trainingDone(position, readRunMetrics(dir), s)) {
      env.log(
        `${label} ${position ? `resuming ${dir} at step ${position.step} (${formatDuration(position.elapsed)} trained)` : `training ${dir}`}: --preset ${method.preset}, ${budgetText(s)}; ${eta.text(runs, i, position?.elapsed ?? 0)}`,
      );
      const args =
        position || existsSync(join(dir, 'config.json'))
          ? ['--out', dir, '--resume']
          : [...trainArguments(method, s), '--out', dir];
      const outcome = await env.train([...args, ...env.sessionArguments]);
      if (outcome === 'stopped') return false;
      position = await env.checkpointPosition(dir);
      if (typeof outcome === 'object') {
        // A diverged run is a result, not a failure of the experiment: the last good checkpoint stands.
        const at = position ?? { epoch: 0, step: 0, elapsed: 0 };
        writeDivergence(dir, { epoch: at.epoch, step: at.step, elapsed_s: at.elapsed, message: outcome.diverged });
        env.log(`${label} ${outcome.diverged}; its training ends at its last good checkpoint (step ${at.step})`);
      }
    }
    if (!position) {
      if (readDivergence(dir)) continue; // diverged before its first checkpoint: nothing to evaluate
      throw new Error(`${dir} has no checkpoint after training`);
    }
    eta.trained(i, position.elapsed);
    // The strong attack at every mark, from the checkpoint kept there, on the same validation images.
    const records = readRunMetrics(dir);
    const added = readAddedEvaluations(dir);
    const log = new MetricsLog(join(dir, EVALUATIONS_FILE));
    const marks = markEvaluations(records);
    for (const [k, mark] of marks.entries()) {
      if (added.some((a) => a.kind === 'mark' && a.step === mark.step)) continue;
      const r = await timedEvaluation(env, dir, mark.checkpoint as string, 'validation', s.strongAttack, s.evalLimit);
      const e: AddedEvaluation = {
        kind: 'mark',
        epoch: mark.epoch,
        step: mark.step,
        elapsed_s: mark.elapsed_s,
        split: 'validation',
        checkpoint: mark.checkpoint as string,
        ...r,
      };
      log.append(e);
      eta.evaluated(i, r.seconds);
      env.log(
        `${label} mark ${k + 1}/${marks.length} at ${formatDuration(mark.elapsed_s)} (step ${mark.step}): ${s.paperAttack} ${pct(mark.robust_accuracy as number, mark.n as number)}, ${s.strongAttack} ${pct(r.robust_accuracy, r.n)} robust, clean ${pct(r.clean_accuracy, r.n)} (n=${r.n} validation, load ${r.load_average}); ${eta.text(runs, i, position.elapsed)}`,
      );
    }
    // The last and best checkpoints on the test images: the strong attack always, the paper's unless `yopo train` recorded it.
    // The best checkpoint is the last evaluation yopo train marked best; when that is the last step, it
    // holds the last weights and its evaluation is the last one's (same images, same seed), not run twice.
    const bestStep = [...records].reverse().find((r) => r.best === true && r.final === undefined)?.step ?? null;
    for (const kind of ['last', 'best'] as const) {
      const file = kind === 'last' ? 'model.safetensors' : 'best.safetensors';
      if (!existsSync(join(dir, file))) continue;
      const step = kind === 'last' ? position.step : bestStep;
      const trainFinal = records.find((r) => r.final === kind);
      const attacks = trainFinal ? [s.strongAttack] : [s.paperAttack, s.strongAttack];
      for (const attack of attacks) {
        if (added.some((a) => a.kind === kind && a.attack === attack)) continue;
        const same =
          kind === 'best' && step === position.step
            ? added.find((a) => a.kind === 'last' && a.attack === attack)
            : undefined;
        const r = same
          ? {
              attack,
              clean_accuracy: same.clean_accuracy,
              robust_accuracy: same.robust_accuracy,
              n: same.n,
              norm: same.norm,
              eps: same.eps,
              load_average: same.load_average,
              seconds: 0,
            }
          : await timedEvaluation(env, dir, file, 'test', attack, s.testLimit);
        const e: AddedEvaluation = {
          kind,
          epoch: position.epoch,
          step: position.step,
          elapsed_s: position.elapsed,
          checkpoint_step: step,
          split: 'test',
          checkpoint: file,
          ...r,
        };
        log.append(e);
        added.push(e);
        if (!same) eta.evaluated(i, r.seconds);
        env.log(
          `${label} ${kind} checkpoint (step ${step ?? '?'}) on ${r.n} test images: clean ${pct(r.clean_accuracy, r.n)}, ${attack} robust ${pct(r.robust_accuracy, r.n)}${same ? " (the last checkpoint's weights: its evaluation)" : ''}; ${eta.text(runs, i, position.elapsed)}`,
        );
      }
    }
  }
  return true;
}

/** In a run folder: written when its training diverged, so that a rerun does not train it again. */
export const DIVERGED_FILE = 'reproduce_diverged.json';

/** Where and how a run diverged (DIVERGED_FILE), or null. */
export function readDivergence(
  runDir: string,
): { epoch: number; step: number; elapsed_s: number; message: string } | null {
  const file = join(runDir, DIVERGED_FILE);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
}

function writeDivergence(runDir: string, d: { epoch: number; step: number; elapsed_s: number; message: string }): void {
  writeFileSync(join(runDir, DIVERGED_FILE), `${JSON.stringify(d, null, 2)}\n`);
}

function pct(fraction: number, n: number): string {
  return percentWithInterval(fraction, n).replace('95% CI ', '');
}

function budgetText(s: ReproduceSettings): string {
  return `${s.minutes !== null ? `${s.minutes} minutes` : `${s.epochs} epochs`} of training, evaluated every ${s.evalEveryMinutes} minutes of it`;
}

/** Whether a run has its whole budget: its checkpoint is at the budget, or `yopo train` recorded its final evaluation. */
function trainingDone(position: TrainPosition | null, records: MetricRecord[], s: ReproduceSettings): boolean {
  if (!position) return false;
  if (records.some((r) => r.final === 'last' && r.step === position.step)) return true;
  return s.minutes !== null ? position.elapsed >= s.minutes * 60 : position.epoch >= (s.epochs ?? Infinity);
}

async function timedEvaluation(
  env: ReproduceEnv,
  dir: string,
  checkpoint: string,
  split: 'validation' | 'test',
  attack: string,
  limit: number,
) {
  const load = Number(loadavg()[0].toFixed(2));
  const started = Date.now();
  const r = await env.evaluateCheckpoint(dir, checkpoint, split, attack, limit);
  return {
    attack: r.attack,
    clean_accuracy: r.clean_accuracy,
    robust_accuracy: r.robust_accuracy,
    n: r.n,
    norm: r.norm,
    eps: r.eps,
    load_average: load,
    seconds: (Date.now() - started) / 1000,
  };
}

/**
 * The time the experiment still needs: training left (the budget less what each run has trained; with
 * --epochs, as long as the runs before took) plus the strong evaluations left at their mean time so
 * far. The paper's attack at each mark runs inside `yopo train` and is not in it.
 */
class Eta {
  private readonly trainedS: number[];
  private readonly evaluations: number[];
  private readonly evalSeconds: number[] = [];
  constructor(
    private readonly s: ReproduceSettings,
    methods: number,
  ) {
    this.trainedS = new Array(methods).fill(0);
    this.evaluations = new Array(methods).fill(0);
  }
  trained(i: number, seconds: number): void {
    this.trainedS[i] = seconds;
  }
  evaluated(i: number, seconds: number): void {
    this.evaluations[i]++;
    this.evalSeconds.push(seconds);
  }
  text(runs: unknown[], current: number, currentTrained: number): string {
    const budget = this.s.minutes !== null ? this.s.minutes * 60 : Math.max(0, ...this.trainedS);
    const marksPerRun = Math.floor(budget / (this.s.evalEveryMinutes * 60)) + 1;
    let training = 0;
    let evaluationsLeft = 0;
    for (let j = current; j < runs.length; j++) {
      training += Math.max(0, budget - (j === current ? Math.max(currentTrained, this.trainedS[j]) : this.trainedS[j]));
      evaluationsLeft += Math.max(0, marksPerRun + 2 - this.evaluations[j]); // the marks, then last and best
    }
    if (!this.evalSeconds.length) return `ETA: training ${formatDuration(training)}, then the evaluations`;
    const evaluating = (evaluationsLeft * this.evalSeconds.reduce((a, b) => a + b, 0)) / this.evalSeconds.length;
    return `ETA about ${formatDuration(training + evaluating)} (training ${formatDuration(training)}, ${this.s.strongAttack} evaluations ${formatDuration(evaluating)})`;
  }
}
