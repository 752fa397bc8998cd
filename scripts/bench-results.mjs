// Regenerates docs/benchmarks-latest.md from one benchmark run's JSON, so the numbers there are never typed by
// hand. Builds first, then runs the full benchmark (long on a software adapter: PreAct-ResNet18
// steps take minutes each) with its progress on stderr.
//
//   npm run bench:results                                  full run, writes docs/benchmarks-latest.md
//   npm run bench:results -- --from report.json            render a saved `--json` report instead
//   npm run bench:results -- --from r.json --out /tmp/R.md  ...to another file
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { from: { type: 'string' }, out: { type: 'string' } } });
const out = resolve(values.out ?? resolve(root, 'docs/benchmarks-latest.md'));

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    console.error(`bench:results: '${[command, ...args].join(' ')}' failed (exit ${r.status})`);
    process.exit(1);
  }
  return r.stdout;
}

run('npm', ['run', '-s', 'build'], { stdio: 'inherit' });
let json;
if (values.from) {
  json = readFileSync(resolve(values.from), 'utf8');
} else {
  process.env.XDG_RUNTIME_DIR ??= '/tmp/yopo-runtime';
  mkdirSync(process.env.XDG_RUNTIME_DIR, { recursive: true });
  json = run(process.execPath, ['dist/cli/main.js', 'bench', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
}
let report;
try {
  report = JSON.parse(json);
} catch (error) {
  console.error(`bench:results: the benchmark's output is not one JSON object: ${error.message}`);
  process.exit(1);
}
if (!Array.isArray(report.results) || !report.date || !report.command) {
  console.error('bench:results: the JSON lacks date, command or results: is it a `yopo bench --json` report?');
  process.exit(1);
}
const { renderResultsMarkdown } = await import(pathToFileURL(resolve(root, 'dist/bench/markdown.js')).href);
// Written beside the target and renamed: an interrupted run never leaves half a file.
mkdirSync(dirname(out), { recursive: true });
writeFileSync(`${out}.tmp`, renderResultsMarkdown(report));
renameSync(`${out}.tmp`, out);
console.error(
  `bench:results: wrote ${out} (${report.results.length} results, ${report.quick ? 'quick' : 'full'} run of ${report.date})`,
);
