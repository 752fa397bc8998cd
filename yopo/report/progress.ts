// Progress output for long work (an epoch of training, an evaluation pass).
//
// On a terminal: one line redrawn in place, at most 10 times a second.
//   epoch 1/40 [#####...............] 37/235 312 img/s loss 0.4123 eta 6m02s
// Elsewhere (CI logs, files): plain lines, the first, the last, and at most one every
// `intervalS` seconds in between, so logs stay short.
//   epoch 1/40 batch 37/235 312 img/s loss 0.4123 eta 6m02s

/** The part of a writable stream that Progress uses. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Options of a Progress line: total units, label, unit name, output stream, TTY mode, clock and the interval between plain lines. */
export interface ProgressOptions {
  total: number;
  /** Printed first on every line, e.g. "epoch 1/40". */
  label?: string;
  /** What one unit of `done` is called in plain lines ("batch 37/235"). */
  unit?: string;
  stream?: ProgressStream;
  isTTY?: boolean;
  /** Milliseconds, like performance.now(); injected by tests. */
  now?: () => number;
  /** Non-TTY: the least number of seconds between two lines. */
  intervalS?: number;
  /** TTY: characters inside the brackets. */
  barWidth?: number;
}

type Fields = Record<string, string | number>;

const REDRAW_MS = 100; // TTY: at most 10 redraws a second
const CLEAR_TO_END = '\x1b[K';

/** Progress output for long work: on a terminal one line redrawn in place, elsewhere occasional plain lines. */
export class Progress {
  private readonly total: number;
  private readonly label: string;
  private readonly unit: string;
  private readonly stream: ProgressStream;
  private readonly isTTY: boolean;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly barWidth: number;
  private readonly start: number;

  private done = 0;
  private fields: Fields = {};
  private limitS = Infinity; // the work stops within this many seconds whatever the rate (a time budget)
  private updated = false; // has update() been called at all
  private shown = false; // is the latest state on screen / in the log
  private lastShownAt = -Infinity;
  private lastDoneShown = false; // the completed state was shown once; don't repeat it
  private finished = false;

  constructor(options: ProgressOptions) {
    this.total = Math.max(0, options.total);
    this.label = options.label ?? '';
    this.unit = options.unit ?? 'batch';
    this.stream = options.stream ?? process.stdout;
    this.isTTY = options.isTTY ?? Boolean(this.stream.isTTY);
    this.now = options.now ?? (() => performance.now());
    this.intervalMs = (options.intervalS ?? 10) * 1000;
    this.barWidth = options.barWidth ?? 20;
    this.start = this.now();
  }

  /**
   * Records progress; draws or prints it if the throttle allows (the first and last always do).
   * `limitS`: the work will stop within this many seconds anyway (a training time budget), so the
   * ETA is at most that.
   */
  update(done: number, fields: Fields = {}, limitS = Infinity): void {
    if (this.finished) return;
    const first = !this.updated;
    this.done = Math.min(Math.max(0, done), this.total);
    this.fields = fields;
    this.limitS = Math.max(0, limitS);
    this.updated = true;
    this.shown = false;

    const t = this.now();
    const last = this.done >= this.total && !this.lastDoneShown;
    const wait = this.isTTY ? REDRAW_MS : this.intervalMs;
    if (first || last || t - this.lastShownAt >= wait) this.show(t);
  }

  /** Prints a line of its own without garbling the bar. */
  log(line: string): void {
    if (this.isTTY && this.updated && !this.finished) {
      this.stream.write(`\r${CLEAR_TO_END}${line}\n`);
      this.show(this.now());
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  /** Ends the progress display: the final state (or `summary` in its place on a TTY) and a newline. */
  finish(summary?: string): void {
    if (this.finished) return;
    this.finished = true;
    if (this.isTTY) {
      if (summary !== undefined) this.stream.write(`\r${CLEAR_TO_END}${summary}\n`);
      else if (this.updated) {
        this.stream.write(`\r${this.fit(this.text(this.now()))}${CLEAR_TO_END}\n`);
      }
      return;
    }
    if (this.updated && !this.shown) this.stream.write(`${this.text(this.now())}\n`);
    if (summary !== undefined) this.stream.write(`${summary}\n`);
  }

  private show(t: number): void {
    if (this.isTTY) this.stream.write(`\r${this.fit(this.text(t))}${CLEAR_TO_END}`);
    else this.stream.write(`${this.text(t)}\n`);
    this.shown = true;
    this.lastShownAt = t;
    if (this.done >= this.total) this.lastDoneShown = true;
  }

  /** The status text, without control characters. */
  private text(t: number): string {
    const parts: string[] = [];
    if (this.label) parts.push(this.label);
    const count = `${this.done}/${this.total}`;
    if (this.isTTY) parts.push(this.bar(), count);
    else parts.push(`${this.unit} ${count}`);
    for (const [key, value] of Object.entries(this.fields)) parts.push(formatField(key, value));
    parts.push(`eta ${this.eta(t)}`);
    return parts.join(' ');
  }

  private bar(): string {
    const filled = this.total > 0 ? Math.round((this.done / this.total) * this.barWidth) : this.barWidth;
    return `[${'#'.repeat(filled)}${'.'.repeat(this.barWidth - filled)}]`;
  }

  /** Remaining time at the average rate so far, capped by the limit. */
  private eta(t: number): string {
    if (this.done >= this.total) return formatDuration(0);
    if (this.done === 0) return Number.isFinite(this.limitS) ? formatDuration(this.limitS) : '--';
    const elapsedS = (t - this.start) / 1000;
    return formatDuration(Math.min(this.limitS, (elapsedS / this.done) * (this.total - this.done)));
  }

  /** A line wider than the terminal wraps, and then '\r' only redraws its last row. */
  private fit(s: string): string {
    const cols = this.stream.columns;
    return cols && s.length >= cols ? s.slice(0, cols - 1) : s;
  }
}

/** Rates ("img/s": 312) read best as "312 img/s"; everything else as "loss 0.4123". */
function formatField(key: string, value: string | number): string {
  const v = typeof value === 'number' ? formatNumber(value) : value;
  return key.endsWith('/s') ? `${v} ${key}` : `${key} ${v}`;
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) || Math.abs(v) >= 100) return v.toFixed(0);
  return v.toPrecision(4);
}

/** Seconds as "42s", "1m23s", "6m02s" or "2h05m09s"; "--" when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  // Round once, up front, so 59.6 s becomes "1m00s" and never "0m60s".
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h${pad(m)}m${pad(s)}s`;
  if (m > 0) return `${m}m${pad(s)}s`;
  return `${s}s`;
}
