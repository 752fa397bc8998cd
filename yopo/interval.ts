// Confidence intervals for accuracies measured on n examples.

/** Wilson score interval for k successes in n trials (z = 1.96: 95%), as [low, high] fractions. */
export function wilsonInterval(k: number, n: number, z = 1.96): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const denominator = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denominator;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** '76.0% [69.6, 81.4]' for a fraction measured on n examples. */
export function percentWithInterval(fraction: number, n: number): string {
  const [lo, hi] = wilsonInterval(Math.round(fraction * n), n);
  return `${(100 * fraction).toFixed(1)}% [95% CI ${(100 * lo).toFixed(1)}, ${(100 * hi).toFixed(1)}]`;
}
