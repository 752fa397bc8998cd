// yopo compare: one chart and one table for several runs (e.g. PGD-40 against YOPO-5-10).

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MetricsLog, comparisonTable, renderComparison } from '../report/index.js';
import { type CommandSpec, UsageError, parseCommand } from './args.js';

export const compareSpec = {
  name: 'compare',
  summary: 'plot and tabulate several runs side by side',
  usage: 'compare RUN_DIR... [--out FILE.svg]',
  positionals: 'RUN_DIR...',
  options: {
    out: { type: 'string', default: 'compare.svg', valueName: 'FILE', help: 'where to write the chart' },
    title: { type: 'string', default: 'Accuracy vs wall-clock time', help: 'chart title' },
  },
} as const satisfies CommandSpec;

export async function compareCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(compareSpec, argv);
  if (!parsed) return;
  if (parsed.positionals.length === 0) throw new UsageError("yopo compare: give at least one run folder (written by 'yopo train --out DIR')");
  const runs = parsed.positionals.map((dir) => {
    const file = join(dir, 'metrics.jsonl');
    if (!existsSync(file)) throw new UsageError(`yopo compare: ${dir} has no metrics.jsonl (not a yopo train run folder?)`);
    return { name: basename(dir.replace(/\/+$/, '')), records: MetricsLog.read(file) };
  });
  const out = parsed.values.out;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, renderComparison(runs, parsed.values.title));
  console.log(comparisonTable(runs));
  console.log(`chart: ${out}`);
}
