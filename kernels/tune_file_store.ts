// Where the Node entry keeps kernel tuning choices: one JSON file per adapter,
// $YOPO_TUNE_CACHE/tune-<adapter id>.json (default ${XDG_CACHE_HOME:-~/.cache}/yopo), written
// atomically (a temporary file renamed over the old one). Registered with the tuner when imported;
// the browser entry never imports it, so there choices stay in memory.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type TuneStore, provideTuneStore } from './tune.js';

/** The environment variable naming the folder of the tuning cache files. */
export const TUNE_CACHE_ENV = 'YOPO_TUNE_CACHE';

/** The folder of the tuning cache: $YOPO_TUNE_CACHE, else $XDG_CACHE_HOME/yopo, else ~/.cache/yopo. */
export function tuneCacheDir(env: Record<string, string | undefined> = process.env): string {
  return env[TUNE_CACHE_ENV] || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'yopo');
}

/** A TuneStore over the files of one folder. */
export function fileTuneStore(dir: string): TuneStore {
  const path = (id: string) => join(dir, `tune-${id}.json`);
  return {
    where: path,
    read(id) {
      try {
        return readFileSync(path(id), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    write(id, text) {
      mkdirSync(dir, { recursive: true });
      const temporary = `${path(id)}.${process.pid}.tmp`;
      writeFileSync(temporary, text);
      renameSync(temporary, path(id));
    },
  };
}

provideTuneStore(() => fileTuneStore(tuneCacheDir()));
