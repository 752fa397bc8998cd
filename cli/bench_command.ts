// yopo bench (also `npm run bench`, which runs this command): first layer vs full propagation, training
// steps per method, and kernels beside TensorFlow.js on the same device. The runner is loaded only when
// asked for: it needs the dev dependencies (tinybench, @tensorflow/tfjs), which the other commands do
// without. The CLI owns the entry point: nothing in bench/ imports the CLI.

import { type CommandSpec, parseCommand } from './args.js';

/** Options of `yopo bench`. */
export const benchSpec = {
  name: 'bench',
  summary: 'time the first layer vs full passes, training steps per method, and kernels beside TF.js',
  usage: 'bench [--quick] [--json] [--filter SUBSTRING[,SUBSTRING...]]',
  options: {
    quick: {
      type: 'boolean',
      help: 'SmallCNN only, fewer methods and shapes, few samples (minutes, even on a software adapter)',
    },
    json: {
      type: 'boolean',
      help: 'print one JSON object on stdout: { date, adapter, commit, command, results } (progress stays on stderr)',
    },
    filter: {
      type: 'string',
      valueName: 'SUBSTRING',
      help: 'only benchmarks whose name contains SUBSTRING, or one of several comma-separated (e.g. step/smallcnn, conv/fwd, matmul)',
    },
  },
} as const satisfies CommandSpec;

/** How the user started it, so the report can quote the exact command (npm sets npm_lifecycle_event). */
function invocation(argv: string[]): string {
  if (process.env.npm_lifecycle_event === 'bench') return argv.length ? 'npm run bench --' : 'npm run bench';
  return 'yopo bench';
}

/** `yopo bench`: runs the benchmarks (needs the dev dependencies) and prints a table, or JSON with --json. */
export async function benchCommand(argv: string[], invokedAs = invocation(argv)): Promise<void> {
  const parsed = parseCommand(benchSpec, argv);
  if (!parsed) return;
  const { quick, json, filter } = parsed.values;
  let runner: typeof import('../bench/runner.js');
  let report: typeof import('../bench/report.js');
  try {
    [runner, report] = await Promise.all([import('../bench/runner.js'), import('../bench/report.js')]);
  } catch (error) {
    throw new Error(
      `the benchmark needs yopo's dev dependencies (tinybench, @tensorflow/tfjs); run 'npm install' in a checkout: ${(error as Error).message}`,
    );
  }
  const command = [invokedAs, ...argv.map(shellQuote)].join(' ');
  const result = await runner.runBench({ quick, ...(filter ? { filter } : {}), command });
  console.log(json ? JSON.stringify(result, null, 2) : report.formatTable(result));
}

/** An argument as a POSIX shell would need it written. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
