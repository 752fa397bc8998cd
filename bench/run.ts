#!/usr/bin/env node
// `npm run bench [-- --quick --json --filter SUBSTRING]`: the same as `yopo bench`, with the npm
// command recorded in the report.

import { UsageError } from '../yopo/cli/args.js';
import { benchCommand } from '../yopo/cli/bench_command.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const argv = process.argv.slice(2);
// npm sets npm_lifecycle_event; `npm run bench -- --quick` reaches us as argv ['--quick'].
const viaNpm = process.env.npm_lifecycle_event === 'bench';
const invokedAs = viaNpm ? (argv.length ? 'npm run bench --' : 'npm run bench') : 'node dist/bench/run.js';

try {
  await benchCommand(argv, invokedAs);
  process.exit(0);
} catch (error) {
  const message = (error as Error).message ?? String(error);
  console.error(error instanceof UsageError ? message : `bench: ${message}`);
  if (process.env.YOPO_DEBUG) console.error((error as Error).stack);
  process.exit(error instanceof UsageError ? 2 : 1);
}
