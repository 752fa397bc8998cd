// The 'resolve' step of `yopo train`: from the command line (plain options, a --preset with overrides,
// or --config of an earlier run) to the settings of a run, as saved in its config.json. Also reads a
// config.json back, checking every field with a one-line error naming what is wrong.

import { readFileSync } from 'node:fs';
import { DATASET_NAMES } from '../yopo/data/index.js';
import { defaultEvalAttack, threatModel, trainingDefaults } from '../yopo/defaults.js';
import { PRESET_NAMES, type Preset, findPreset } from '../yopo/presets.js';
import { type ParsedCommand, UsageError, checkRadius, parseCommand, parseFraction } from './args.js';
import { BACKENDS } from './session.js';
import { trainSpec } from './train_options.js';

/** The settings of a run, as saved in config.json. */
export interface RunConfig {
  data: 'mnist' | 'fashion-mnist' | 'cifar10';
  dataDir: string | null;
  model: 'smallcnn' | 'preact-resnet18' | 'wrn-34-10';
  method: string;
  epochs: number;
  limit: number | null;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  milestones: number[];
  firstLayerMilestones: number[] | null;
  eps: number;
  step: number;
  /** The threat model's norm (L∞ unless --norm l2). */
  norm: 'linf' | 'l2';
  beta: number | null;
  objective: 'adv+clean' | 'adv' | null;
  firstLayerGradient: 'both' | 'hamiltonian' | 'backprop' | null;
  bnRefresh: boolean;
  wrnInit: 'pytorch' | 'trades';
  seed: number;
  timeBudgetMin: number | null;
  /** Fractions of the time budget where the learning rate is multiplied by 0.1 (--budget-milestones). */
  budgetMilestones: number[] | null;
  /** Steps of linear learning-rate warm-up (--warmup-steps). */
  warmupSteps?: number | null;
  evalEvery: number | null;
  /** Evaluate each time training time passes a multiple of this many minutes (--eval-every-minutes). */
  evalEveryMinutes?: number | null;
  evalAttack: string;
  evalLimit: number;
  /** Training images held out for evaluation during training; null until the data is loaded (then the default). */
  valSplit: number | null;
  keepCheckpoints: boolean;
  testLimit: number | null;
  backend: 'webgpu' | 'cpu';
  /** The preset the run started from, and the options given beside it. */
  preset: string | null;
  overrides: Record<string, unknown> | null;
  /** The config.json this run was started from (--config), if any. */
  config: string | null;
  adapter?: string;
  version?: string;
}

type TrainCommandLine = ParsedCommand<typeof trainSpec>;
type TrainValues = TrainCommandLine['values'];

/** Options beside --config (and --resume) that say where a session runs, not what the run is. */
export const SESSION_OPTIONS = ['out', 'backend', 'data-dir'];

/** The settings of a new run: from --config, or from the options (over a --preset's) and the paper's defaults. */
export function resolveNewConfig(parsed: TrainCommandLine, argv: string[]): RunConfig {
  const v = parsed.values;
  if (v.config !== undefined) {
    if (v.preset !== undefined)
      throw new UsageError(
        'yopo train: --config and --preset cannot be combined (the config already holds every setting)',
      );
    const others = [...parsed.given].filter((name) => name !== 'config' && !SESSION_OPTIONS.includes(name));
    if (others.length)
      throw new UsageError(
        `yopo train: --config starts a run with exactly the settings of ${v.config}; ${others.map((n) => `--${n}`).join(', ')} cannot be given beside it (only ${SESSION_OPTIONS.map((n) => `--${n}`).join(', ')})`,
      );
    const config = readRunConfig(v.config);
    config.config = v.config;
    if (v['data-dir'] !== undefined) config.dataDir = v['data-dir'];
    if (parsed.given.has('backend')) config.backend = v.backend;
    return config;
  }
  if (v.preset === undefined) return configFrom(v, null, null);
  const preset = findPreset(v.preset);
  if (!preset)
    throw new UsageError(
      `yopo train: unknown preset '${v.preset}'; expected one of ${PRESET_NAMES.join(', ')} (see 'yopo presets')`,
    );
  // The preset's options first, then the command line's: the same parser, and the later value wins.
  const merged = parseCommand(trainSpec, [...presetArguments(preset), ...argv]);
  if (!merged) throw new UsageError('yopo train: --help cannot be combined with --preset');
  const recorded = [...parsed.given].filter((name) => !['out', 'preset', 'backend', 'data-dir'].includes(name));
  const overrides = Object.fromEntries(recorded.map((name) => [name, v[name]]));
  return configFrom(merged.values, preset.name, recorded.length ? overrides : null);
}

/** A preset as command-line arguments. */
export function presetArguments(preset: Preset): string[] {
  return Object.entries(preset.options).flatMap(([name, value]) => [`--${name}`, String(value)]);
}

/** The settings that options `v` (with a preset's name and overrides) describe, filling in the paper's defaults. */
export function configFrom(v: TrainValues, preset: string | null, overrides: RunConfig['overrides']): RunConfig {
  const { data, method, model } = v;
  const defaults = trainingDefaults(data, method, model);
  const norm = v.norm as 'linf' | 'l2';
  const threat = threatModel(data, { norm, method });
  const epochList = (option: 'milestones' | 'first-layer-milestones', text: string) =>
    text.split(',').map((s) => {
      const n = Number(s);
      if (s.trim() === '' || !Number.isInteger(n) || n < 0)
        throw new UsageError(`yopo train: --${option} must be whole epochs separated by commas (got '${text}')`);
      return n;
    });
  const milestones = v.milestones === undefined ? defaults.milestones : epochList('milestones', v.milestones);
  const budgetMilestones =
    v['budget-milestones'] === undefined
      ? null
      : v['budget-milestones'].split(',').map((t, i, all) => {
          const f = Number(t);
          if (t.trim() === '' || !(f > 0 && f < 1) || (i > 0 && f <= Number(all[i - 1])))
            throw new UsageError(
              `yopo train: --budget-milestones must be ascending fractions between 0 and 1 separated by commas (got '${v['budget-milestones']}')`,
            );
          return f;
        });
  if (budgetMilestones && v['time-budget'] === undefined)
    throw new UsageError('yopo train: --budget-milestones are fractions of the time budget: give --time-budget too');
  // Own first-layer milestones only where published (MNIST YOPO) unless given; other milestones given alone apply to both.
  const firstLayerMilestones =
    v['first-layer-milestones'] !== undefined
      ? epochList('first-layer-milestones', v['first-layer-milestones'])
      : v.milestones === undefined
        ? defaults.firstLayerMilestones
        : null;
  return {
    data,
    dataDir: v['data-dir'] ?? null,
    model,
    method,
    epochs: v.epochs ?? defaults.epochs,
    limit: v.limit ?? null,
    batchSize: v['batch-size'] ?? defaults.batchSize,
    lr: v.lr ?? defaults.lr,
    momentum: v.momentum,
    weightDecay: v['weight-decay'] ?? defaults.weightDecay,
    milestones,
    firstLayerMilestones,
    eps:
      v.eps === undefined ? threat.eps : checkRadius(parseFraction(v.eps, 'eps', 'train'), 'eps', 'train', norm, data),
    step:
      v.step === undefined
        ? threat.step
        : checkRadius(parseFraction(v.step, 'step', 'train'), 'step', 'train', norm, data),
    norm,
    beta: v.beta ?? defaults.beta,
    objective: v.objective ?? null,
    firstLayerGradient: v['first-layer-gradient'] ?? null,
    bnRefresh: v['bn-refresh'] !== 'off',
    wrnInit: v['wrn-init'] ?? 'pytorch',
    seed: v.seed,
    timeBudgetMin: v['time-budget'] ?? null,
    budgetMilestones,
    warmupSteps: v['warmup-steps'] ?? null,
    evalEvery: v['eval-every'] ?? null,
    evalEveryMinutes: v['eval-every-minutes'] ?? null,
    evalAttack: v['eval-attack'] ?? defaultEvalAttack(data),
    evalLimit: v['eval-limit'],
    valSplit: v['val-split'] ?? null,
    keepCheckpoints: v['keep-checkpoints'],
    testLimit: v['test-limit'] ?? null,
    backend: v.backend,
    preset,
    overrides,
    config: null,
  };
}

// ---- reading a config.json back ----

/** Returns what a field should be when `x` is not that, else null. */
type Check = (x: unknown) => string | null;
const isInt = (x: unknown, min: number) => typeof x === 'number' && Number.isInteger(x) && x >= min;
const int =
  (min: number): Check =>
  (x) =>
    isInt(x, min) ? null : `a whole number ≥ ${min}`;
const num =
  (min: number): Check =>
  (x) =>
    typeof x === 'number' && Number.isFinite(x) && x >= min ? null : `a number ≥ ${min}`;
const positive: Check = (x) => (typeof x === 'number' && Number.isFinite(x) && x > 0 ? null : 'a number > 0');
const fraction: Check = (x) => (typeof x === 'number' && x >= 0 && x < 1 ? null : 'a number in [0, 1)');
const str: Check = (x) => (typeof x === 'string' ? null : 'a string');
const bool: Check = (x) => (typeof x === 'boolean' ? null : 'true or false');
const oneOf =
  (choices: readonly string[]): Check =>
  (x) =>
    typeof x === 'string' && choices.includes(x) ? null : `one of ${choices.join(', ')}`;
const epochs: Check = (x) => (Array.isArray(x) && x.every((e) => isInt(e, 0)) ? null : 'a list of whole epochs');
const fractions: Check = (x) =>
  Array.isArray(x) && x.every((f, i) => typeof f === 'number' && f > 0 && f < 1 && (i === 0 || f > x[i - 1]))
    ? null
    : 'a list of ascending fractions between 0 and 1';
const record: Check = (x) => (typeof x === 'object' && x !== null && !Array.isArray(x) ? null : 'an object');
const orNull =
  (check: Check): Check =>
  (x) =>
    x === null ? null : check(x) && `${check(x)} or null`;

const FIELDS: Record<keyof RunConfig, Check> = {
  data: oneOf(DATASET_NAMES),
  dataDir: orNull(str),
  model: oneOf(['smallcnn', 'preact-resnet18', 'wrn-34-10']),
  method: str,
  epochs: int(1),
  limit: orNull(int(1)),
  batchSize: int(1),
  lr: positive,
  momentum: fraction,
  weightDecay: num(0),
  milestones: epochs,
  firstLayerMilestones: orNull(epochs),
  eps: num(0),
  step: num(0),
  norm: oneOf(['linf', 'l2']),
  beta: orNull(num(0)),
  objective: orNull(oneOf(['adv+clean', 'adv'])),
  firstLayerGradient: orNull(oneOf(['both', 'hamiltonian', 'backprop'])),
  bnRefresh: bool,
  wrnInit: oneOf(['pytorch', 'trades']),
  seed: int(0),
  timeBudgetMin: orNull(num(0)),
  budgetMilestones: orNull(fractions),
  warmupSteps: orNull(int(1)),
  evalEvery: orNull(int(1)),
  evalEveryMinutes: orNull(num(0)),
  evalAttack: str,
  evalLimit: int(1),
  valSplit: orNull(int(0)),
  keepCheckpoints: bool,
  testLimit: orNull(int(1)),
  backend: oneOf(BACKENDS),
  preset: orNull(oneOf(PRESET_NAMES)),
  overrides: orNull(record),
  config: orNull(str),
  adapter: str,
  version: str,
};
// budgetMilestones, warmupSteps and evalEveryMinutes came later; a config.json without them (any earlier run) had none.
const OPTIONAL = new Set(['adapter', 'version', 'budgetMilestones', 'warmupSteps', 'evalEveryMinutes']);

/**
 * Fields added after runs were first written, with the values that keep such a run doing what it did
 * (used for --resume only: a run started with --config must name every field).
 */
const LEGACY: Partial<RunConfig> = {
  firstLayerMilestones: null,
  budgetMilestones: null,
  norm: 'linf',
  bnRefresh: false,
  wrnInit: 'trades',
  valSplit: 0,
  keepCheckpoints: false,
  testLimit: null,
  preset: null,
  overrides: null,
  config: null,
};

/** Reads and checks a config.json; `legacy` fills the fields older runs lack with what they did then. */
export function readRunConfig(file: string, options: { legacy?: boolean } = {}): RunConfig {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`yopo train: cannot read ${file}: ${(e as Error).message}`);
  }
  if (record(json)) throw new UsageError(`yopo train: ${file} is not a run's config.json (not a JSON object)`);
  const config: Record<string, unknown> = { ...(options.legacy ? LEGACY : {}), ...(json as Record<string, unknown>) };
  const unknown = Object.keys(config).filter((k) => !(k in FIELDS));
  if (unknown.length)
    throw new UsageError(
      `yopo train: ${file}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}`,
    );
  for (const [key, check] of Object.entries(FIELDS)) {
    if (!(key in config)) {
      if (OPTIONAL.has(key)) continue;
      throw new UsageError(`yopo train: ${file}: missing field '${key}'`);
    }
    const problem = check(config[key]);
    if (problem)
      throw new UsageError(
        `yopo train: ${file}: field '${key}' must be ${problem} (got ${JSON.stringify(config[key])})`,
      );
  }
  return config as unknown as RunConfig;
}
