// The paper's published settings (YOPO-SPEC "Published settings"), used as the CLI's defaults, and
// the parser that turns 'yopo-5-3' or 'pgd-40' into a Method.

import type { Method } from './method.js';
import { free } from './methods/free.js';
import { natural } from './methods/natural.js';
import { pgd } from './methods/pgd.js';
import { trades } from './methods/trades.js';
import { tradesYopo } from './methods/trades_yopo.js';
import { yopo } from './methods/yopo.js';

import type { DatasetName } from './data/index.js';
import type { Norm } from './perturbation.js';

export interface ThreatModel {
  eps: number;
  /** Step size of PGD/TRADES adversaries (α) and YOPO's inner step (σ). */
  step: number;
  /** L∞ (the paper's) or L2; absent means L∞. */
  norm?: Norm;
}

/**
 * RobustBench's radii: L∞ 0.3 (MNIST) / 8/255 (CIFAR-10) with the paper's steps; L2 2.0 (MNIST) / 0.5
 * (CIFAR-10) with α = 2.5ε/k for the published k = 40 (MNIST) / 10 (CIFAR-10) steps (Madry et al.'s rule).
 */
export function threatModel(dataset: DatasetName, norm: Norm = 'linf'): ThreatModel {
  const cifar = dataset === 'cifar10';
  if (norm === 'l2') return cifar ? { eps: 0.5, step: (2.5 * 0.5) / 10, norm } : { eps: 2, step: (2.5 * 2) / 40, norm };
  return cifar ? { eps: 8 / 255, step: 2 / 255, norm } : { eps: 0.3, step: 0.01, norm };
}

/** The published evaluation attack: PGD-40 on MNIST, PGD-20 on CIFAR-10. */
export function defaultEvalAttack(dataset: string): string {
  return dataset === 'cifar10' ? 'pgd-20' : 'pgd-40';
}

export interface TrainingDefaults {
  epochs: number;
  lr: number;
  milestones: number[];
  weightDecay: number;
  batchSize: number;
}

/** Defaults by dataset and method family, from the spec's table (lr is the base rate; YOPO divides it by m). */
export function trainingDefaults(dataset: DatasetName, method: string, model: string): TrainingDefaults {
  const family = method.split('-')[0];
  const mnist = dataset !== 'cifar10';
  if (mnist) {
    if (family === 'yopo') return { epochs: 40, lr: 0.01, milestones: [30, 35, 39], weightDecay: 5e-4, batchSize: 256 };
    return { epochs: 56, lr: 0.1, milestones: [50, 55], weightDecay: 5e-4, batchSize: 256 };
  }
  if (method.startsWith('trades')) return { epochs: 105, lr: 0.2, milestones: [70, 90, 100], weightDecay: 5e-4, batchSize: 256 };
  if (family === 'yopo') return { epochs: 36, lr: model === 'wrn-34-10' ? 0.4 : 0.2, milestones: [30, 34, 36], weightDecay: 5e-4, batchSize: 256 };
  if (model === 'wrn-34-10') return { epochs: 105, lr: 0.1, milestones: [75, 90, 100], weightDecay: 2e-4, batchSize: 256 };
  return { epochs: 105, lr: 0.05, milestones: [75, 90, 100], weightDecay: 5e-4, batchSize: 256 };
}

export const METHOD_FORMS = 'natural, pgd-R, free-M, yopo-M-N, trades[-K], trades-yopo-M-N';

/** Parses a method name. ε and the step come from the threat model unless given. */
export function parseMethod(spec: string, threat: ThreatModel, options: { beta?: number; objective?: 'adv+clean' | 'adv'; firstLayerGradient?: 'both' | 'hamiltonian' | 'backprop' } = {}): Method {
  const { eps, step } = threat;
  const norm = threat.norm ?? 'linf';
  if (norm !== 'linf' && !/^(natural|pgd-\d+|yopo-\d+-\d+)$/.test(spec)) throw new Error(`method '${spec}' is L∞ only; with --norm l2 use natural, pgd-R or yopo-M-N`);
  const int = (s: string) => {
    const n = Number.parseInt(s, 10);
    if (!(n >= 1)) throw new Error(`method '${spec}': every count must be at least 1 (forms: ${METHOD_FORMS})`);
    return n;
  };
  let m: RegExpExecArray | null;
  if (spec === 'natural') return natural();
  if ((m = /^pgd-(\d+)$/.exec(spec))) return pgd({ r: int(m[1]), eps, alpha: step, objective: options.objective, norm });
  if ((m = /^free-(\d+)$/.exec(spec))) return free({ m: int(m[1]), eps });
  if ((m = /^yopo-(\d+)-(\d+)$/.exec(spec))) return yopo({ m: int(m[1]), n: int(m[2]), eps, sigma: step, firstLayerGradient: options.firstLayerGradient, norm });
  if ((m = /^trades-yopo-(\d+)-(\d+)$/.exec(spec))) return tradesYopo({ m: int(m[1]), n: int(m[2]), eps, sigma: step, beta: options.beta });
  if ((m = /^trades(?:-(\d+))?$/.exec(spec))) return trades({ k: m[1] ? int(m[1]) : 10, eps, alpha: step, beta: options.beta });
  throw new Error(`unknown method '${spec}'; expected one of ${METHOD_FORMS} (e.g. yopo-5-3, pgd-10)`);
}
