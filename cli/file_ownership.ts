// The one writing rule of every yopo command: never replace a file it did not write, unless --force.
//
// A command knows a file is its own by a mark that yopo puts in every kind of file it writes:
//   checkpoint           safetensors metadata yopo.step (model, best and step-N checkpoints of yopo train)
//   adversarial-images   safetensors metadata yopo.file = adversarial-images (yopo eval --save-adversarial)
//   model-card           the Markdown's first line <!-- written by yopo: model card -->
//   model-card-json      the field "written_by": "yopo: model card"
//   robustness-curve     <!-- written by yopo: robustness curve --> inside the <svg> tag's element
//   comparison-chart     <!-- written by yopo compare --> (as yopo compare has always marked its charts)
//   per-sample           a first line that is one of yopo eval's per-example records
//   tuning-cache         a JSON object { "version": N, "choices": {...} } (yopo tune's cache)
//   reproduction-report  <!-- written by yopo reproduce --> in the first 4 KB (report.md, figure.svg)
//   reproduction-json    the field "written_by": "yopo reproduce" (results.json)
// A file of another kind, yopo's or not, is never replaced by this check (a chart never goes over a
// checkpoint, adversarial images never over a model). Run folders have their own mark (config.json,
// run_folder.ts). The folder a file goes into must exist: yopo refuses rather than creating it quietly.

import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './args.js';

/** The kinds of file yopo's commands write outside run folders' fixed names. */
export type OwnedKind =
  | 'checkpoint'
  | 'adversarial-images'
  | 'model-card'
  | 'model-card-json'
  | 'robustness-curve'
  | 'comparison-chart'
  | 'per-sample'
  | 'tuning-cache'
  | 'reproduction-report'
  | 'reproduction-json';

/** The mark each kind carries, as written into the file (see the top of this file). */
export const MARKS = {
  modelCard: '<!-- written by yopo: model card -->',
  modelCardJson: 'yopo: model card',
  robustnessCurve: '<!-- written by yopo: robustness curve -->',
  comparisonChart: '<!-- written by yopo compare -->',
  adversarialImages: 'adversarial-images',
  reproduction: '<!-- written by yopo reproduce -->',
  reproductionJson: 'yopo reproduce',
} as const;

const DESCRIPTIONS: Record<OwnedKind, string> = {
  checkpoint: 'a checkpoint',
  'adversarial-images': 'adversarial images',
  'model-card': 'a model card',
  'model-card-json': 'a model card',
  'robustness-curve': 'a robustness curve',
  'comparison-chart': 'a comparison chart',
  'per-sample': 'per-sample records',
  'tuning-cache': 'a kernel tuning cache',
  'reproduction-report': 'a reproduction report',
  'reproduction-json': 'reproduction results',
};

/** One file a command is about to write: its path, its kind, and the option that named it (for the message). */
export interface WriteTarget {
  path: string;
  kind: OwnedKind;
  option?: string;
  /** The writer creates the folder itself (the tuning cache's folder in ~/.cache): no need for it to exist. */
  createsFolder?: boolean;
}

/** The first `n` bytes of a file as text (a mark is always near the start). */
function head(path: string, n = 64 * 1024): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** The __metadata__ of a safetensors file, or null when it is not one. */
function safetensorsMetadata(path: string): Record<string, string> | null {
  try {
    const fd = openSync(path, 'r');
    try {
      const size = Buffer.alloc(8);
      if (readSync(fd, size, 0, 8, 0) < 8) return null;
      const n = Number(size.readBigUInt64LE(0));
      if (n > 100_000_000) return null;
      const header = Buffer.alloc(n);
      if (readSync(fd, header, 0, n, 8) < n) return null;
      const parsed = JSON.parse(header.toString('utf8')) as { __metadata__?: Record<string, string> };
      return parsed.__metadata__ ?? {};
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

function json(path: string): unknown {
  try {
    if (statSync(path).size > 16 * 1024 * 1024) return undefined; // no JSON yopo writes is this large
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Whether the file at `path` carries the mark of `kind` (see the top of this file). */
export function hasMark(path: string, kind: OwnedKind): boolean {
  switch (kind) {
    case 'checkpoint':
      return safetensorsMetadata(path)?.['yopo.step'] !== undefined;
    case 'adversarial-images':
      return safetensorsMetadata(path)?.['yopo.file'] === MARKS.adversarialImages;
    case 'model-card':
      return head(path, 4096).toString('utf8').startsWith(MARKS.modelCard);
    case 'model-card-json': {
      const j = json(path) as { written_by?: unknown } | undefined;
      return typeof j === 'object' && j !== null && j.written_by === MARKS.modelCardJson;
    }
    case 'robustness-curve':
      return head(path, 4096).toString('utf8').includes(MARKS.robustnessCurve);
    case 'comparison-chart':
      return head(path, 4096).toString('utf8').includes(MARKS.comparisonChart);
    case 'per-sample': {
      const first = head(path, 64 * 1024)
        .toString('utf8')
        .split('\n')[0];
      try {
        const r = JSON.parse(first) as Record<string, unknown>;
        return (
          typeof r === 'object' &&
          r !== null &&
          typeof r.index === 'number' &&
          typeof r.eps === 'number' &&
          typeof r.norm === 'string'
        );
      } catch {
        return false;
      }
    }
    case 'reproduction-report':
      return head(path, 4096).toString('utf8').includes(MARKS.reproduction);
    case 'reproduction-json': {
      const j = json(path) as { written_by?: unknown } | undefined;
      return typeof j === 'object' && j !== null && j.written_by === MARKS.reproductionJson;
    }
    case 'tuning-cache': {
      const j = json(path) as { version?: unknown; choices?: unknown } | undefined;
      return (
        typeof j === 'object' &&
        j !== null &&
        typeof j.version === 'number' &&
        typeof j.choices === 'object' &&
        j.choices !== null
      );
    }
  }
}

/**
 * Checks that `command` may write `target`: its folder exists, it is not a folder, and if it exists it
 * carries the mark of its kind, or `force` is true. `force` null: the command has no --force (then the
 * message says to move the file away). Throws a UsageError of one line; returns nothing.
 *
 * Every writing path calls this right before its write, and commands that run long call it for all
 * their outputs before they start too, so that a refusal costs nothing.
 */
export function checkMayWrite(command: string, target: WriteTarget, force: boolean | null): void {
  const { path, kind, option } = target;
  const named = option ? `--${option} ${path}` : path;
  const parent = dirname(path);
  if (!existsSync(parent) && target.createsFolder) return;
  if (!existsSync(parent))
    throw new UsageError(`yopo ${command}: ${named}: the folder ${parent} does not exist (create it first)`);
  if (!statSync(parent).isDirectory())
    throw new UsageError(`yopo ${command}: ${named}: ${parent} is a file, not a folder`);
  if (!existsSync(path)) return;
  if (statSync(path).isDirectory()) throw new UsageError(`yopo ${command}: ${named} is a folder, expected a file name`);
  if (force || hasMark(path, kind)) return;
  const instead =
    force === null
      ? 'move it away first'
      : `add --force to replace it${option ? `, or choose another --${option}` : ''}`;
  throw new UsageError(
    `yopo ${command}: ${path} already exists and is not ${DESCRIPTIONS[kind]} that yopo wrote; ${instead} (nothing was changed)`,
  );
}

/** checkMayWrite for several targets, in order (the first problem is the one reported). */
export function checkMayWriteAll(command: string, targets: readonly WriteTarget[], force: boolean | null): void {
  for (const t of targets) checkMayWrite(command, t, force);
}

/** Whether two paths name the same file (the same path, or hard or symbolic links to one file). */
export function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.ino === y.ino && x.dev === y.dev;
  } catch {
    return false; // one of them does not exist (yet)
  }
}
