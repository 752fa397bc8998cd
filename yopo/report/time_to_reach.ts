// The paper's Figure 3 question, as numbers: how long does each method take to reach the robust
// accuracy the other one reached at best? Read from the evaluations during training (the final
// test-set records that `yopo train` appends, marked `final`, are a different set and left out).

import type { MetricRecord } from './metrics.js';
import { formatDuration } from './progress.js';
import type { NamedRun } from './svg.js';

/** The evaluations during training that carry a robust accuracy, in time order. */
function trainingEvaluations(records: MetricRecord[]): MetricRecord[] {
  return records
    .filter((r) => r.final === undefined && typeof r.robust_accuracy === 'number' && Number.isFinite(r.robust_accuracy))
    .sort((a, b) => a.elapsed_s - b.elapsed_s);
}

/** Best robust accuracy of a run during training, and the first time it was reached (undefined without evaluations). */
export function bestRobust(
  records: MetricRecord[],
): { accuracy: number; elapsedS: number; record: MetricRecord } | undefined {
  let best: { accuracy: number; elapsedS: number; record: MetricRecord } | undefined;
  for (const r of trainingEvaluations(records)) {
    if (best === undefined || (r.robust_accuracy as number) > best.accuracy)
      best = { accuracy: r.robust_accuracy as number, elapsedS: r.elapsed_s, record: r };
  }
  return best;
}

/** "pgd-40, linf ε=0.3, n=200": what a robust accuracy was measured with, from its record (older logs lack the norm). */
function measuredWith(r: MetricRecord): string {
  const threat = [
    typeof r.norm === 'string' ? r.norm : '',
    typeof r.eps === 'number' ? `ε=${Number(r.eps.toPrecision(3))}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  return [typeof r.attack === 'string' ? r.attack : '', threat, typeof r.n === 'number' ? `n=${r.n}` : '']
    .filter(Boolean)
    .join(', ');
}

/** The first training time at which a run's robust accuracy was at least `target` (undefined: never). */
export function firstTimeAtLeast(records: MetricRecord[], target: number): number | undefined {
  return trainingEvaluations(records).find((r) => (r.robust_accuracy as number) >= target)?.elapsed_s;
}

/**
 * One line per ordered pair of runs: when run A first reached run B's best robust accuracy, beside the
 * time B took to get there, and their ratio. Times are training time (evaluations not counted), and can
 * only be as fine as the evaluations are frequent.
 */
export function timeToReachTable(runs: NamedRun[]): string {
  const lines: string[] = [];
  for (const b of runs) {
    const target = bestRobust(b.records);
    if (target === undefined) continue;
    for (const a of runs) {
      if (a === b) continue;
      const evaluations = trainingEvaluations(a.records);
      if (evaluations.length === 0) continue;
      const pct = [`${(100 * target.accuracy).toFixed(2)}%`, measuredWith(target.record)].filter(Boolean).join(', ');
      const reached = firstTimeAtLeast(a.records, target.accuracy);
      if (reached === undefined) {
        const last = evaluations[evaluations.length - 1].elapsed_s;
        lines.push(
          `${a.name} did not reach ${b.name}'s best robust accuracy (${pct}, at ${formatDuration(target.elapsedS)}) in its ${formatDuration(last)} of training`,
        );
      } else {
        const ratio = target.elapsedS > 0 ? ` (${(reached / target.elapsedS).toFixed(2)}×)` : '';
        lines.push(
          `${a.name} reached ${b.name}'s best robust accuracy (${pct}) at ${formatDuration(reached)}; ${b.name} took ${formatDuration(target.elapsedS)}${ratio}`,
        );
      }
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
