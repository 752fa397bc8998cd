// Learning-rate schedules as pure functions of the (fractional) epoch, so a resumed run gets the same
// rate at the same point.

/** Learning rate as a function of the epoch (0-based). */
export type Schedule = (epoch: number) => number;

/** Piecewise constant: base·gamma^(number of milestones ≤ epoch). PyTorch's MultiStepLR. */
export function multiStep(base: number, milestones: readonly number[], gamma = 0.1): Schedule {
  const sorted = [...milestones].sort((a, b) => a - b);
  return (epoch) => base * gamma ** sorted.filter((m) => epoch >= m).length;
}

/** Cosine annealing from base to minLr over `epochs`. */
export function cosine(base: number, epochs: number, minLr = 0): Schedule {
  return (epoch) => minLr + 0.5 * (base - minLr) * (1 + Math.cos((Math.PI * Math.min(epoch, epochs)) / epochs));
}

/** The schedule that always returns `base`. */
export function constantRate(base: number): Schedule {
  return () => base;
}

/** Linear warm-up: the factor on the rate at step `step` (0-based) is (step + 1) / steps, then 1 from step `steps − 1` on. */
export function warmupFactor(step: number, steps: number): number {
  return steps > 0 ? Math.min(1, (step + 1) / steps) : 1;
}
