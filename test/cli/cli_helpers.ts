// The set-up every test of the yopo command shares: a temp folder with a tiny MNIST-format dataset,
// and `node dist/cli/main.js ...` run in it as a user runs it (a subprocess), its stderr without
// Dawn's limit warnings.

import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Random } from '../../engine/random.js';
import { writeMnist } from '../../yopo/data/index.js';

/** The compiled command. */
export const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

/** Dawn prints these from C++ straight to fd 2 when it clamps lavapipe's limits; no API silences them. */
const DAWN_WARNING =
  /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+/;

/** stderr's lines without blank lines and Dawn's limit warnings. */
export const errorLinesOf = (stderr: string) =>
  stderr.split('\n').filter((line) => line.trim() !== '' && !DAWN_WARNING.test(line));

/**
 * `count` MNIST-like images of 10 classes, each a bright bar at its own row plus noise (learnable),
 * as raw bytes. The same `rng` gives the same images.
 */
export function tinyMnist(count: number, rng: Random): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(count * 784);
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  for (let i = 0; i < count; i++) {
    const label = labels[i];
    for (let p = 0; p < 784; p++) {
      const row = Math.floor(p / 28);
      images[i * 784 + p] = Math.min(255, rng.int(60) + (row >= 2 + 2 * label && row < 4 + 2 * label ? 180 : 0));
    }
  }
  return { images, labels };
}

/** What one run of the command did. */
export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stderr's lines without Dawn's limit warnings. */
  errorLines: string[];
}

/** A temp folder holding data/ (a tiny MNIST) where the command runs. */
export class CliSandbox {
  readonly root: string;

  /** `train` and `test`: how many images each split of data/ holds (0: no such split); `seed` their noise. */
  constructor(prefix: string, data: { train: number; test: number; seed: number; gzipTest?: boolean }) {
    this.root = mkdtempSync(join(tmpdir(), prefix));
    const rng = new Random(data.seed);
    const train = data.train > 0 ? tinyMnist(data.train, rng) : null;
    const test = data.test > 0 ? tinyMnist(data.test, rng) : null;
    if (train) writeMnist(this.at('data'), 'train', train.images, train.labels);
    if (test) writeMnist(this.at('data'), 'test', test.images, test.labels, { gzip: data.gzipTest ?? false });
  }

  /** A path inside the sandbox. */
  at(...parts: string[]): string {
    return join(this.root, ...parts);
  }

  /** The environment of a run: this one's, without yopo's debugging and fault variables, plus `extra`. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = {
      ...process.env,
      XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp/yopo-runtime',
    };
    for (const name of ['YOPO_DEBUG', 'YOPO_KILL_AT', 'YOPO_FAULT_TRACE', 'YOPO_STOP_AT']) delete e[name];
    return { ...e, ...extra };
  }

  /** Runs `yopo ARGS` in the sandbox and waits for it (at most 4 minutes). `as`: a uid and gid to run as. */
  run(args: readonly string[], extraEnv: Record<string, string> = {}, as?: { uid: number; gid: number }): CliResult {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      cwd: this.root,
      env: this.env(extraEnv),
      encoding: 'utf8',
      timeout: 240_000,
      ...as,
    });
    if (r.error) throw r.error;
    return {
      status: r.status,
      signal: r.signal,
      stdout: r.stdout,
      stderr: r.stderr,
      errorLines: errorLinesOf(r.stderr),
    };
  }

  /** Starts `yopo ARGS` in the sandbox without waiting. */
  start(
    args: readonly string[],
    extraEnv: Record<string, string> = {},
    as?: { uid: number; gid: number },
  ): ChildProcessWithoutNullStreams {
    return spawn(process.execPath, [CLI, ...args], { cwd: this.root, env: this.env(extraEnv), ...as });
  }

  /** Starts `yopo ARGS`, sends `signal` once its stdout matches `when`, and resolves when it ends. */
  interrupted(when: RegExp, args: readonly string[], signal: NodeJS.Signals = 'SIGINT'): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const child = this.start(args);
      let stdout = '';
      let stderr = '';
      let sent = false;
      const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        if (!sent && when.test(stdout)) {
          sent = true;
          child.kill(signal);
        }
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (status, sig) => {
        clearTimeout(timer);
        resolve({ status, signal: sig, stdout, stderr, errorLines: errorLinesOf(stderr) });
      });
    });
  }

  /** Deletes the sandbox. */
  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
