// Where the Node entry remembers which WGSL programs are in Mesa's shader cache already, so that a
// second device compiling ahead (webgpu/compile_ahead.ts) leaves them alone in later processes: one
// file per adapter and Mesa cache folder, $YOPO_TUNE_CACHE/compiled-<id>.txt (the tuning cache's
// folder), one hash of a program's WGSL per line, appended as programs compile. Registered when
// imported; the browser entry never imports it. If Mesa's cache loses an entry (cleared, or evicted
// at its size limit), the only cost is that the main queue compiles it alone again.

import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { tuneCacheDir } from './tune_file_store.js';
import { adapterId } from './tune.js';
import { type CompiledIndex, provideCompiledIndex } from './webgpu/compile_ahead.js';

/** Mesa's shader cache folder: $MESA_SHADER_CACHE_DIR, else $XDG_CACHE_HOME/mesa_shader_cache, else ~/.cache/mesa_shader_cache. */
export function mesaCacheDir(env: Record<string, string | undefined> = process.env): string {
  return env.MESA_SHADER_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mesa_shader_cache');
}

/** The index file of an adapter (its identifying text) under the current Mesa cache folder. */
export function compiledIndexPath(
  adapterIdentity: string,
  env: Record<string, string | undefined> = process.env,
): string {
  return join(tuneCacheDir(env), `compiled-${adapterId(`${adapterIdentity}|${mesaCacheDir(env)}`)}.txt`);
}

/** A CompiledIndex over one file, read at first use. */
export function fileCompiledIndex(path: string): CompiledIndex {
  let known: Set<string> | null = null;
  const key = (code: string) => createHash('sha256').update(code).digest('hex').slice(0, 32);
  const load = (): Set<string> => {
    if (!known) {
      try {
        known = new Set(readFileSync(path, 'utf8').split('\n').filter(Boolean));
      } catch {
        known = new Set(); // missing or unreadable: nothing known, everything is compiled ahead
      }
    }
    return known;
  };
  return {
    has: (code) => load().has(key(code)),
    add(codes) {
      const set = load();
      const lines = [...new Set(codes.map(key))].filter((k) => !set.has(k));
      if (lines.length === 0) return;
      for (const k of lines) set.add(k);
      // Whole lines appended: an interrupted write leaves at worst one line that matches nothing.
      try {
        mkdirSync(dirname(path), { recursive: true });
        appendFileSync(path, `${lines.join('\n')}\n`);
      } catch {
        // Only a hint for speed: where the folder cannot be written, programs are simply compiled ahead again.
      }
    },
  };
}

provideCompiledIndex((identity) => fileCompiledIndex(compiledIndexPath(identity)));
