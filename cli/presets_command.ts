// yopo presets: the paper's experiments that `yopo train --preset NAME` reruns, as a table (or JSON).

import { PRESETS, presetTable } from '../yopo/presets.js';
import { type CommandSpec, parseCommand } from './args.js';

/** Options of `yopo presets`. */
export const presetsSpec = {
  name: 'presets',
  summary: "the paper's published configurations, for yopo train --preset NAME",
  usage: 'presets [--json]',
  options: {
    json: { type: 'boolean', help: 'print the presets as JSON (name, title, options, evaluation, reported, note)' },
  },
} as const satisfies CommandSpec;

/** `yopo presets`: prints the presets as a table, or as JSON with --json. */
export async function presetsCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(presetsSpec, argv);
  if (!parsed) return;
  console.log(parsed.values.json ? JSON.stringify(PRESETS, null, 2) : presetTable());
}
