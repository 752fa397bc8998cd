// The settings of a resumed run (`yopo train --resume`): those in its config.json, checked against the
// training state (the run that was started), with the few options that may change them.
//
// - --epochs, --time-budget and --lr extend or slow the run; --backend and --data-dir say where this
//   session runs. Any other option is refused, unless it gives the value the run already has.
// - Every checkpoint records the run's settings (metadata yopo.config); a config.json edited since
//   (another method, ε or batch size) is refused with one line naming the field, instead of training
//   a different run into the same record.

import { type ParsedCommand, UsageError } from './args.js';
import { type RunConfig, configFrom, readRunConfig } from './run_config.js';
import type { RunFolder } from './run_folder.js';
import { readSafetensorsHeader } from './safetensors_header.js';
import type { trainSpec } from './train_options.js';

/** The options --resume accepts (to extend the run, lower its rate, or where it runs); the rest are the run's saved settings. */
export const RESUME_OPTIONS = ['out', 'resume', 'epochs', 'time-budget', 'lr', 'backend', 'data-dir'];

/** Fields that may differ between config.json and the training state: changed by --resume, or this session's only. */
const NOT_RECORDED = new Set<string>(['epochs', 'timeBudgetMin', 'lr', 'backend', 'dataDir', 'adapter', 'version']);

/** Checkpoint metadata key holding the run's settings (those a resume may not change), as JSON. */
export const SETTINGS_KEY = 'yopo.config';

/** The settings a checkpoint records (SETTINGS_KEY): every field of config.json a resume may not change. */
export function recordedSettings(config: RunConfig): string {
  // Sorted by key: the same settings give the same text, however config.json was read.
  const entries = Object.entries(config).filter(([k, v]) => !NOT_RECORDED.has(k) && v !== undefined);
  return JSON.stringify(Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

/** The settings of a resumed run. `recordedEpochs`: its length before this session's --epochs. `savedConfig`: what to write back once it checkpoints (if the run is extended). */
export interface ResumedSettings {
  config: RunConfig;
  savedConfig: RunConfig | null;
  recordedEpochs: number;
}

/** Reads and checks the settings of the run in `folder` for --resume (see the top of this file). */
export async function resumedSettings(
  parsed: ParsedCommand<typeof trainSpec>,
  folder: RunFolder,
): Promise<ResumedSettings> {
  const { values: v, given } = parsed;
  if (!folder.has('config')) throw new UsageError(`yopo train: --resume: ${folder.dir} holds no run (no config.json)`);
  const config = readRunConfig(folder.files.config, { legacy: true });
  // The run's own settings apply; an option that would change them is refused rather than ignored.
  const changed = changedOptions(parsed, config);
  if (changed.length) {
    const allowed = RESUME_OPTIONS.filter((n) => n !== 'out' && n !== 'resume')
      .map((n) => `--${n}`)
      .join(', ');
    throw new UsageError(
      `yopo train: --resume continues with the settings in ${folder.files.config}; ${changed.map((n) => `--${n}`).join(', ')} cannot be changed (only ${allowed} can)`,
    );
  }
  await checkAgainstTrainingState(folder, config);
  const recordedEpochs = config.epochs;
  if (v.epochs !== undefined) config.epochs = v.epochs;
  if (v['time-budget'] !== undefined) config.timeBudgetMin = v['time-budget'];
  if (v.lr !== undefined) config.lr = v.lr;
  // An extended run records its new length and rate, once it commits its first checkpoint (a
  // resume that fails changes nothing); the backend and data folder are this session's only.
  const savedConfig = given.has('epochs') || given.has('time-budget') || given.has('lr') ? { ...config } : null;
  if (given.has('backend')) config.backend = v.backend;
  if (v['data-dir'] !== undefined) config.dataDir = v['data-dir'];
  return { config, savedConfig, recordedEpochs };
}

/** The config.json key of a `yopo train` option ('batch-size' → batchSize). */
function configKey(option: string): string {
  if (option === 'time-budget') return 'timeBudgetMin';
  return option.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
}

/** The options given beside --resume, besides RESUME_OPTIONS, whose value is not the one the run has. */
function changedOptions(parsed: ParsedCommand<typeof trainSpec>, config: RunConfig): string[] {
  const fixed = [...parsed.given].filter((name) => !RESUME_OPTIONS.includes(name));
  if (fixed.length === 0) return [];
  let asGiven: RunConfig | null;
  try {
    // What a new run with these options would record (defaults where not given; only given ones are compared).
    asGiven = configFrom(parsed.values, parsed.values.preset ?? null, null);
  } catch {
    asGiven = null; // options that do not even make a run: certainly not the recorded ones
  }
  const recorded = config as unknown as Record<string, unknown>;
  const wanted = asGiven as unknown as Record<string, unknown> | null;
  return fixed.filter((name) => {
    const key = name === 'config' ? 'config' : configKey(name);
    const value = name === 'config' ? parsed.values.config : wanted?.[key];
    return wanted === null || JSON.stringify(value) !== JSON.stringify(recorded[key]);
  });
}

/**
 * Refuses a config.json whose settings are not those the training state was trained with, naming the
 * first field that differs. Checkpoints written before yopo recorded its settings there name only
 * the method and the model. A state whose header cannot be read is left to the load (its own error).
 */
async function checkAgainstTrainingState(folder: RunFolder, config: RunConfig): Promise<void> {
  const file = folder.has('state') ? folder.files.state : folder.has('model') ? folder.files.model : null;
  if (!file) return;
  let meta: Record<string, string>;
  try {
    meta = await readSafetensorsHeader(file);
  } catch {
    return;
  }
  let state: Record<string, unknown>;
  try {
    state = meta[SETTINGS_KEY]
      ? (JSON.parse(meta[SETTINGS_KEY]) as Record<string, unknown>)
      : { method: meta['yopo.method'], model: meta['yopo.model'] };
  } catch {
    return;
  }
  const current = config as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(state)) {
    if (value === undefined || NOT_RECORDED.has(key)) continue;
    if (JSON.stringify(current[key]) === JSON.stringify(value)) continue;
    throw new UsageError(
      `yopo train: --resume: ${folder.files.config} says ${key} ${JSON.stringify(current[key])}, but the run's training state ${file} was trained with ${key} ${JSON.stringify(value)}; restore ${key} in config.json (or start a new run with another --out)`,
    );
  }
}
