// Model selection for `yopo train`: the evaluations during training run on a validation split held out
// of the training set; best.safetensors keeps the checkpoint with the best robust accuracy there (robust
// accuracy often peaks before the end of adversarial training: robust overfitting); --keep-checkpoints
// keeps one per evaluation. At the end, the last and the best checkpoint are evaluated on the test set.
//
// metrics.jsonl says which is which: evaluation records carry `split` ('validation' or 'test'), `best`
// (true when the record's checkpoint became best.safetensors) and `checkpoint` (the kept file);
// the final records carry `final` ('last' or 'best') and test_clean_accuracy / test_robust_accuracy.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Classifier, loadModel, saveModel } from '../nn/index.js';
import { type Dataset, holdOut } from '../yopo/data/index.js';
import { type AttackSpec, type EvalData, type EvalResult, evaluate } from '../yopo/evaluate.js';
import type { MetricRecord } from '../yopo/report/index.js';
import { UsageError } from './args.js';
import { checkMayWrite } from './file_ownership.js';
import { CHECKPOINTS_DIR, RUN_FILES } from './run_folder.js';

/** File name, in the run folder, of the checkpoint with the best validation robust accuracy. */
export const BEST_FILE = RUN_FILES.best;
export { CHECKPOINTS_DIR } from './run_folder.js';

/** The training set without the validation split, and the split (null for size 0: evaluate on the test set). */
export function splitForValidation(
  ds: Dataset,
  size: number,
  seed: number,
): { train: Dataset; validation: EvalData | null } {
  if (size === 0) return { train: ds, validation: null };
  try {
    return holdOut(ds, size, seed);
  } catch (e) {
    throw new UsageError(`yopo train: --val-split: ${(e as Error).message}`);
  }
}

/** Fields model selection adds to an evaluation record in metrics.jsonl: the split, whether it became best, the kept checkpoint. */
export interface SelectionRecord {
  split: 'validation' | 'test';
  best?: true;
  checkpoint?: string;
}

/** Tracks the best robust accuracy on the validation split and writes the checkpoints it selects. */
export class ModelSelection {
  private bestRobust = -Infinity;

  /**
   * `earlier`: the run's metrics so far (a resumed run continues its best). `claimBest` returns the
   * path of best.safetensors about to be written (the run folder's willWrite, so that a failed run's
   * cleanup treats a best.safetensors it created like its other files).
   */
  constructor(
    readonly out: string,
    readonly validation: boolean,
    readonly keepAll: boolean,
    earlier: readonly MetricRecord[] = [],
    private readonly claimBest: () => string = () => join(out, BEST_FILE),
  ) {
    for (const r of earlier)
      if (r.best === true && typeof r.robust_accuracy === 'number')
        this.bestRobust = Math.max(this.bestRobust, r.robust_accuracy);
  }

  get hasBest(): boolean {
    return this.bestRobust > -Infinity;
  }

  /** After an evaluation at `step`: saves what it selects and says so, for the metrics record. */
  async afterEvaluation(
    model: Classifier,
    step: number,
    robustAccuracy: number,
    metadata: Record<string, string>,
  ): Promise<SelectionRecord> {
    const record: SelectionRecord = { split: this.validation ? 'validation' : 'test' };
    if (this.keepAll) {
      mkdirSync(join(this.out, CHECKPOINTS_DIR), { recursive: true });
      record.checkpoint = join(CHECKPOINTS_DIR, `step-${step}.safetensors`);
      const path = join(this.out, record.checkpoint);
      // Its own checkpoint of this step (a resumed run redoing it) may be replaced; a user's file never.
      checkMayWrite('train', { path, kind: 'checkpoint' }, null);
      await saveModel(path, model, metadata);
    }
    // Selecting on the test set would report a test accuracy that was optimised: only on validation.
    if (this.validation && robustAccuracy > this.bestRobust) {
      this.bestRobust = robustAccuracy;
      record.best = true;
      await saveModel(this.claimBest(), model, metadata);
    }
    return record;
  }
}

/** A test-set result of the last or the best checkpoint at the end of training. */
export interface FinalResult extends EvalResult {
  final: 'last' | 'best';
  /** The step the checkpoint was taken at. */
  checkpointStep: number;
}

/** The last model (as it is) and the best checkpoint (loaded into `fresh`) on the test set. */
export async function finalTestEvaluation(
  last: Classifier,
  lastStep: number,
  fresh: () => Classifier,
  out: string,
  test: EvalData,
  attack: AttackSpec,
  seed: number,
  withBest: boolean,
): Promise<FinalResult[]> {
  const results: FinalResult[] = [
    { final: 'last', checkpointStep: lastStep, ...(await evaluate(last, test, attack, { seed })) },
  ];
  if (withBest) {
    const model = fresh();
    try {
      const meta = await loadModel(join(out, BEST_FILE), model);
      const bestStep = Number(meta['yopo.step']);
      // Best taken at the last step holds the last weights: the same evaluation (same seed), not run twice.
      const result = bestStep === lastStep ? results[0] : await evaluate(model, test, attack, { seed });
      results.push({ ...result, final: 'best', checkpointStep: bestStep });
    } finally {
      model.dispose();
    }
  }
  return results;
}

/** A final result as a metrics record (test_* keys, so the training curves do not mix it with the validation points). */
export function finalRecord(r: FinalResult, position: { epoch: number; step: number; elapsed: number }): MetricRecord {
  return {
    epoch: position.epoch,
    step: position.step,
    elapsed_s: position.elapsed,
    final: r.final,
    split: 'test',
    checkpoint_step: r.checkpointStep,
    test_clean_accuracy: r.clean_accuracy,
    test_robust_accuracy: r.robust_accuracy,
    attack: r.attack,
    norm: r.norm,
    eps: r.eps,
    n: r.n,
  };
}
