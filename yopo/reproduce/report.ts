// report.md and figure.svg of a `yopo reproduce` experiment, from its results (results.ts): the
// machine, every setting, per method the steps, time per step, the curve under both attacks with n and
// 95% intervals, the final checkpoints on the test images, collapses, the time each method took to
// reach the others' best, and the paper's numbers beside ours.

import { PALETTE, type Series, formatDuration, renderCurves, timeUnit } from '../report/index.js';
import { COLLAPSE_FLOOR, COLLAPSE_PEAK, type ExperimentResults, type Measured, type MethodResult } from './results.js';

function pct(m: Measured | null): string {
  return m
    ? `${(100 * m.accuracy).toFixed(1)}% [${(100 * m.interval[0]).toFixed(1)}, ${(100 * m.interval[1]).toFixed(1)}]`
    : '-';
}

/** The collapse of a method's run in one plain sentence, or null. */
export function collapseSentence(m: MethodResult): string | null {
  const c = m.collapse;
  const diverged = m.diverged
    ? ` ${m.name}'s training diverged (${m.diverged}); its results are those of its last good checkpoint.`
    : '';
  if (!c) return diverged ? diverged.trim() : null;
  return `${m.name} collapsed: its clean accuracy reached ${(100 * c.peak).toFixed(1)}% at ${formatDuration(c.peakS)}, then fell to ${(100 * c.fallen).toFixed(1)}% at ${formatDuration(c.fallenS)}, near chance (10%)${c.recovered ? `, and later climbed back above ${100 * COLLAPSE_PEAK}%` : ' and did not recover in its budget'}.${diverged}`;
}

/** The whole report.md. */
export function renderReport(r: ExperimentResults): string {
  const s = r.settings;
  const paper = s.paperAttack;
  const strong = s.strongAttack;
  const lines: string[] = [
    `# yopo reproduce ${r.experiment}${s.setting ? ` (setting: ${s.setting})` : ''}`,
    '',
    `The paper's claim (${r.source}): ${r.claim}.`,
    '',
    '## Machine and settings',
    '',
    ...Object.entries(r.machine).map(([k, v]) => `- ${k}: ${v}`),
    ...r.methods.map(
      (m) =>
        `- ${m.name}: \`yopo train --preset ${m.preset}\` in ${m.dir} (${m.follows}); adapter ${m.adapter ?? 'unknown'}`,
    ),
    `- budget per method: ${s.minutes !== null ? `${s.minutes} minutes of training` : `${s.epochs} epochs`} (evaluation time not counted), methods one after another`,
    `- evaluations: every ${s.evalEveryMinutes} minutes of training time and at the end, on the same ${s.evalLimit} validation images, under ${paper} (the paper's) and ${strong}`,
    `- final: last and best (by validation ${paper} robust accuracy) checkpoints on the first ${s.testLimit} test images`,
    `- seed ${s.seed}${s.batchSize !== null ? `, batch size ${s.batchSize} (not the preset's)` : ''}${s.limit !== null ? `, first ${s.limit} training images only` : ''}${s.valSplit !== null ? `, validation split ${s.valSplit}` : ''}${s.baseline ? `; the baseline run is shared: ${s.baseline}` : ''}`,
    '',
    '## Per method',
    '',
    `| method | steps | training time | first step | time per step after it | last mark: clean | ${paper} robust | ${strong} robust | best ${paper} (at) | best ${strong} (at) |`,
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const m of r.methods) {
    const last = m.marks[m.marks.length - 1];
    const best = (key: 'paper' | 'strong') => {
      const marks = m.marks.filter((k) => k[key]);
      if (!marks.length) return '-';
      const b = marks.reduce((a, k) => (k[key]!.accuracy > a[key]!.accuracy ? k : a));
      return `${pct(b[key])} (${formatDuration(b.elapsed_s)})`;
    };
    lines.push(
      `| ${m.name} | ${m.steps} | ${formatDuration(m.trainingS)} | ${m.firstStepS === null ? '-' : `${m.firstStepS.toFixed(1)} s`} | ${m.secondsPerStep === null ? '-' : `${m.secondsPerStep.toFixed(2)} s`} | ${pct(last?.clean ?? null)} | ${pct(last?.paper ?? null)} | ${pct(last?.strong ?? null)} | ${best('paper')} | ${best('strong')} |`,
    );
  }
  const perStep = r.methods.filter((m) => m.secondsPerStep !== null);
  if (perStep.length >= 2) {
    const base = perStep[perStep.length - 1];
    lines.push(
      '',
      'The first step also compiles the kernels (WebGPU, in a fresh process), and its time is in the budget as it would be for any user.',
      `Time per step after the first, against ${base.name}: ${perStep
        .slice(0, -1)
        .map((m) => `${m.name} ${(m.secondsPerStep! / base.secondsPerStep!).toFixed(2)}×`)
        .join(', ')}.`,
    );
  }
  lines.push(
    '',
    `## Final checkpoints on ${s.testLimit} test images`,
    '',
    `| method | checkpoint | step | clean | ${paper} robust | ${strong} robust |`,
    '|---|---|---|---|---|---|',
  );
  for (const m of r.methods) {
    for (const [kind, f] of [
      ['last', m.last],
      ['best', m.best],
    ] as const) {
      if (!f.clean && !f.strong) continue;
      lines.push(`| ${m.name} | ${kind} | ${f.step ?? '-'} | ${pct(f.clean)} | ${pct(f.paper)} | ${pct(f.strong)} |`);
    }
  }
  lines.push(
    '',
    "## Time to reach the other method's best robust accuracy (validation marks)",
    '',
    `Read at the marks, so each time is only as fine as the marks: every ${s.evalEveryMinutes} minutes of training (each run's last mark is where its budget ended).`,
    '',
  );
  if (!r.timeToReach.length) lines.push('No method has evaluations yet.');
  for (const t of r.timeToReach) {
    const attack = t.attack === 'paper' ? paper : strong;
    const target = `${t.target}'s best ${attack} robust accuracy (${(100 * t.targetAccuracy).toFixed(1)}%, first at ${formatDuration(t.targetS)})`;
    lines.push(
      t.reachedS === null
        ? `- ${t.method} did not reach ${target} in its budget.`
        : `- ${t.method} reached ${target} at ${formatDuration(t.reachedS)}${t.targetS > 0 ? ` (${(t.reachedS / t.targetS).toFixed(2)}× ${t.target}'s time)` : ''}.`,
    );
  }
  lines.push('', '## Collapse (clean accuracy falling back near chance)', '');
  const collapses = r.methods.map(collapseSentence).filter((c): c is string => c !== null);
  lines.push(
    ...(collapses.length
      ? collapses.map((c) => `- ${c}`)
      : [
          `- None: no method's clean accuracy fell to ${100 * COLLAPSE_FLOOR}% or below after reaching ${100 * COLLAPSE_PEAK}%.`,
        ]),
  );
  lines.push(
    '',
    "## The paper's numbers beside ours",
    '',
    "The paper's times are on its GPU; ours are training time on the machine above.",
    '',
  );
  for (const m of r.methods) {
    const points = m.paperPoints.map((p) => {
      const ours = m.marks.find((k) => k.paper.accuracy >= p.robust);
      return `${100 * p.robust}% at ${p.seconds} s (ours: ${ours ? formatDuration(ours.elapsed_s) : 'not reached'})`;
    });
    lines.push(
      `- ${m.name} (${m.preset}): the paper: ${m.paperReported}.${points.length ? ` Its points (${r.paperAttack} robust accuracy first reached at), with the first mark where ours (${paper}) reached the same: ${points.join(', ')}.` : ''}`,
    );
  }
  lines.push(
    '',
    `## Every mark (validation, n = ${s.evalLimit})`,
    '',
    `| method | step | training time | load average | clean | ${paper} robust | ${strong} robust |`,
    '|---|---|---|---|---|---|---|',
  );
  for (const m of r.methods)
    for (const k of m.marks)
      lines.push(
        `| ${m.name} | ${k.step} | ${formatDuration(k.elapsed_s)} | ${k.load_average ?? '-'} | ${pct(k.clean)} | ${pct(k.paper)} | ${pct(k.strong)} |`,
      );
  lines.push('', '![robust accuracy against training time](figure.svg)', '');
  return lines.join('\n');
}

/** figure.svg: robust accuracy against training time, each method under both attacks, the paper's points marked. */
export function renderFigure(r: ExperimentResults): string {
  const maxS = Math.max(
    1,
    ...r.methods.flatMap((m) => [...m.marks.map((k) => k.elapsed_s), ...m.paperPoints.map((p) => p.seconds)]),
  );
  const { unit, perSecond } = timeUnit(maxS);
  const series: Series[] = r.methods.flatMap((m, i): Series[] => {
    const color = PALETTE[i % PALETTE.length];
    const curve = (key: 'paper' | 'strong') =>
      m.marks.filter((k) => k[key]).map((k) => ({ x: k.elapsed_s * perSecond, y: 100 * k[key]!.accuracy }));
    return [
      { label: `${m.name}, ${r.settings.paperAttack}`, color, points: curve('paper') },
      { label: `${m.name}, ${r.settings.strongAttack}`, color, dashed: true, points: curve('strong') },
      ...(m.paperPoints.length
        ? [
            {
              label: `paper (${m.name}), ${r.settings.paperAttack}`,
              color,
              markersOnly: true,
              points: m.paperPoints.map((p) => ({ x: p.seconds * perSecond, y: 100 * p.robust })),
            },
          ]
        : []),
    ];
  });
  return renderCurves({
    title: `yopo reproduce ${r.experiment}${r.settings.setting ? ` (${r.settings.setting})` : ''}: robust accuracy against training time`,
    xLabel: `training time (${unit}; the paper's points: its GPU)`,
    yLabel: 'robust accuracy (%)',
    yRange: [0, 100],
    xIncludeZero: true,
    series,
  });
}
