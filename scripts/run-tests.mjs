// Runs every compiled uvu test file (dist/test/**/*.test.js), each in its own Node process (its own
// WebGPU device), and ends with the plain "N passed, N failed" line that CI reads. Each file's output
// comes whole when it ends, with its time. Optional arguments: `--group NAME`, the files of one group of
// scripts/test-groups.mjs (`npm run test:fast` is `--group fast`), and a substring to filter file names.
//
// YOPO_TEST_JOBS sets how many files run at once. The default is half the cores (at most 4): lavapipe
// runs each dispatch on every core, so on the 2-core CI machine files run one at a time (two side by
// side were no faster there: on a cold shader cache each file took about twice as long as alone).
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { availableParallelism } from 'node:os';
import { TEST_GROUPS } from './test-groups.mjs';

const args = process.argv.slice(2);
const groupAt = args.indexOf('--group');
const group = groupAt >= 0 ? args.splice(groupAt, 2)[1] : null;
if (group !== null && !Object.hasOwn(TEST_GROUPS, group ?? '')) {
  console.error(`run-tests: --group must be one of ${Object.keys(TEST_GROUPS).join(', ')} (got '${group ?? ''}')`);
  process.exit(2);
}
const filter = args[0] ?? '';
const runtimeDir = process.env.XDG_RUNTIME_DIR ?? '/tmp/yopo-runtime';
mkdirSync(runtimeDir, { recursive: true });
const jobs = Number(process.env.YOPO_TEST_JOBS) || Math.max(1, Math.min(4, Math.floor(availableParallelism() / 2)));

// The slowest files first (measured on a cold shader cache), so that no long file starts last.
const SLOW_FIRST = [
  'train_yopo_mnist',
  'browser',
  'kernels_conv',
  'yopo',
  'kernels_matmul',
  'cli',
  'train_mnist',
  'models_gpu',
  'engine_ops',
];
const rank = (file) => {
  const i = SLOW_FIRST.indexOf(
    file
      .replace(/\.test\.js$/, '')
      .split('/')
      .pop(),
  );
  return i < 0 ? SLOW_FIRST.length : i;
};
/** Every compiled test file under dist/test, by its path there ('kernels/conv_plan.test.js'). */
const compiled = readdirSync('dist/test', { recursive: true })
  .map((f) => String(f))
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => relative('dist/test', join('dist/test', f)));
const files = compiled
  .filter((f) => f.includes(filter))
  .filter((f) => group === null || TEST_GROUPS[group].includes(f.replace(/\.test\.js$/, '')))
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
if (files.length === 0) {
  console.error(
    `no compiled test files${group ? ` of group ${group}` : ''}${filter ? ` matching '${filter}'` : ''} in dist/test (run \`npm run build\` first)`,
  );
  process.exit(1);
}

/** Runs one file; its output is printed whole when it ends, so files do not interleave. */
function runFile(file) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`dist/test/${file}`], {
      // Kernel tuning off unless asked (YOPO_TUNE): a user's tuning cache must not change what the tests run.
      env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir, YOPO_TUNE: process.env.YOPO_TUNE ?? 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code, signal) => {
      const count = (label) => Number(out.match(new RegExp(`${label}:\\s+(\\d+)`))?.[1] ?? 0);
      const total = count('Total'),
        passed = count('Passed'),
        skipped = count('Skipped');
      // A file that crashed before uvu's summary counts as one failure.
      const failed = code === 0 && total > 0 ? total - passed - skipped : Math.max(1, total - passed - skipped);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const status = signal ? `killed by ${signal}` : `exit ${code}`;
      process.stdout.write(`\n── ${file} (${seconds} s, ${status})\n${out.trimEnd()}\n`);
      resolve({ passed, failed, skipped });
    });
  });
}

const queue = [...files];
const results = [];
await Promise.all(
  Array.from({ length: Math.min(jobs, files.length) }, async () => {
    while (queue.length > 0) results.push(await runFile(queue.shift()));
  }),
);
const sum = (key) => results.reduce((a, r) => a + r[key], 0);
const passed = sum('passed'),
  failed = sum('failed'),
  skipped = sum('skipped');
console.log(
  `\ntests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''} (${files.length} files, ${jobs} at a time)`,
);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
