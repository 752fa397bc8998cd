// The paper's experiments by name (docs/algorithm.md, "Published settings" and "The paper's reported results"):
// `yopo train --preset NAME` fills in the options of one published configuration; options given beside
// it override it. Each preset is written out in full (not derived from defaults.ts) so that it can be
// read as the record of the published run; a test checks that the defaults agree with it.
//
// Epochs: a preset runs the table's `num_epochs`. The official YOPO-repo loops
// (`while True: if now_epoch > num_epochs: break; now_epoch += 1`) run num_epochs + 1 epochs, the last
// one at the final learning rate; add `--epochs N+1` to match them. The TRADES-10 baseline's loop runs
// exactly its 100 epochs.

/** Option values as `yopo train` takes them on the command line (keys are option names). */
export type PresetOptions = Record<string, string | number>;

/** One of the paper's published configurations: its `yopo train` options, how it was evaluated and what the paper reported. */
export interface Preset {
  name: string;
  /** What the paper calls it. */
  title: string;
  options: PresetOptions;
  /** How the paper evaluated it. */
  evaluation: string;
  /** The paper's reported accuracy and time (docs/algorithm.md, "The paper's reported results"), or what it did not report. */
  reported: string;
  /** Which setting it follows and why, in one line (`yopo presets`). */
  follows: string;
  /** For a setting that departs from a published run: that run's preset (the others' options are the CLI's defaults). */
  variantOf?: string;
  /** Where the settings come from, when not the published settings' table alone. */
  note?: string;
}

const MNIST = {
  data: 'mnist',
  model: 'smallcnn',
  eps: '0.3',
  step: '0.01',
  'batch-size': 256,
  'weight-decay': 5e-4,
  'eval-attack': 'pgd-40',
};
const CIFAR = { data: 'cifar10', eps: '8/255', step: '2/255', 'batch-size': 256, 'eval-attack': 'pgd-20' };
const YOPO_CIFAR = { ...CIFAR, epochs: 36, milestones: '30,34,36', 'weight-decay': 5e-4 };
const PGD_CIFAR = { ...CIFAR, epochs: 105, milestones: '75,90,100' };
const TRADES = { ...CIFAR, model: 'preact-resnet18', eps: '0.031', step: '0.007', beta: 1, 'eval-attack': 'pgd-20' };

const FIGURE_ONLY = "no number in the paper's tables (a figure only)";

const FINAL_CODE = "the published code's final settings, the record of the paper's runs";

/**
 * The figure-era MNIST YOPO setting: the paper's Figure 3a was plotted the day before the official
 * repository's first commit (cd758b3), whose config ran lr 1e-1/K, 20 epochs, ×0.1 at 15 and 19 for both
 * optimisers; the final code's 1e-2/K came four months later (82c5b90).
 */
const MNIST_YOPO_FIGURE = {
  ...MNIST,
  method: 'yopo-5-10',
  epochs: 20,
  lr: 0.1,
  milestones: '15,19',
  'first-layer-milestones': '15,19',
};

/**
 * Steps of linear warm-up in mnist-yopo-5-10-warmup. At the figure-era rate a PyTorch run collapsed
 * between its steps 40 and 80 (issue #30); with this warm-up those steps run at 20-40% of the rate
 * (2-4x the final code's), and the full rate comes at step 200, most of the first epoch's 231 batches.
 */
export const FIGURE_WARMUP_STEPS = 200;

/** The presets, in the order of the paper. */
export const PRESETS: readonly Preset[] = [
  {
    name: 'mnist-yopo-5-10',
    title: 'MNIST YOPO-5-10 (SmallCNN)',
    options: {
      ...MNIST,
      method: 'yopo-5-10',
      epochs: 40,
      lr: 0.01,
      milestones: '30,35,39',
      'first-layer-milestones': '15,19',
    },
    evaluation: 'PGD-40, ε 0.3, α 0.01',
    reported: "reaches PGD-40's robust accuracy in about 250 s (PGD-40: over 1250 s)",
    follows: `${FINAL_CODE} (lr 0.01/5 per summed gradient, from 2019-09-02)`,
    note: 'first layer ×0.1 at 15 and 19 (official train.py), the rest at 30, 35, 39',
  },
  {
    name: 'mnist-yopo-5-10-figure',
    title: 'MNIST YOPO-5-10 (SmallCNN), figure-era setting',
    variantOf: 'mnist-yopo-5-10',
    options: MNIST_YOPO_FIGURE,
    evaluation: 'PGD-40, ε 0.3, α 0.01',
    reported: 'Figure 3a: 50 / 90 / 95% PGD-40 robust at 13 / 78 / 260 s',
    follows:
      "the official repository's first commit (cd758b3), the setting of the paper's Figure 3a: lr 0.1/5 per summed gradient",
    note: 'at this rate a PyTorch run collapsed to chance after 40 steps (issue #30); mnist-yopo-5-10-warmup adds a warm-up',
  },
  {
    name: 'mnist-yopo-5-10-warmup',
    title: 'MNIST YOPO-5-10 (SmallCNN), figure-era rate after a warm-up',
    variantOf: 'mnist-yopo-5-10',
    options: { ...MNIST_YOPO_FIGURE, 'warmup-steps': FIGURE_WARMUP_STEPS },
    evaluation: 'PGD-40, ε 0.3, α 0.01',
    reported: 'not a paper setting',
    follows: `not the paper's: the figure-era setting with a ${FIGURE_WARMUP_STEPS}-step linear warm-up, against its early collapse`,
    note: `the rate rises linearly to 0.1/5 over the first ${FIGURE_WARMUP_STEPS} steps: 20-40% of it at steps 40-80, where the figure-era run collapsed`,
  },
  {
    name: 'mnist-pgd-40',
    title: 'MNIST PGD-40 (SmallCNN)',
    options: { ...MNIST, method: 'pgd-40', epochs: 56, lr: 0.1, milestones: '50,55' },
    evaluation: 'PGD-40, ε 0.3, α 0.01',
    reported: 'needs over 1250 s to reach its robust accuracy',
    follows: FINAL_CODE,
  },
  ...(['yopo-5-3', 'yopo-3-5'] as const).map(
    (method): Preset => ({
      name: `cifar10-preact-resnet18-${method}`,
      title: `CIFAR-10 ${method.toUpperCase()} (PreAct-ResNet18)`,
      options: { ...YOPO_CIFAR, model: 'preact-resnet18', method, lr: 0.2 },
      evaluation: 'PGD-20, ε 8/255, α 2/255',
      reported: FIGURE_ONLY,
      follows: FINAL_CODE,
    }),
  ),
  {
    name: 'cifar10-preact-resnet18-pgd-10',
    title: 'CIFAR-10 PGD-10 (PreAct-ResNet18)',
    options: { ...PGD_CIFAR, model: 'preact-resnet18', method: 'pgd-10', lr: 0.05, 'weight-decay': 5e-4 },
    evaluation: 'PGD-20, ε 8/255, α 2/255',
    reported: FIGURE_ONLY,
    follows: FINAL_CODE,
  },
  {
    name: 'cifar10-wrn-34-10-yopo-5-3',
    title: 'CIFAR-10 YOPO-5-3 (WRN-34-10)',
    options: { ...YOPO_CIFAR, model: 'wrn-34-10', method: 'yopo-5-3', lr: 0.4 },
    evaluation: 'PGD-20, ε 8/255, α 2/255',
    reported: '86.70% clean / 47.98% PGD-20 in 476 min (Table 1)',
    follows: FINAL_CODE,
  },
  {
    name: 'cifar10-wrn-34-10-yopo-3-5',
    title: 'CIFAR-10 YOPO-3-5 (WRN-34-10)',
    options: { ...YOPO_CIFAR, model: 'wrn-34-10', method: 'yopo-3-5', lr: 0.4 },
    evaluation: 'PGD-20, ε 8/255, α 2/255',
    reported: '87.27% clean / 43.04% PGD-20 in 299 min (Table 1)',
    follows: FINAL_CODE,
  },
  {
    name: 'cifar10-wrn-34-10-pgd-10',
    title: 'CIFAR-10 PGD-10 (WRN-34-10)',
    options: { ...PGD_CIFAR, model: 'wrn-34-10', method: 'pgd-10', lr: 0.1, 'weight-decay': 2e-4 },
    evaluation: 'PGD-20, ε 8/255, α 2/255',
    reported: '87.30% clean / 47.04% PGD-20 in 2713 min (Table 1)',
    follows: FINAL_CODE,
  },
  {
    name: 'cifar10-wrn-34-10-free-8',
    title: 'CIFAR-10 Free-8 (WRN-34-10)',
    options: { ...PGD_CIFAR, model: 'wrn-34-10', method: 'free-8', lr: 0.1, 'weight-decay': 2e-4 },
    evaluation: 'PGD-20, ε 8/255, α 2/255',
    reported: '86.29% clean / 47.00% PGD-20 in 667 min (Table 1)',
    follows: "no Free-8 row was published: WRN PGD-10's settings, per pass",
    note: "the published settings give no Free-8 row: WRN PGD-10's settings, run for 105/8 epochs (milestones /8) to match its passes",
  },
  {
    name: 'cifar10-preact-resnet18-trades-10',
    title: 'CIFAR-10 TRADES-10 baseline (PreAct-ResNet18)',
    options: {
      ...TRADES,
      method: 'trades-10',
      epochs: 100,
      lr: 0.1,
      milestones: '74',
      'weight-decay': 2e-4,
      'batch-size': 200,
    },
    evaluation: 'PGD-20 and CW, ε 0.031',
    reported: '86.14% clean / 44.50% PGD-20 / 58.40% CW in 633 min (Table 2)',
    follows: "the TRADES-10 baseline's published code, its single decay included",
    note: "the code's if/elif decays only once: ×0.1 from its epoch 75 (1-based), milestone 74 here",
  },
  ...(
    [
      ['trades-yopo-3-4', '87.82% clean / 46.13% PGD-20 / 59.48% CW in 259 min (Table 2)'],
      ['trades-yopo-2-5', '88.15% clean / 42.48% PGD-20 / 59.25% CW in 218 min (Table 2)'],
    ] as const
  ).map(
    ([method, reported]): Preset => ({
      name: `cifar10-preact-resnet18-${method}`,
      title: `CIFAR-10 ${method.toUpperCase()} (PreAct-ResNet18)`,
      options: { ...TRADES, method, epochs: 105, lr: 0.2, milestones: '70,90,100', 'weight-decay': 5e-4 },
      evaluation: 'PGD-20 and CW, ε 0.031',
      reported,
      follows: FINAL_CODE,
    }),
  ),
];

/** The names of PRESETS. */
export const PRESET_NAMES = PRESETS.map((p) => p.name);

/** The preset with this name, or undefined. */
export function findPreset(name: string): Preset | undefined {
  return PRESETS.find((p) => p.name === name);
}

/** The `yopo presets` table: one row per preset, in the order of the paper. */
export function presetTable(): string {
  const header = [
    'preset',
    'model',
    'method',
    'ε / step',
    'lr, ×0.1 at epochs',
    'epochs',
    'batch',
    'evaluation',
    'reported (paper)',
  ];
  const rows = PRESETS.map((p) => {
    const o = p.options;
    const first = o['first-layer-milestones'] ? `; first layer ${o['first-layer-milestones']}` : '';
    const warmup = o['warmup-steps'] ? `; warm-up ${o['warmup-steps']} steps` : '';
    const wd = o['weight-decay'] === 5e-4 ? '' : `, wd ${o['weight-decay']}`;
    const beta = o.beta === undefined ? '' : `, β ${o.beta}`;
    return [
      p.name,
      String(o.model),
      String(o.method) + beta,
      `${o.eps} / ${o.step}`,
      `${o.lr}${wd}; ${o.milestones}${first}${warmup}`,
      String(o.epochs),
      String(o['batch-size']),
      p.evaluation,
      p.reported,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  const notes = PRESETS.filter((p) => p.note).map((p) => `  ${p.name}: ${p.note}`);
  return [
    line(header),
    ...rows.map(line),
    '',
    "YOPO's lr is divided by m: lr 0.01 of yopo-5-10 is 0.01/5 per summed gradient (0.01 per averaged one).",
    'Presets run the epochs shown; the official loops run one more',
    '(num_epochs + 1) at the final rate, except TRADES-10 (exactly 100): add --epochs N+1 to match them.',
    'Which setting each follows, and why:',
    ...PRESETS.map((p) => `  ${p.name}: ${p.follows}`),
    'Notes:',
    ...notes,
  ].join('\n');
}
