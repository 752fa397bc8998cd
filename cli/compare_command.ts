// yopo compare: one chart and one table for several runs (e.g. PGD-40 against YOPO-5-10).

import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../nn/atomic_write.js';
import { MetricsLog, comparisonTable, renderComparison, timeToReachTable } from '../yopo/report/index.js';
import { type CommandSpec, UsageError, parseCommand } from './args.js';
import { MARKS, checkMayWrite } from './file_ownership.js';

/** Options of `yopo compare`. */
export const compareSpec = {
  name: 'compare',
  summary: 'plot and tabulate several runs side by side',
  usage: 'compare RUN_DIR... [--out FILE.svg]',
  positionals: 'RUN_DIR...',
  options: {
    out: { type: 'string', default: 'compare.svg', valueName: 'FILE', help: 'where to write the chart' },
    title: { type: 'string', default: 'Accuracy vs wall-clock time', help: 'chart title' },
    force: { type: 'boolean', help: 'replace --out even if it is not a chart yopo compare wrote' },
  },
} as const satisfies CommandSpec;

/** `yopo compare RUN_DIR...`: reads each run's metrics.jsonl, writes one chart (--out) and prints a comparison table. */
export async function compareCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(compareSpec, argv);
  if (!parsed) return;
  if (parsed.positionals.length === 0)
    throw new UsageError("yopo compare: give at least one run folder (written by 'yopo train --out DIR')");
  const runs = parsed.positionals.map((dir) => {
    const file = join(dir, 'metrics.jsonl');
    if (!existsSync(file))
      throw new UsageError(`yopo compare: ${dir} has no metrics.jsonl (not a yopo train run folder?)`);
    return { name: basename(dir.replace(/\/+$/, '')), records: MetricsLog.read(file) };
  });
  const out = String(parsed.values.out);
  // Only over a chart of its own, unless --force (file_ownership.ts); its mark goes inside the <svg> element.
  checkMayWrite('compare', { path: out, kind: 'comparison-chart', option: 'out' }, parsed.values.force);
  const svg = renderComparison(runs, String(parsed.values.title));
  await writeFileAtomic(
    out,
    new TextEncoder().encode(svg.replace(/<svg[^>]*>/, (tag) => `${tag}${MARKS.comparisonChart}`)),
  );
  console.log(comparisonTable(runs));
  const reach = timeToReachTable(runs);
  if (reach) console.log(`time to reach (training time, evaluations during training):\n${reach}`);
  console.log(`chart: ${out}`);
}
