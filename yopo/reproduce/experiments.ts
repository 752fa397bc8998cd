// The paper's claims as experiments that `yopo reproduce NAME` runs: which presets race each other,
// under which attack the paper measured them, and what it reported. Each method is an ordinary
// `yopo train --preset` run; the experiment adds equal budgets, the same evaluation marks, the strong
// attack beside the paper's, and the report (run.ts, report.ts).

import { findPreset } from '../presets.js';

/** APGD-CE + APGD-T (AutoAttack's white-box part): every evaluation runs it beside the paper's attack. */
export const STRONG_ATTACK = 'apgd-ce+apgd-t';

/** A robust accuracy (fraction) the paper reports at a training time (seconds on its GPU), read off its figure. */
export interface PaperPoint {
  robust: number;
  seconds: number;
}

/** One method of an experiment: its run folder's name under --out and the preset it trains. */
export interface ExperimentMethod {
  name: string;
  preset: string;
  /** The paper's points for this method in the figure the experiment reproduces. */
  paperPoints?: PaperPoint[];
}

/** One of the paper's claims, runnable. */
export interface Experiment {
  name: string;
  /** Where the claim is in the paper. */
  source: string;
  claim: string;
  /** The attack the paper evaluated with (each preset's eval-attack is the same). */
  paperAttack: string;
  /** What the experiment needs to be useful, said before it starts (null: runs anywhere, slowly). */
  needs: string | null;
  /** Named YOPO settings (`--setting`), with the default first; absent when there is one. */
  settings?: readonly string[];
  /** The methods, run in this order; the last is the baseline the others are measured against. */
  methods(setting: string | undefined): ExperimentMethod[];
}

/** Figure 3a, read off the figure's data: 50 / 90 / 95% PGD-40 robust accuracy at these seconds. */
const FIGURE_3A_YOPO: PaperPoint[] = [
  { robust: 0.5, seconds: 13 },
  { robust: 0.9, seconds: 78 },
  { robust: 0.95, seconds: 260 },
];
const FIGURE_3A_PGD: PaperPoint[] = [
  { robust: 0.5, seconds: 64 },
  { robust: 0.9, seconds: 495 },
  { robust: 0.95, seconds: 1250 },
];

/** mnist-time's YOPO settings and their presets: the figure's (default), the final code's, and the figure's rate after a warm-up. */
const MNIST_SETTINGS: Record<string, string> = {
  figure: 'mnist-yopo-5-10-figure',
  final: 'mnist-yopo-5-10',
  warmup: 'mnist-yopo-5-10-warmup',
};

const CIFAR_NEEDS =
  'needs --data-dir with CIFAR-10 (the binary version) and a GPU: on a software adapter one epoch takes days';

/** The experiments, in the order of the paper. */
export const EXPERIMENTS: readonly Experiment[] = [
  {
    name: 'mnist-time',
    source: 'Figure 3a',
    claim:
      "YOPO-5-10 reaches PGD-40's robust accuracy within about 250 s where PGD-40 needs more than 1250 s (SmallCNN, MNIST, L∞ ε 0.3)",
    paperAttack: 'pgd-40',
    needs: null,
    settings: Object.keys(MNIST_SETTINGS),
    methods: (setting = 'figure') => [
      {
        name: MNIST_SETTINGS[setting].replace(/^mnist-/, ''),
        preset: MNIST_SETTINGS[setting],
        paperPoints: FIGURE_3A_YOPO,
      },
      { name: 'pgd-40', preset: 'mnist-pgd-40', paperPoints: FIGURE_3A_PGD },
    ],
  },
  {
    name: 'cifar10-time',
    source: 'Figure 3b',
    claim: "PreAct-ResNet18 YOPO-5-3 reaches PGD-10's robust accuracy in a fraction of its time (CIFAR-10, L∞ ε 8/255)",
    paperAttack: 'pgd-20',
    needs: CIFAR_NEEDS,
    methods: () => [
      { name: 'yopo-5-3', preset: 'cifar10-preact-resnet18-yopo-5-3' },
      { name: 'pgd-10', preset: 'cifar10-preact-resnet18-pgd-10' },
    ],
  },
  {
    name: 'cifar10-wrn',
    source: 'Table 1',
    claim: 'WRN-34-10 YOPO-5-3 matches PGD-10 (86.70% / 47.98% against 87.30% / 47.04% PGD-20) in 476 min against 2713',
    paperAttack: 'pgd-20',
    needs: CIFAR_NEEDS,
    methods: () => [
      { name: 'yopo-5-3', preset: 'cifar10-wrn-34-10-yopo-5-3' },
      { name: 'yopo-3-5', preset: 'cifar10-wrn-34-10-yopo-3-5' },
      { name: 'pgd-10', preset: 'cifar10-wrn-34-10-pgd-10' },
    ],
  },
  {
    name: 'cifar10-trades',
    source: 'Table 2',
    claim: 'TRADES-YOPO-3-4 matches TRADES-10 (87.82% / 46.13% against 86.14% / 44.50% PGD-20) in 259 min against 633',
    paperAttack: 'pgd-20',
    needs: CIFAR_NEEDS,
    methods: () => [
      { name: 'trades-yopo-3-4', preset: 'cifar10-preact-resnet18-trades-yopo-3-4' },
      { name: 'trades-yopo-2-5', preset: 'cifar10-preact-resnet18-trades-yopo-2-5' },
      { name: 'trades-10', preset: 'cifar10-preact-resnet18-trades-10' },
    ],
  },
];

/** The experiment with this name, or undefined. */
export function findExperiment(name: string): Experiment | undefined {
  return EXPERIMENTS.find((e) => e.name === name);
}

/** The `yopo reproduce --list` text: one block per experiment (claim, methods and their presets, settings, needs). */
export function experimentList(): string {
  return EXPERIMENTS.map((e) => {
    const settings = e.settings
      ? [
          `  --setting ${e.settings.join('|')} (default ${e.settings[0]}): ${e.settings.map((s) => `${s} = ${e.methods(s)[0].preset}`).join(', ')}`,
        ]
      : [];
    return [
      `${e.name} (${e.source}): ${e.claim}`,
      `  methods, in order: ${e
        .methods(undefined)
        .map((m) => `${m.name} (--preset ${m.preset}: ${findPreset(m.preset)?.follows ?? ''})`)
        .join('; ')}`,
      ...settings,
      `  evaluated with the paper's ${e.paperAttack} and ${STRONG_ATTACK}`,
      ...(e.needs ? [`  ${e.needs}`] : []),
    ].join('\n');
  }).join('\n\n');
}
