// Atomic file replacement: readers see either the old file or the complete new one, never a
// half-written file, even if the process is killed or the machine loses power mid-save.
//
// Recipe: write a temporary file next to the target (same directory, so same file system and
// rename is atomic), fsync it so its bytes are on disk before the name points at them, rename it
// over the target, then fsync the directory so the rename itself is durable. If anything fails
// before the rename, the temp file is removed and the old target is untouched.

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { faultPoint } from './fault_point.js';

/** Options of writeFileAtomic. */
export interface AtomicWriteOptions {
  /**
   * Called after the temp file is written and synced, just before the rename. Throwing here
   * aborts the write exactly like a real failure would. Meant for tests (failure injection).
   */
  beforeRename?: (tempPath: string) => void | Promise<void>;
}

/** `dir/.name.tmp-<pid>-<random>`: hidden, next to the target, unique per process and call. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Replaces `path` with `bytes` atomically (see the top of this file). */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const temp = tempPathFor(path);
  let handle: FileHandle | undefined;
  try {
    // 'wx': create only, never follow or clobber something that happens to have the temp name.
    handle = await open(temp, 'wx');
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await options.beforeRename?.(temp);
    faultPoint(`${basename(path)}: temp file written`);
    await rename(temp, path);
  } catch (err) {
    await handle?.close().catch(() => {});
    await rm(temp, { force: true }).catch(() => {});
    throw err;
  }
  syncDirectory(dirname(path));
  faultPoint(`${basename(path)}: replaced`);
}

/**
 * Synchronous twin of writeFileAtomic, for places that cannot await (a signal or exit handler
 * saving a last checkpoint). `beforeRename` must be synchronous here.
 */
export function writeFileAtomicSync(
  path: string,
  bytes: Uint8Array,
  options: { beforeRename?: (tempPath: string) => void } = {},
): void {
  const temp = tempPathFor(path);
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx');
    // writeSync may write less than asked (large buffers): loop until everything is out.
    for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    options.beforeRename?.(temp);
    faultPoint(`${basename(path)}: temp file written`);
    renameSync(temp, path);
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    try {
      rmSync(temp, { force: true });
    } catch {
      // leave a stray temp file rather than hide the original error
    }
    throw err;
  }
  syncDirectory(dirname(path));
  faultPoint(`${basename(path)}: replaced`);
}

/** True for a temp file left by writeFileAtomic (of any process): `.name.tmp-<pid>-<hex>`. */
export function isAtomicTempFile(name: string): boolean {
  return /^\..+\.tmp-\d+-[0-9a-f]{8}$/.test(name);
}

/**
 * Makes a rename in `dir` durable. Best effort: some platforms (Windows) cannot open or fsync a
 * directory, and by now the new file is already in place, so a failure here is not an error.
 */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // unsupported here; nothing more we can do
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
