// One writer per run folder: `yopo train` holds DIR/run.lock while it runs. The lock file names the
// process (pid, host, start time), so a second train on the same folder fails with one line naming
// the first. A lock left by a process that no longer exists (killed by SIGKILL or a power cut) on
// this host is stale and taken over; a lock from another host cannot be checked and is refused.
// The lock appears with its content in one step, so a reader never mistakes a lock being written for
// a stale one; an empty or unreadable lock counts as stale only once it is FRESH_LOCK_MS old.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { closeSync, linkSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { UsageError } from './args.js';

/** File name of the lock, in the run folder. */
export const LOCK_FILE = 'run.lock';

/**
 * An empty or unreadable lock younger than this is being created, not left behind: locks appear
 * with their content in one step (below), so only an older yopo or a crash mid-write leaves one.
 */
const FRESH_LOCK_MS = 10_000;

interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

/** A held run-folder lock: its path and release(). */
export interface RunLock {
  readonly path: string;
  /** Removes the lock file (synchronously, so exit and signal handlers can call it). Idempotent; throws when the file cannot be removed. */
  release(): void;
}

/** Whether process `pid` exists on this host. */
export function isAlive(pid: number): boolean {
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

/**
 * Throws a UsageError naming the process that holds `dir`'s lock, if one does. Returns true when a
 * lock file is there but stale (its process is gone, or it is empty and old): it may be taken over.
 */
function refuseIfHeld(dir: string, command: string): boolean {
  const path = join(dir, LOCK_FILE);
  let age: number;
  try {
    age = Date.now() - statSync(path).mtimeMs;
  } catch {
    return false; // no lock
  }
  const owner = readOwner(path);
  if (owner && owner.host !== hostname())
    throw new UsageError(
      `yopo ${command}: ${dir} is in use by process ${owner.pid} on host ${owner.host} (since ${owner.started}); if that run is over, delete ${path}`,
    );
  if (owner && isAlive(owner.pid))
    throw new UsageError(
      `yopo ${command}: ${dir} is in use by another yopo process (pid ${owner.pid}, since ${owner.started}); wait for it or stop it`,
    );
  if (!owner && age < FRESH_LOCK_MS)
    throw new UsageError(
      `yopo ${command}: ${dir} is being taken by another process (its ${LOCK_FILE} is not readable yet); try again in a few seconds`,
    );
  return true;
}

/** Fails with one line naming the process that holds `dir`, if any (before a command looks at the folder's files). */
export function checkNotHeld(dir: string, command = 'train'): void {
  refuseIfHeld(dir, command);
}

/**
 * Creates `path` holding `text`, only if it does not exist, in one step: the text goes into a temp
 * file that is then hard-linked to `path` (link never replaces), so a reader sees no lock or a
 * complete one. Returns false when `path` exists. Where links are not supported it falls back to
 * create-then-write.
 */
function createWithContent(path: string, text: string): boolean {
  const temp = join(dirname(path), `.${LOCK_FILE}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  writeFileSync(temp, text, { flag: 'wx' });
  try {
    linkSync(temp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw e;
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e2;
    }
    writeSync(fd, text);
    closeSync(fd);
    return true;
  } finally {
    rmSync(temp, { force: true });
  }
}

/** Whether `name` is the temp file of a lock being created by a process that no longer exists. */
export function isStaleLockTemp(name: string): boolean {
  const m = new RegExp(`^\\.${LOCK_FILE.replace('.', '\\.')}\\.tmp-(\\d+)-[0-9a-f]{8}$`).exec(name);
  return m !== null && !isAlive(Number(m[1]));
}

/** Takes the lock on `dir` (which must exist) or throws a UsageError naming the process that holds it. */
export function acquireRunLock(dir: string, command = 'train'): RunLock {
  const path = join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    let created: boolean;
    try {
      created = createWithContent(path, `${JSON.stringify(me)}\n`); // of two processes racing here exactly one succeeds
    } catch (e) {
      throw new Error(`cannot create the run lock ${path}: ${(e as Error).message}`);
    }
    if (!created) {
      // Stale (its process is gone, or empty and old: killed while an older yopo wrote it): take it over.
      if (refuseIfHeld(dir, command)) rmSync(path, { force: true });
      continue;
    }
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
