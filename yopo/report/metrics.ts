// The metrics log of a training run: `metrics.jsonl`, one JSON object per line.
//
// Lines are appended one at a time with appendFileSync, so after a crash the file holds every
// complete record plus at most one partial last line (the write that was cut off). Readers skip
// that partial line with a warning; a broken line anywhere else is a real error.

import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/**
 * One record of the log. Accuracies are fractions in [0, 1] (the charts convert to percent).
 * A non-finite number (a diverged loss, say) is written as JSON `null`, so readers must treat
 * null like a missing value.
 */
export interface MetricRecord {
  epoch: number;
  step: number;
  elapsed_s: number;
  loss?: number;
  train_accuracy?: number;
  clean_accuracy?: number;
  robust_accuracy?: number;
  attack?: string;
  norm?: string;
  eps?: number;
  n?: number;
  lr?: number;
  images_per_s?: number;
  [k: string]: unknown;
}

/** What `MetricsLog.load` found: the records, and a warning when a partial last line was dropped. */
export interface MetricsReadResult {
  records: MetricRecord[];
  warning?: string;
}

const REQUIRED = ['epoch', 'step', 'elapsed_s'] as const;

/** The metrics.jsonl of a run: append() writes one record per line; reading skips a partial last line left by a crash. */
export class MetricsLog {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
    mkdirSync(dirname(path), { recursive: true });
  }

  /** Appends one record as one line. appendFileSync opens, writes and closes: the line is out of our buffers on return. */
  append(record: MetricRecord): void {
    for (const key of REQUIRED) {
      if (typeof record[key] !== 'number' || !Number.isFinite(record[key])) {
        throw new Error(
          `MetricsLog.append(${this.path}): "${key}" must be a finite number, got ${String(record[key])}`,
        );
      }
    }
    appendFileSync(this.path, `${JSON.stringify(record)}\n`, 'utf8');
  }

  /** The records of a log. A partial last line is dropped silently; use `load` to see the warning. */
  static read(path: string): MetricRecord[] {
    return MetricsLog.load(path).records;
  }

  /**
   * The records of a log, plus a warning if the last line was cut off mid-write.
   * Throws, naming the file and line number, for a corrupt line that is not the partial last one.
   */
  static load(path: string): MetricsReadResult {
    const { records, partial } = parseLines(path, readFileSync(path, 'utf8'));
    if (!partial) return { records };
    const warning =
      `${path}:${partial.lineNo}: ignored a partial last line (${partial.text.length} bytes, ` +
      `probably an interrupted write): ${clip(partial.text)}`;
    return { records, warning };
  }

  /**
   * For resuming from a checkpoint taken at `step`: drops every record with a later step and
   * any partial last line, so the resumed run appends after a clean history. The file is
   * rewritten atomically (temp file, fsync, rename), so a crash here loses nothing.
   * Returns how many records were dropped. A missing file is left missing.
   * `evaluationDue`: the checkpoint's evaluation is still to run, so the records at `step` other than
   * the step's own (evaluations written before a kill by a resume that ran them) are dropped too:
   * the resume writes them again.
   */
  static truncateAfterStep(path: string, step: number, evaluationDue = false): number {
    if (!existsSync(path)) return 0;
    const { records, lines } = parseLines(path, readFileSync(path, 'utf8'));
    // Keep the original text of kept lines (byte-for-byte, key order and all).
    const kept = lines.filter((_, i) => keptOnResume(records[i], step, evaluationDue));
    const dropped = records.length - kept.length;

    const tmp = `${path}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, kept.map((line) => `${line}\n`).join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    return dropped;
  }
}

/** Whether a record stays in the log of a run resumed from a checkpoint at `step` (see truncateAfterStep). */
export function keptOnResume(r: MetricRecord, step: number, evaluationDue = false): boolean {
  return r.step < step || (r.step === step && (!evaluationDue || 'loss' in r));
}

/** Parses every complete line. `lines[i]` is the source text of `records[i]`. */
function parseLines(
  path: string,
  text: string,
): { records: MetricRecord[]; lines: string[]; partial?: { lineNo: number; text: string } } {
  const raw = text.split('\n');
  // A file written only by append() ends with '\n', so the last element is ''. Anything else
  // there is a line whose newline never made it to disk.
  const last = raw.pop() ?? '';
  const records: MetricRecord[] = [];
  const lines: string[] = [];

  raw.forEach((line, i) => {
    if (line.trim() === '') return; // tolerate blank lines (hand edits)
    records.push(parseRecord(path, i + 1, line));
    lines.push(line);
  });

  if (last.trim() === '') return { records, lines };
  // An unterminated last line that still parses is complete (someone wrote it without '\n').
  try {
    records.push(parseRecord(path, raw.length + 1, last));
    lines.push(last);
    return { records, lines };
  } catch {
    return { records, lines, partial: { lineNo: raw.length + 1, text: last } };
  }
}

function parseRecord(path: string, lineNo: number, line: string): MetricRecord {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new Error(`${path}:${lineNo}: corrupt metrics line (${(err as Error).message}): ${clip(line)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${path}:${lineNo}: metrics line is not a JSON object: ${clip(line)}`);
  }
  const record = value as Record<string, unknown>;
  for (const key of REQUIRED) {
    if (typeof record[key] !== 'number') {
      throw new Error(`${path}:${lineNo}: metrics record has no numeric "${key}": ${clip(line)}`);
    }
  }
  return record as MetricRecord;
}

function clip(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}
