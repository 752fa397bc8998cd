// The run folder of `yopo train --out DIR`: which files are yopo's, which of them this process
// created, and how the resumable state is committed.
//
// Crash safety: everything --resume needs (weights, optimiser and method state, the position) is in
// one file, training_state.safetensors, replaced atomically: a crash at any instant leaves either
// the previous state or the new one. model.safetensors (the PyTorch-readable weights) is written
// right after it from the same weights; metrics.jsonl is cut back to the state's step on resume.
// Temp files of writes that a crash interrupted are removed when the next run takes the folder.

import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isAtomicTempFile } from '../nn/atomic_write.js';
import {
  type HostTensor,
  type Module,
  type SGD,
  loadModel,
  loadOptimizers,
  loadTrainingState,
  saveModel,
  saveTrainingState,
} from '../nn/index.js';
import type { TrainPosition } from '../yopo/train.js';
import { readSafetensorsHeader } from './safetensors_header.js';
import { UsageError } from './args.js';
import { hasMark } from './file_ownership.js';
import { isStaleLockTemp } from './run_lock.js';

/** The files yopo writes in a run folder, by key. */
export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  state: 'training_state.safetensors',
  model: 'model.safetensors',
  optimizer: 'optimizer.safetensors', // written by earlier versions of yopo (model and optimiser in two files); still read by --resume
  curve: 'curve.svg',
  best: 'best.safetensors', // with a validation split: the checkpoint with the best robust accuracy there (model_selection.ts)
} as const;

/** Folder, in the run folder, of the per-evaluation checkpoints kept by --keep-checkpoints (model_selection.ts). */
export const CHECKPOINTS_DIR = 'checkpoints';

/** A key of RUN_FILES. */
export type RunFileKey = keyof typeof RUN_FILES;

const POSITION_KEYS = ['epoch', 'batch', 'step', 'elapsed'] as const;

/** A training position as safetensors metadata (yopo.epoch, yopo.batch, yopo.step, yopo.elapsed, as strings; yopo.evaluation_due when set). */
export function positionMetadata(p: TrainPosition): Record<string, string> {
  const meta = Object.fromEntries(POSITION_KEYS.map((k) => [`yopo.${k}`, String(p[k])]));
  return p.evaluationDue ? { ...meta, 'yopo.evaluation_due': 'true' } : meta;
}

function positionFrom(meta: Record<string, string>, file: string): TrainPosition {
  const p = Object.fromEntries(POSITION_KEYS.map((k) => [k, Number(meta[`yopo.${k}`])])) as unknown as TrainPosition;
  if (POSITION_KEYS.some((k) => !Number.isFinite(p[k])))
    throw new Error(`checkpoint ${file} has no training position (not written by yopo train?)`);
  if (meta['yopo.evaluation_due'] === 'true') p.evaluationDue = true;
  return p;
}

/** A checkpoint as found in the folder: where training continues, and tensors besides the optimisers (Free-m's δ). */
export interface LoadedCheckpoint {
  position: TrainPosition;
  extra: Map<string, HostTensor>;
}

/** The run folder of `yopo train --out DIR`: paths of its files, which ones this process created (the only ones a failed run removes), and the resumable checkpoint. */
export class RunFolder {
  readonly files: Record<RunFileKey, string>;
  /** Files of RUN_FILES that this process created (the only ones a failed run may remove). */
  private readonly created = new Set<string>();
  private readonly existedAtStart: Set<string>;
  private createdDir = false;

  constructor(
    readonly dir: string,
    readonly command = 'train',
  ) {
    this.files = Object.fromEntries(Object.entries(RUN_FILES).map(([k, name]) => [k, join(dir, name)])) as Record<
      RunFileKey,
      string
    >;
    if (existsSync(dir) && !statSync(dir).isDirectory())
      throw new UsageError(`yopo ${command}: --out ${dir} is a file, not a folder`);
    this.existedAtStart = new Set(Object.values(this.files).filter((f) => existsSync(f)));
  }

  has(key: RunFileKey): boolean {
    return existsSync(this.files[key]);
  }

  /** Whether --resume has a checkpoint to load (the training state, or the two files older versions wrote). */
  hasCheckpoint(): boolean {
    return this.has('state') || (this.has('model') && this.has('optimizer'));
  }

  /**
   * Checks that a new run may write here. A folder whose run was interrupted before its first
   * checkpoint (config.json written by yopo, nothing to resume) may be restarted; a folder holding
   * a checkpoint, or files yopo did not write there, is refused.
   */
  checkFreshStart(): void {
    const { dir, command } = this;
    if (this.hasCheckpoint())
      throw new UsageError(
        `yopo ${command}: ${dir} already holds a run; add --resume to continue it, or choose another --out`,
      );
    // --keep-checkpoints writes checkpoints/step-N.safetensors: none of those names may be a user's file.
    const kept = join(dir, CHECKPOINTS_DIR);
    if (existsSync(kept) && statSync(kept).isDirectory()) {
      const foreign = readdirSync(kept).filter(
        (name) => /^step-\d+\.safetensors$/.test(name) && !hasMark(join(kept, name), 'checkpoint'),
      );
      if (foreign.length)
        throw new UsageError(
          `yopo ${command}: ${kept} holds ${foreign.join(', ')} that no yopo run wrote there; choose another --out (nothing was changed)`,
        );
    }
    const present = (Object.keys(RUN_FILES) as RunFileKey[]).filter((k) => this.has(k));
    if (present.length === 0) return;
    if (!this.has('config') || !isYopoConfig(this.files.config)) {
      throw new UsageError(
        `yopo ${command}: ${dir} holds ${present.map((k) => RUN_FILES[k]).join(', ')} that no yopo run wrote there; choose another --out (nothing was changed)`,
      );
    }
    // A run that never reached its first checkpoint: start it again from scratch (its own files are replaced).
  }

  /** Creates the folder if needed (remembering whether this process did, for cleanup). */
  create(mkdir: (dir: string) => void): void {
    this.createdDir = !existsSync(this.dir);
    mkdir(this.dir);
  }

  /** Removes temp files that killed writes left behind (call with the lock held: no other writer exists). */
  removeStaleTemps(): string[] {
    const ours = Object.values(RUN_FILES) as string[];
    // writeFileAtomic's `.name.tmp-<pid>-<hex>`, and MetricsLog.truncateAfterStep's `metrics.jsonl.<pid>.tmp`.
    // And the temp file of a lock whose creator was killed (run_lock.ts).
    const stale = readdirSync(this.dir).filter(
      (name) =>
        (isAtomicTempFile(name) && ours.some((f) => name.startsWith(`.${f}.tmp-`))) ||
        /^metrics\.jsonl\.\d+\.tmp$/.test(name) ||
        isStaleLockTemp(name),
    );
    for (const name of stale) rmSync(join(this.dir, name), { force: true });
    // The kept checkpoints' temp files (checkpoints/.step-N.safetensors.tmp-…) too.
    const kept = join(this.dir, CHECKPOINTS_DIR);
    if (existsSync(kept) && statSync(kept).isDirectory()) {
      for (const name of readdirSync(kept).filter(
        (n) => isAtomicTempFile(n) && /^\.step-\d+\.safetensors\.tmp-/.test(n),
      )) {
        rmSync(join(kept, name), { force: true });
        stale.push(join(CHECKPOINTS_DIR, name));
      }
    }
    return stale;
  }

  /** Records that this process is about to write `key` (a file it created is one it may remove). */
  willWrite(key: RunFileKey): string {
    const file = this.files[key];
    if (!this.existedAtStart.has(file)) this.created.add(file);
    return file;
  }

  /** Commits a checkpoint: the training state (the commit point), then the exported weights. */
  async commit(
    p: TrainPosition,
    model: Module,
    optimizers: Map<string, SGD>,
    extra: Map<string, HostTensor>,
    metadata: Record<string, string>,
  ): Promise<void> {
    const meta = { ...positionMetadata(p), ...metadata };
    await saveTrainingState(this.willWrite('state'), model, optimizers, extra, meta);
    await saveModel(this.willWrite('model'), model, meta);
    // A folder from an older yopo: its optimizer file is now superseded by the training state.
    if (this.has('optimizer')) rmSync(this.files.optimizer, { force: true });
  }

  /** Loads the checkpoint into the model and optimisers (which must exist, e.g. after method.init). */
  async load(model: Module, optimizers: Map<string, SGD>): Promise<LoadedCheckpoint> {
    if (this.has('state')) {
      const file = await loadTrainingState(this.files.state, model, optimizers);
      // Killed between committing the state and exporting its weights: export them now.
      const exported = this.has('model') ? await readSafetensorsHeader(this.files.model).catch(() => null) : null;
      if (exported?.['yopo.step'] !== file.metadata['yopo.step']) {
        const meta = Object.fromEntries(Object.entries(file.metadata).filter(([k]) => k.startsWith('yopo.')));
        await saveModel(this.willWrite('model'), model, meta);
      }
      return { position: positionFrom(file.metadata, this.files.state), extra: stateTensors(file.tensors) };
    }
    // Older run folders: model and optimiser in two files, which must be from the same step.
    const position = positionFrom(await loadModel(this.files.model, model), this.files.model);
    const opt = await loadOptimizers(this.files.optimizer, optimizers);
    const optPos = positionFrom(opt.metadata, this.files.optimizer);
    if (optPos.step !== position.step)
      throw new Error(
        `checkpoint files disagree: ${this.files.model} is at step ${position.step}, ${this.files.optimizer} at step ${optPos.step}`,
      );
    return { position, extra: stateTensors(opt.tensors) };
  }

  /**
   * After a failure before the first checkpoint: removes the files this process created (never
   * anything else; see removeIfEmptyAndOurs for the folder). Returns the
   * errors met on the way, for the caller to report after the failure that caused the cleanup.
   */
  removeCreated(): string[] {
    const errors: string[] = [];
    for (const file of this.created) {
      try {
        rmSync(file, { force: true });
      } catch (e) {
        errors.push(`could not remove ${file}: ${(e as Error).message}`);
      }
    }
    this.created.clear();
    return errors;
  }

  /** Removes the folder if this process created it and left nothing in it (call after the lock is released). */
  removeIfEmptyAndOurs(): void {
    if (!this.createdDir) return;
    try {
      rmdirSync(this.dir); // only if empty
    } catch {
      // not empty: keep it
    }
  }
}

function stateTensors(tensors: Map<string, HostTensor>): Map<string, HostTensor> {
  return new Map([...tensors].filter(([k]) => k.startsWith('state.')).map(([k, t]) => [k.slice('state.'.length), t]));
}

function isYopoConfig(path: string): boolean {
  try {
    const c = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    return typeof c.method === 'string' && typeof c.model === 'string' && typeof c.version === 'string';
  } catch {
    return false;
  }
}

/**
 * Checks a config.json read for --resume against `template` (the settings a fresh run with the same
 * data, model and method would have): every field the template has must be there with the same
 * kind of value. Returns the first problem as one line, or null.
 */
export function configProblem(saved: unknown, template: Record<string, unknown>): string | null {
  if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) return 'is not a JSON object';
  const s = saved as Record<string, unknown>;
  for (const [key, want] of Object.entries(template)) {
    if (want === undefined) continue;
    const got = s[key];
    if (!(key in s)) return `has no "${key}"`;
    if (got === null) {
      if (want === null) continue;
      return `"${key}" is null, expected ${kind(want)}`;
    }
    if (want === null) {
      if (typeof got === 'number' ? !Number.isFinite(got) : typeof got !== 'string')
        return `"${key}" is ${JSON.stringify(got)}, expected a number, a string or null`;
      continue;
    }
    if (Array.isArray(want)) {
      if (!Array.isArray(got) || got.some((x) => typeof x !== 'number' || !Number.isFinite(x)))
        return `"${key}" is ${JSON.stringify(got)}, expected a list of numbers`;
      continue;
    }
    if (typeof want === 'number' ? typeof got !== 'number' || !Number.isFinite(got) : typeof got !== typeof want)
      return `"${key}" is ${JSON.stringify(got)}, expected ${kind(want)}`;
  }
  return null;
}

function kind(v: unknown): string {
  return typeof v === 'number'
    ? 'a finite number'
    : typeof v === 'string'
      ? 'a string'
      : typeof v === 'boolean'
        ? 'true or false'
        : 'a value';
}
