#!/usr/bin/env node
// The yopo command: train, presets, eval, compare, doctor, serve (and bench). Errors print one line and exit 1
// (2 for a bad command line); they never leave half-written files behind.

import { getBackend, hasBackend } from '../engine/index.js';
import { WebGPUBackend } from '../kernels/backend.js';
import { UsageError } from './args.js';
import { benchCommand } from './bench_command.js';
import { compareCommand } from './compare_command.js';
import { demoCommand } from './demo_command.js';
import { doctorCommand } from './doctor_command.js';
import { evalCommand } from './eval_command.js';
import { explainFsErrors } from './fs_errors.js';
import { serveCommand } from './serve_command.js';
import { presetsCommand } from './presets_command.js';
import { reproduceCommand } from './reproduce_command.js';
import { trainCommand } from './train_command.js';
import { tuneCommand } from './tune_command.js';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; summary: string }> = {
  demo: { run: demoCommand, summary: 'YOPO-5-10 on MNIST for a few minutes, then PGD-20 (what npm start runs)' },
  train: {
    run: trainCommand,
    summary: 'adversarially train a model (YOPO, PGD, Free, TRADES, natural) and measure it',
  },
  presets: { run: presetsCommand, summary: "the paper's published configurations (yopo train --preset NAME)" },
  eval: { run: evalCommand, summary: 'clean and robust accuracy of a checkpoint' },
  reproduce: {
    run: reproduceCommand,
    summary: "rerun one of the paper's claims (yopo reproduce --list): methods in turn, both attacks, a report",
  },
  compare: { run: compareCommand, summary: 'one chart and table for several runs' },
  doctor: { run: doctorCommand, summary: 'the WebGPU adapter and its limits' },
  tune: {
    run: tuneCommand,
    summary: "time each kernel variant for a model's shapes on this adapter and cache the fastest",
  },
  serve: { run: serveCommand, summary: 'the web page: train YOPO and attack digits in the browser (npm run web)' },
  bench: {
    run: (argv) => benchCommand(argv),
    summary: 'first layer vs full passes, steps per method, kernels beside TF.js',
  },
};

function usage(): string {
  return [
    'yopo: fast adversarial training on WebGPU',
    '',
    'usage: yopo COMMAND [options]   (yopo COMMAND --help for its options)',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`),
  ].join('\n');
}

/** A multi-line message (e.g. a checkpoint that does not match the model, one line per problem) as one line. */
function oneLine(message: string): string {
  const [first = '', ...rest] = message
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return rest.length ? `${first.replace(/:$/, '')}: ${rest.map((l) => l.replace(/^-\s*/, '')).join('; ')}` : first;
}

async function main(argv: string[]): Promise<number> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`yopo: unknown command '${name}'; expected one of ${Object.keys(COMMANDS).join(', ')}`);
    return 2;
  }
  try {
    await command.run(rest);
    return typeof process.exitCode === 'number' ? process.exitCode : 0; // e.g. 130 after Ctrl-C stopped a run
  } catch (error) {
    const message = oneLine(
      explainFsErrors((error as Error).message ?? String(error), (error as { path?: string }).path),
    );
    console.error(error instanceof UsageError ? message : `yopo ${name}: ${message}`);
    // A later problem (e.g. while cleaning up after the failure) comes second, never instead of the cause.
    const second = (error as { secondLine?: string }).secondLine;
    if (second) console.error(second);
    if (process.env.YOPO_DEBUG) console.error((error as Error).stack);
    return error instanceof UsageError ? 2 : 1;
  }
}

/**
 * Lets the GPU finish and destroys its devices before the process exits. Exiting with a device alive
 * leaves Dawn's and lavapipe's threads running while the process tears down, and one 14-minute demo
 * ended in a segmentation fault there, after all its output was written.
 */
async function releaseDevice(): Promise<void> {
  if (!hasBackend()) return;
  const backend = getBackend();
  if (!(backend instanceof WebGPUBackend)) return;
  try {
    await backend.sync();
    await backend.gpu.compileAhead?.idle();
  } catch {
    // A device error was reported by the command already, or is moot now: destroy it anyway.
  }
  backend.dispose();
}

const code = await main(process.argv.slice(2));
await releaseDevice();
process.exit(code);
