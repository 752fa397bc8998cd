// One writer per run folder: `yopo train` holds DIR/run.lock while it runs. The lock file names the
// process (pid, host, start time), so a second train on the same folder fails with one line naming
// the first. A lock left by a process that no longer exists (killed by SIGKILL or a power cut) on
// this host is stale and taken over; a lock from another host cannot be checked and is refused.

import { hostname } from 'node:os';
import { join } from 'node:path';
import { openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { UsageError } from './args.js';

/** File name of the lock, in the run folder. */
export const LOCK_FILE = 'run.lock';

interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

/** A held run-folder lock: its path and release(). */
export interface RunLock {
  readonly path: string;
  /** Removes the lock file (synchronously, so exit and signal handlers can call it). Idempotent. */
  release(): void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, but not ours
  }
}

function readOwner(path: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return Number.isInteger(o.pid) && typeof o.host === 'string' ? o : null;
  } catch {
    return null; // vanished, or half-written by a process killed while creating it
  }
}

/** Takes the lock on `dir` (which must exist) or throws a UsageError naming the process that holds it. */
export function acquireRunLock(dir: string, command = 'train'): RunLock {
  const path = join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx'); // create-only: of two processes racing here exactly one succeeds
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create the run lock ${path}: ${(e as Error).message}`);
      const owner = readOwner(path);
      if (owner && owner.host !== me.host) throw new UsageError(`yopo ${command}: ${dir} is in use by process ${owner.pid} on host ${owner.host} (since ${owner.started}); if that run is over, delete ${path}`);
      if (owner && isAlive(owner.pid)) throw new UsageError(`yopo ${command}: ${dir} is in use by another yopo process (pid ${owner.pid}, since ${owner.started}); wait for it or stop it`);
      // Stale (its process is gone) or unreadable (killed while writing it): take it over.
      rmSync(path, { force: true });
      continue;
    }
    writeSync(fd, `${JSON.stringify(me)}\n`);
    closeSync(fd);
    let held = true;
    return {
      path,
      release() {
        if (!held) return;
        held = false;
        if (readOwner(path)?.pid === me.pid) rmSync(path, { force: true });
      },
    };
  }
  throw new UsageError(`yopo ${command}: could not take the run lock ${path} (other processes keep taking it)`);
}
