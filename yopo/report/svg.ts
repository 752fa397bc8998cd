// SVG line charts for training runs: accuracy (%) against wall-clock time, the plot of the
// YOPO paper's Figure 3. Output is a standalone SVG 1.1 document with no scripts, external
// fonts or stylesheets, so it opens in browsers and converts with rsvg-convert alike.

import type { MetricRecord } from './metrics.js';
import { formatDuration } from './progress.js';

/** One data point of a chart, in data units. */
export interface Point {
  x: number;
  y: number;
}

/** One line of a chart: label, points, optional dashes and colour. */
export interface Series {
  label: string;
  points: Point[];
  dashed?: boolean;
  color?: string;
  /** Points only, no line (e.g. values read off a published figure). */
  markersOnly?: boolean;
}

/** A line chart to render as SVG: title, series, axis labels, optional y range, x from zero, size in pixels. */
export interface ChartSpec {
  title: string;
  series: Series[];
  xLabel: string;
  yLabel: string;
  /** Fixed y domain, e.g. [0, 100] for accuracy; otherwise fitted to the data. */
  yRange?: [number, number];
  /** Stretch the x domain to include 0 (time axes start at the start of the run). */
  xIncludeZero?: boolean;
  width?: number;
  height?: number;
}

/** Tableau 10: distinguishable, and still readable when printed in gray. */
export const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const CHAR_W = 7; // rough width of a 12px sans-serif character, for layout only
const MAX_LEGEND_CHARS = 40;
const MIN_PLOT_W = 560; // default plot width before the picture grows

// ---------------------------------------------------------------------------------------------
// Text and numbers

/** Escapes text for XML content and attribute values; drops characters XML 1.0 forbids. */
export function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Axis ticks chosen by niceTicks. */
export interface Ticks {
  /** The domain, widened to whole steps. */
  min: number;
  max: number;
  step: number;
  values: number[];
  /** Decimals that show every tick exactly at this step. */
  decimals: number;
}

/**
 * "Nice" ticks (steps of 1, 2 or 5 times a power of ten) covering [min, max], about `target`
 * of them (Heckbert, Graphics Gems 1990). An empty range is widened so it still gets an axis.
 */
export function niceTicks(min: number, max: number, target = 6): Ticks {
  if (!Number.isFinite(min) || !Number.isFinite(max)) [min, max] = [0, 1];
  if (min > max) [min, max] = [max, min];
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    [min, max] = [min - pad, max + pad];
  }
  const step = niceNumber((max - min) / Math.max(1, target - 1), true);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const values: number[] = [];
  const count = Math.round((hi - lo) / step);
  // Rounding to `decimals` removes float noise (0.30000000000000004) from the tick values.
  for (let i = 0; i <= count; i++) values.push(round(lo + i * step, decimals) + 0);
  return { min: values[0], max: values[values.length - 1], step, values, decimals };
}

function niceNumber(x: number, roundIt: boolean): number {
  const exp = Math.floor(Math.log10(x));
  const f = x / 10 ** exp;
  let nice: number;
  if (roundIt) nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  else nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * 10 ** exp;
}

function round(x: number, decimals: number): number {
  return Number(x.toFixed(Math.min(decimals, 20)));
}

function formatTick(v: number, decimals: number): string {
  const s = v.toFixed(Math.min(decimals, 20));
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s; // no "-0"
}

/** Coordinates with two decimals: plenty for a screen, and short files. */
function px(v: number): string {
  return String(Math.round(v * 100) / 100);
}

// ---------------------------------------------------------------------------------------------
// The chart

/** Renders a line chart as a standalone SVG document. */
export function renderCurves(spec: ChartSpec): string {
  const series = drawableSeries(spec.series);
  const all = series.flatMap((s) => s.points);
  const xTicks = xAxisTicks(all, spec.xIncludeZero ?? false);
  const yTicks = yAxisTicks(all, spec.yRange);
  const legendLabels = series.map((s) => legendText(s.label, s.points.length));
  const layout = chartLayout(spec, legendLabels, xTicks, yTicks);
  const out = [
    ...documentStart(spec.title, layout),
    ...gridAndTicks(layout, xTicks, yTicks),
    ...axes(spec.xLabel, spec.yLabel, layout),
    ...curves(series, layout),
    ...legend(series, legendLabels, layout),
    '</svg>',
  ];
  return `${out.join('\n')}\n`;
}

/** A series as drawn: its colour and flags settled, only its finite points. */
interface DrawnSeries {
  label: string;
  dashed: boolean;
  markersOnly: boolean;
  color: string;
  points: Point[];
}

/** Where everything goes: the picture's size, the plot box, the legend's width, data → pixels. */
interface ChartLayout {
  width: number;
  height: number;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  legendW: number;
  sx: (x: number) => number;
  sy: (y: number) => number;
}

/** Colours from the palette in order; NaN, null or undefined coordinates are skipped, not drawn as zeros. */
function drawableSeries(series: readonly Series[]): DrawnSeries[] {
  return series.map((s, i) => ({
    label: s.label,
    dashed: Boolean(s.dashed),
    markersOnly: Boolean(s.markersOnly),
    color: s.color ?? PALETTE[i % PALETTE.length],
    points: (s.points ?? []).filter((p) => p != null && isFiniteNumber(p.x) && isFiniteNumber(p.y)),
  }));
}

function xAxisTicks(points: readonly Point[], includeZero: boolean): Ticks {
  let [xMin, xMax] = extent(points.map((p) => p.x));
  if (includeZero) [xMin, xMax] = [Math.min(0, xMin), Math.max(0, xMax)];
  return niceTicks(xMin, xMax);
}

/** Fitted to the data, or the requested range exactly (only ticks inside it are drawn). */
function yAxisTicks(points: readonly Point[], range: [number, number] | undefined): Ticks {
  if (!range) return niceTicks(...extent(points.map((p) => p.y)));
  const [lo, hi] = range;
  const t = niceTicks(lo, hi);
  return { ...t, min: lo, max: hi, values: t.values.filter((v) => v >= lo - 1e-9 && v <= hi + 1e-9) };
}

/** Title on top, tick labels and axis labels left and below, legend on the right. */
function chartLayout(spec: ChartSpec, legendLabels: readonly string[], xTicks: Ticks, yTicks: Ticks): ChartLayout {
  const height = spec.height ?? 480;
  const legendChars = Math.max(0, ...legendLabels.map((l) => l.length));
  const legendW = legendLabels.length ? 28 + 8 + legendChars * CHAR_W + 16 : 0;
  const yTickChars = Math.max(...yTicks.values.map((v) => formatTick(v, yTicks.decimals).length));
  const left = 36 + yTickChars * CHAR_W + 8;
  const right = 20 + legendW;
  // A wide legend (many runs) widens the picture rather than squeezing the plot.
  const width = spec.width ?? Math.max(800, Math.ceil(left + MIN_PLOT_W + right));
  const top = 44;
  const bottom = 56;
  const [x0, x1] = [left, Math.max(left + 50, width - right)];
  const [y0, y1] = [top, Math.max(top + 50, height - bottom)];
  return {
    width,
    height,
    x0,
    x1,
    y0,
    y1,
    legendW,
    sx: (x) => x0 + ((x - xTicks.min) / (xTicks.max - xTicks.min)) * (x1 - x0),
    sy: (y) => y1 - ((y - yTicks.min) / (yTicks.max - yTicks.min)) * (y1 - y0),
  };
}

/** The XML header, the <svg> element with its title, background and plot clip, and the visible title. */
function documentStart(title: string, { width, height, x0, x1, y0, y1 }: ChartLayout): string[] {
  // Centred over the plot, or over the whole picture when it is too long for that.
  const titleFits = title.length * 9.5 < x1 - x0;
  return [
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<defs><clipPath id="plot-area"><rect x="${px(x0)}" y="${px(y0)}" ` +
      `width="${px(x1 - x0)}" height="${px(y1 - y0)}"/></clipPath></defs>`,
    `<text x="${px(titleFits ? (x0 + x1) / 2 : width / 2)}" y="26" text-anchor="middle" font-size="16" ` +
      `font-weight="bold">${escapeXml(title)}</text>`,
  ];
}

/** Grid lines, tick marks and tick labels. */
function gridAndTicks({ x0, x1, y0, y1, sx, sy }: ChartLayout, xTicks: Ticks, yTicks: Ticks): string[] {
  return [
    '<g stroke="#e3e3e3" stroke-width="1">',
    ...xTicks.values.map((v) => `<line x1="${px(sx(v))}" y1="${px(y0)}" x2="${px(sx(v))}" y2="${px(y1)}"/>`),
    ...yTicks.values.map((v) => `<line x1="${px(x0)}" y1="${px(sy(v))}" x2="${px(x1)}" y2="${px(sy(v))}"/>`),
    '</g>',
    '<g stroke="#333333" stroke-width="1">',
    ...xTicks.values.map((v) => `<line x1="${px(sx(v))}" y1="${px(y1)}" x2="${px(sx(v))}" y2="${px(y1 + 5)}"/>`),
    ...yTicks.values.map((v) => `<line x1="${px(x0 - 5)}" y1="${px(sy(v))}" x2="${px(x0)}" y2="${px(sy(v))}"/>`),
    '</g>',
    '<g fill="#333333">',
    ...xTicks.values.map(
      (v) => `<text x="${px(sx(v))}" y="${px(y1 + 19)}" text-anchor="middle">${formatTick(v, xTicks.decimals)}</text>`,
    ),
    ...yTicks.values.map(
      (v) => `<text x="${px(x0 - 8)}" y="${px(sy(v) + 4)}" text-anchor="end">${formatTick(v, yTicks.decimals)}</text>`,
    ),
    '</g>',
  ];
}

/** The axes (drawn over the grid) and their labels. */
function axes(xLabel: string, yLabel: string, { height, x0, x1, y0, y1 }: ChartLayout): string[] {
  const yMid = (y0 + y1) / 2;
  return [
    `<path d="M${px(x0)} ${px(y0)} L${px(x0)} ${px(y1)} L${px(x1)} ${px(y1)}" ` +
      `fill="none" stroke="#333333" stroke-width="1.2"/>`,
    `<text x="${px((x0 + x1) / 2)}" y="${px(height - 14)}" text-anchor="middle" font-size="13">` +
      `${escapeXml(xLabel)}</text>`,
    `<text x="18" y="${px(yMid)}" transform="rotate(-90 18 ${px(yMid)})" text-anchor="middle" ` +
      `font-size="13">${escapeXml(yLabel)}</text>`,
  ];
}

/** Each series' line and markers, clipped to the plot so points outside a fixed yRange don't spill over the axes. */
function curves(series: readonly DrawnSeries[], { sx, sy }: ChartLayout): string[] {
  const out = [
    '<g clip-path="url(#plot-area)" fill="none" stroke-width="2" stroke-linejoin="round" stroke-linecap="round">',
  ];
  for (const s of series) {
    const dash = s.dashed ? ' stroke-dasharray="7 5"' : '';
    if (s.points.length >= 2 && !s.markersOnly) {
      const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${px(sx(p.x))} ${px(sy(p.y))}`).join(' ');
      out.push(`<path d="${d}" stroke="${escapeXml(s.color)}"${dash}/>`);
    }
    // A single point has no line to show it; sparse curves (per-epoch evaluations) read
    // better with their measured points marked.
    if (s.points.length === 1 || s.markersOnly || (s.points.length >= 2 && s.points.length <= 30)) {
      const r = s.points.length === 1 || s.markersOnly ? 4 : 2.5;
      for (const p of s.points) {
        out.push(
          `<circle cx="${px(sx(p.x))}" cy="${px(sy(p.y))}" r="${r}" fill="${escapeXml(s.color)}" stroke="none"/>`,
        );
      }
    }
  }
  out.push('</g>');
  return out;
}

/** A boxed legend right of the plot: a sample of each series (its line and dash, or a marker) and its label. */
function legend(series: readonly DrawnSeries[], labels: readonly string[], { x1, y0, legendW }: ChartLayout): string[] {
  if (!series.length) return [];
  const lx = x1 + 16;
  const rowH = 20;
  const boxH = series.length * rowH + 10;
  const out = [
    `<rect x="${px(lx)}" y="${px(y0)}" width="${px(legendW - 4)}" height="${px(boxH)}" fill="#ffffff" stroke="#cccccc"/>`,
  ];
  series.forEach((s, i) => {
    const cy = y0 + 5 + rowH * i + rowH / 2;
    const dash = s.dashed ? ' stroke-dasharray="7 5"' : '';
    out.push(
      s.markersOnly
        ? `<circle cx="${px(lx + 22)}" cy="${px(cy)}" r="4" fill="${escapeXml(s.color)}" stroke="none"/>`
        : `<line x1="${px(lx + 8)}" y1="${px(cy)}" x2="${px(lx + 36)}" y2="${px(cy)}" ` +
            `stroke="${escapeXml(s.color)}" stroke-width="2"${dash}/>`,
    );
    out.push(`<text x="${px(lx + 44)}" y="${px(cy + 4)}">${escapeXml(labels[i])}</text>`);
  });
  return out;
}

function legendText(label: string, points: number): string {
  const l = label.length > MAX_LEGEND_CHARS ? `${label.slice(0, MAX_LEGEND_CHARS - 1)}…` : label;
  return points === 0 ? `${l} (no data)` : l;
}

/** [min, max], or [0, 1] for no values. A loop, not Math.min(...v): long logs overflow the argument limit. */
function extent(values: number[]): [number, number] {
  if (!values.length) return [0, 1];
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

// ---------------------------------------------------------------------------------------------
// Charts from metric records

/** Picks the time unit by range, so tick labels stay short: seconds, minutes or hours. */
export function timeUnit(maxSeconds: number): { unit: 's' | 'min' | 'h'; perSecond: number } {
  if (!(maxSeconds > 180)) return { unit: 's', perSecond: 1 };
  if (maxSeconds <= 3 * 3600) return { unit: 'min', perSecond: 1 / 60 };
  return { unit: 'h', perSecond: 1 / 3600 };
}

type AccuracyKey = 'clean_accuracy' | 'robust_accuracy';

function accuracyValues(records: MetricRecord[], key: AccuracyKey): number[] {
  return records.map((r) => r[key]).filter(isFiniteNumber);
}

/**
 * Accuracies are logged as fractions in [0, 1]; a log written in percent is recognised by a value
 * above 1 and left alone. One scale per chart, so runs in one chart stay comparable.
 */
function percentScale(runs: MetricRecord[][]): number {
  const values = runs.flatMap((r) => [...accuracyValues(r, 'clean_accuracy'), ...accuracyValues(r, 'robust_accuracy')]);
  return values.some((v) => v > 1) ? 1 : 100;
}

function accuracyPoints(records: MetricRecord[], key: AccuracyKey, perSecond: number, scale: number): Point[] {
  return records
    .filter((r) => isFiniteNumber(r[key]) && isFiniteNumber(r.elapsed_s))
    .sort((a, b) => a.elapsed_s - b.elapsed_s)
    .map((r) => ({ x: r.elapsed_s * perSecond, y: (r[key] as number) * scale }));
}

function maxElapsed(runs: MetricRecord[][]): number {
  return Math.max(
    0,
    extent(
      runs
        .flat()
        .map((r) => r.elapsed_s)
        .filter(isFiniteNumber),
    )[1],
  );
}

/** "robust (PGD-20, eps 0.3)", from the attack and eps of the last robust evaluation. */
function robustLabel(records: MetricRecord[]): string {
  const last = [...records].reverse().find((r) => isFiniteNumber(r.robust_accuracy));
  const parts: string[] = [];
  if (typeof last?.attack === 'string' && last.attack) parts.push(last.attack);
  if (isFiniteNumber(last?.eps)) parts.push(`eps ${Number(last.eps.toPrecision(3))}`);
  return parts.length ? `robust (${parts.join(', ')})` : 'robust';
}

/** Clean (solid) and robust (dashed) accuracy of one run against wall-clock time. */
export function renderRunCurve(records: MetricRecord[], title: string): string {
  const { unit, perSecond } = timeUnit(maxElapsed([records]));
  const scale = percentScale([records]);
  return renderCurves({
    title,
    xLabel: `wall-clock time (${unit})`,
    yLabel: 'accuracy (%)',
    yRange: [0, 100],
    xIncludeZero: true,
    series: [
      { label: 'clean', color: PALETTE[0], points: accuracyPoints(records, 'clean_accuracy', perSecond, scale) },
      {
        label: robustLabel(records),
        color: PALETTE[3],
        dashed: true,
        points: accuracyPoints(records, 'robust_accuracy', perSecond, scale),
      },
    ],
  });
}

/** A run's name and its metrics records, for comparison charts and tables. */
export interface NamedRun {
  name: string;
  records: MetricRecord[];
}

/** All runs in one chart: clean solid, robust dashed, one color per run. */
export function renderComparison(runs: NamedRun[], title = 'Accuracy vs wall-clock time'): string {
  const { unit, perSecond } = timeUnit(maxElapsed(runs.map((r) => r.records)));
  const scale = percentScale(runs.map((r) => r.records));
  const series: Series[] = runs.flatMap((run, i) => {
    const color = PALETTE[i % PALETTE.length];
    return [
      { label: `${run.name} clean`, color, points: accuracyPoints(run.records, 'clean_accuracy', perSecond, scale) },
      {
        label: `${run.name} ${robustLabel(run.records)}`,
        color,
        dashed: true,
        points: accuracyPoints(run.records, 'robust_accuracy', perSecond, scale),
      },
    ];
  });
  return renderCurves({
    title,
    xLabel: `wall-clock time (${unit})`,
    yLabel: 'accuracy (%)',
    yRange: [0, 100],
    xIncludeZero: true,
    series,
  });
}

/**
 * A plain-text table of the runs' final numbers, columns aligned:
 *
 *   run   clean %  robust %  wall time  epochs  steps
 *   ----  -------  --------  ---------  ------  -----
 *   yopo    98.71     93.02     12m31s      40   9400
 */
export function comparisonTable(runs: NamedRun[]): string {
  const scale = percentScale(runs.map((r) => r.records));
  const header = ['run', 'clean %', 'robust %', 'wall time', 'epochs', 'steps'];
  const rows = runs.map(({ name, records }) => {
    const final = (key: AccuracyKey) => {
      const values = accuracyValues(records, key);
      return values.length ? (values[values.length - 1] * scale).toFixed(2) : '-';
    };
    const maxOf = (key: 'epoch' | 'step' | 'elapsed_s') => {
      const values = records.map((r) => r[key]).filter(isFiniteNumber);
      return values.length ? extent(values)[1] : undefined;
    };
    const wall = maxOf('elapsed_s');
    return [
      name,
      final('clean_accuracy'),
      final('robust_accuracy'),
      wall === undefined ? '-' : formatDuration(wall),
      String(maxOf('epoch') ?? '-'),
      String(maxOf('step') ?? '-'),
    ];
  });

  const widths = header.map((_, c) => Math.max(...[header, ...rows].map((row) => row[c].length)));
  const table = [header, widths.map((w) => '-'.repeat(w)), ...rows];
  // The run name reads left to right; numbers line up on their last digit.
  const lines = table.map((row) =>
    row
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ')
      .trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}
