// Reporting for training runs: the metrics log, SVG charts and progress output.
export { MetricsLog, keptOnResume } from './metrics.js';
export type { MetricRecord, MetricsReadResult } from './metrics.js';
export {
  renderCurves,
  renderRunCurve,
  renderComparison,
  comparisonTable,
  niceTicks,
  escapeXml,
  timeUnit,
  PALETTE,
} from './svg.js';
export type { ChartSpec, Series, Point, Ticks, NamedRun } from './svg.js';
export { bestRobust, firstTimeAtLeast, timeToReachTable } from './time_to_reach.js';
export { Progress, formatDuration } from './progress.js';
export type { ProgressOptions, ProgressStream } from './progress.js';
