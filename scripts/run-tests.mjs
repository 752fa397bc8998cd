// Runs every compiled uvu test file (dist/test/**/*.test.js) in one process and ends with the
// plain "N passed, N failed" line that CI reads. Optional argument: a substring to filter file names.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const filter = process.argv[2] ?? '';
const runtimeDir = process.env.XDG_RUNTIME_DIR ?? '/tmp/yopo-runtime';
mkdirSync(runtimeDir, { recursive: true });
const pattern = filter ? `${filter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*\\.test\\.js$` : '\\.test\\.js$';
const run = spawnSync(process.execPath, ['node_modules/uvu/bin.js', 'dist/test', pattern], {
  env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir },
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
  maxBuffer: 64 * 1024 * 1024,
});
process.stdout.write(run.stdout ?? '');
const count = (label) => Number((run.stdout ?? '').match(new RegExp(`${label}:\\s+(\\d+)`))?.[1] ?? 0);
const total = count('Total'), passed = count('Passed'), skipped = count('Skipped');
const failed = run.status === 0 ? total - passed - skipped : Math.max(1, total - passed - skipped);
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(run.status === 0 && total > 0 ? 0 : 1);
