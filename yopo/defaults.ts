// The paper's published settings (docs/algorithm.md, "Published settings"), used as the CLI's defaults, and
// the parser that turns 'yopo-5-3' or 'pgd-40' into a Method.

import type { InnerStepPath } from './first_layer_adversary.js';
import type { Method } from './method.js';
import { free } from './methods/free.js';
import { natural } from './methods/natural.js';
import { pgd } from './methods/pgd.js';
import { trades } from './methods/trades.js';
import { tradesYopo } from './methods/trades_yopo.js';
import { yopo } from './methods/yopo.js';

import type { DatasetName } from './data/index.js';
import type { Norm } from './perturbation.js';

/** The threat model a method trains against (and the CLI's defaults for --eps and --step). */
export interface ThreatModel {
  eps: number;
  /** Step size of PGD/TRADES adversaries (α) and YOPO's inner step (σ). */
  step: number;
  /** L∞ (the paper's) or L2; absent means L∞. */
  norm?: Norm;
}

/** TRADES and TRADES-YOPO (`trades`, `trades-K`, `trades-yopo-M-N`): published with their own settings. */
function isTrades(method: string): boolean {
  return method === 'trades' || method.startsWith('trades-');
}

/**
 * The published threat model for a dataset, a norm and optionally a method. L∞: ε 0.3 / step 0.01 on
 * MNIST, 8/255 / 2/255 on CIFAR-10, except TRADES and TRADES-YOPO on CIFAR-10: 0.031 / 0.007.
 * L2 (RobustBench's radii): 2.0 (MNIST) / 0.5 (CIFAR-10) with α = 2.5ε/k for the published k = 40
 * (MNIST) / 10 (CIFAR-10) steps (Madry et al.'s rule). Without a method, the dataset's (what
 * evaluation attacks use).
 */
export function threatModel(dataset: DatasetName, o: { norm?: Norm; method?: string } = {}): ThreatModel {
  const cifar = dataset === 'cifar10';
  const norm = o.norm ?? 'linf';
  if (norm === 'l2') return cifar ? { eps: 0.5, step: (2.5 * 0.5) / 10, norm } : { eps: 2, step: (2.5 * 2) / 40, norm };
  if (!cifar) return { eps: 0.3, step: 0.01, norm };
  if (isTrades(o.method ?? '')) return { eps: 0.031, step: 0.007, norm };
  return { eps: 8 / 255, step: 2 / 255, norm };
}

/** The published evaluation attack: PGD-40 on MNIST, PGD-20 on CIFAR-10. */
export function defaultEvalAttack(dataset: string): string {
  return dataset === 'cifar10' ? 'pgd-20' : 'pgd-40';
}

/** The paper's settings for a dataset, method and model (trainingDefaults): epochs, lr and its ×0.1 milestones, weight decay, batch size, TRADES β. */
export interface TrainingDefaults {
  epochs: number;
  lr: number;
  /** Epochs (counted from 0) from which the learning rate is multiplied by 0.1 once more. */
  milestones: number[];
  /** The first layer's own milestones (YOPO only); null: the same as `milestones`. */
  firstLayerMilestones: number[] | null;
  weightDecay: number;
  batchSize: number;
  /** TRADES's β (TRADES methods only). */
  beta: number | null;
}

/**
 * Defaults by dataset, method and model, from docs/algorithm.md's "Published settings" (lr is the base rate; YOPO divides it by
 * m). Epochs are the table's; the official loops run one more (num_epochs + 1) at the final rate.
 */
export function trainingDefaults(dataset: DatasetName, method: string, model: string): TrainingDefaults {
  const family = method.split('-')[0];
  const common = { firstLayerMilestones: null, weightDecay: 5e-4, batchSize: 256, beta: null };
  if (dataset !== 'cifar10') {
    // The official MNIST YOPO code gives the first layer its own MultiStepLR at 15 and 19.
    if (family === 'yopo')
      return { ...common, epochs: 40, lr: 0.01, milestones: [30, 35, 39], firstLayerMilestones: [15, 19] };
    return { ...common, epochs: 56, lr: 0.1, milestones: [50, 55], beta: isTrades(method) ? 1 : null };
  }
  if (method.startsWith('trades-yopo')) return { ...common, epochs: 105, lr: 0.2, milestones: [70, 90, 100], beta: 1 };
  // The TRADES-10 baseline's code: `if epoch >= 75: ×0.1 elif epoch >= 90: ... elif epoch >= 100` over
  // epochs 1..100; only the first branch is ever taken, so ×0.1 from its 75th epoch (74 counted from 0).
  if (isTrades(method))
    return { ...common, epochs: 100, lr: 0.1, milestones: [74], weightDecay: 2e-4, batchSize: 200, beta: 1 };
  if (family === 'yopo')
    return { ...common, epochs: 36, lr: model === 'wrn-34-10' ? 0.4 : 0.2, milestones: [30, 34, 36] };
  if (model === 'wrn-34-10') return { ...common, epochs: 105, lr: 0.1, milestones: [75, 90, 100], weightDecay: 2e-4 };
  return { ...common, epochs: 105, lr: 0.05, milestones: [75, 90, 100] };
}

/** The options a method name leaves open (each defaults to the published code's choice). */
export interface MethodOptions {
  beta?: number;
  objective?: 'adv+clean' | 'adv';
  firstLayerGradient?: 'both' | 'hamiltonian' | 'backprop';
  batchNormRefresh?: boolean;
  /** YOPO's inner step: fused where the first layer allows ('auto', the default) or always op by op ('generic'). */
  innerStep?: InnerStepPath;
}

/** The method name forms parseMethod accepts, for help and errors. */
export const METHOD_FORMS = 'natural, pgd-R, free-M, yopo-M-N, trades[-K], trades-yopo-M-N';

/** Parses a method name. ε and the step come from the threat model unless given. */
export function parseMethod(spec: string, threat: ThreatModel, options: MethodOptions = {}): Method {
  const { eps, step } = threat;
  const norm = threat.norm ?? 'linf';
  if (norm !== 'linf' && !/^(natural|pgd-\d+|yopo-\d+-\d+)$/.test(spec))
    throw new Error(`method '${spec}' is L∞ only; with --norm l2 use natural, pgd-R or yopo-M-N`);
  const int = (s: string) => {
    const n = Number.parseInt(s, 10);
    if (!(n >= 1)) throw new Error(`method '${spec}': every count must be at least 1 (forms: ${METHOD_FORMS})`);
    return n;
  };
  let m: RegExpExecArray | null;
  if (spec === 'natural') return natural();
  // An adversary of zero strength would silently train naturally while the run says otherwise.
  if (/^(pgd|free|yopo|trades|trades-yopo)(-\d+)*$/.test(spec) && !(eps > 0))
    throw new Error(`method '${spec}' with ε = ${eps} has no adversary; use a positive ε, or 'natural'`);
  if (/^(pgd|yopo|trades|trades-yopo)(-\d+)*$/.test(spec) && !(step > 0))
    throw new Error(`method '${spec}' with step ${step} has an adversary that never moves; use a positive step`);
  if ((m = /^pgd-(\d+)$/.exec(spec)))
    return pgd({ r: int(m[1]), eps, alpha: step, objective: options.objective, norm });
  if ((m = /^free-(\d+)$/.exec(spec))) return free({ m: int(m[1]), eps });
  if ((m = /^yopo-(\d+)-(\d+)$/.exec(spec)))
    return yopo({
      m: int(m[1]),
      n: int(m[2]),
      eps,
      sigma: step,
      firstLayerGradient: options.firstLayerGradient,
      batchNormRefresh: options.batchNormRefresh,
      norm,
      innerStep: options.innerStep,
    });
  if ((m = /^trades-yopo-(\d+)-(\d+)$/.exec(spec)))
    return tradesYopo({
      m: int(m[1]),
      n: int(m[2]),
      eps,
      sigma: step,
      beta: options.beta,
      innerStep: options.innerStep,
    });
  if ((m = /^trades(?:-(\d+))?$/.exec(spec)))
    return trades({ k: m[1] ? int(m[1]) : 10, eps, alpha: step, beta: options.beta });
  throw new Error(`unknown method '${spec}'; expected one of ${METHOD_FORMS} (e.g. yopo-5-3, pgd-10)`);
}
