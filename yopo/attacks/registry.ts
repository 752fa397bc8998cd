// Attack names as the CLI takes them, and their composition. `--attack pgd-40+square` runs PGD-40, then
// Square on the examples PGD-40 did not break; `autoattack` is AutoAttack's standard sequence
// APGD-CE → APGD-T → FAB-T → Square (of those registered here). Each stage is an async function that
// returns adversarial inputs (x itself where it found none), so the result is a per-example worst case.

import { type Random, type Tensor, tensor } from '../../engine/index.js';
import type { Classifier } from '../../nn/index.js';
import type { Norm } from '../perturbation.js';
import { apgdAttack } from './apgd.js';
import { fabTargetedAttack } from './fab.js';
import { fgsmAttack, pgdAttack } from './pgd.js';
import { correctOf, gatherLabels, gatherRows, indicesWhere, logitsOfTensor, scatterRows } from './rows.js';
import { squareAttack } from './square.js';

/** Threat model and shared settings of every stage. */
export interface AttackContext {
  eps: number;
  norm: Norm;
  /** Step size of PGD/CW. */
  alpha: number;
  /** Random restarts of PGD, CW, APGD and Square. */
  restarts: number;
}

/** An attack stage: adversarial inputs for x ([B, ...] in [0, 1]) with int32 labels [B], shaped like x (x itself where none was found). */
export type AttackFn = (model: Classifier, x: Tensor, labels: Int32Array, rng: Random) => Promise<Tensor>;

/** One attack of a composition, as parsed from its CLI name: its name, whether it is quick or white-box, and the function that runs it. */
export interface Stage {
  name: string;
  /** A quick attack (FGSM, PGD/CW with at most 40 steps and one restart): its number is not reportable. */
  quick: boolean;
  /** Needs input gradients (false for score-based attacks such as Square). */
  whiteBox: boolean;
  run: AttackFn;
}

/** A registered attack form: the regular expression its CLI names match, the form shown in help, and how to build its Stage. */
export interface AttackEntry {
  pattern: RegExp;
  form: string;
  make: (m: RegExpExecArray, c: AttackContext) => Stage;
}

/** PGD/CW are synchronous and take labels as a tensor; restarts attack only the examples still robust. */
function withRestarts(
  restarts: number,
  once: (model: Classifier, x: Tensor, y: Tensor, labels: Int32Array, rng: Random) => Tensor,
): AttackFn {
  return async (model, x, labels, rng) => {
    const per = x.size / x.shape[0];
    const xHost = Float32Array.from((await x.data()) as Float32Array);
    const adv = Float32Array.from(xHost);
    const robust = correctOf(await logitsOfTensor(model, x), labels, model.classes);
    for (let r = 0; r < restarts; r++) {
      const idx = indicesWhere(robust);
      if (idx.length === 0) break;
      const sub = tensor(gatherRows(xHost, per, idx), [idx.length, ...x.shape.slice(1)]);
      const subLabels = gatherLabels(labels, idx);
      const y = tensor(subLabels, [idx.length], 'int32');
      const found = once(model, sub, y, subLabels, rng);
      const fooled = correctOf(await logitsOfTensor(model, found), subLabels, model.classes).map((v) => 1 - v);
      scatterRows(adv, per, idx, (await found.data()) as Float32Array, fooled);
      idx.forEach((e, i) => {
        if (fooled[i]) robust[e] = 0;
      });
      for (const t of [sub, y, found]) t.dispose();
    }
    return tensor(adv, x.shape);
  };
}

function atLeastOne(text: string, name: string): number {
  const k = Number(text);
  if (!(k >= 1)) throw new Error(`attack '${name}': the count must be at least 1`);
  return k;
}

/** Every attack name form the CLI accepts (apart from 'none' and 'autoattack'), in help order. */
export const ATTACKS: AttackEntry[] = [
  {
    pattern: /^(?:fgsm|fgm)$/,
    form: 'fgsm (fgm in L2)',
    make: (_, c) => ({
      name: c.norm === 'l2' ? 'fgm' : 'fgsm',
      quick: true,
      whiteBox: true,
      run: withRestarts(1, (model, x, y) => fgsmAttack(model, x, y, c.eps, c.norm)),
    }),
  },
  {
    pattern: /^(pgd|cw)-(\d+)$/,
    form: 'pgd-K, cw-K',
    make: (m, c) => {
      const k = atLeastOne(m[2], m[0]);
      const loss = m[1] === 'cw' ? 'cw' : 'ce';
      const name = `${m[1]}-${k}${c.restarts > 1 ? `x${c.restarts}` : ''}`;
      return {
        name,
        quick: k <= 40 && c.restarts === 1,
        whiteBox: true,
        run: withRestarts(c.restarts, (model, x, y, labels, rng) =>
          pgdAttack(
            model,
            x,
            y,
            labels,
            { eps: c.eps, alpha: c.alpha, steps: k, randomStart: true, loss, norm: c.norm },
            rng,
          ),
        ),
      };
    },
  },
  {
    pattern: /^apgd-(ce|dlr|t)$/,
    form: 'apgd-ce, apgd-dlr, apgd-t',
    make: (m, c) => {
      const loss = m[1] === 't' ? 'dlr-targeted' : (m[1] as 'ce' | 'dlr');
      return {
        name: m[0],
        quick: false,
        whiteBox: true,
        run: (model, x, labels, rng) =>
          apgdAttack(model, x, labels, { eps: c.eps, norm: c.norm, loss, restarts: c.restarts }, rng),
      };
    },
  },
  {
    pattern: /^fab-t$/,
    form: 'fab-t',
    make: (m, c) => ({
      name: m[0],
      quick: false,
      whiteBox: true,
      run: (model, x, labels, rng) =>
        fabTargetedAttack(model, x, labels, { eps: c.eps, norm: c.norm, restarts: c.restarts }, rng),
    }),
  },
  {
    pattern: /^square(?:-(\d+))?$/,
    form: 'square[-QUERIES]',
    make: (m, c) => {
      const queries = m[1] ? atLeastOne(m[1], m[0]) : 5000;
      return {
        name: m[0],
        quick: false,
        whiteBox: false,
        run: (model, x, labels, rng) =>
          squareAttack(model, x, labels, { eps: c.eps, norm: c.norm, queries, restarts: c.restarts }, rng),
      };
    },
  },
];

/** AutoAttack's standard version, in order. */
export const AUTOATTACK = ['apgd-ce', 'apgd-t', 'fab-t', 'square'];

function entryFor(name: string): { entry: AttackEntry; m: RegExpExecArray } | null {
  for (const entry of ATTACKS) {
    const m = entry.pattern.exec(name);
    if (m) return { entry, m };
  }
  return null;
}

/** The accepted attack forms as one comma-separated list, for help and error messages. */
export function attackForms(): string {
  return ['none', ...ATTACKS.map((a) => a.form), 'autoattack'].join(', ');
}

/** 'apgd-ce+apgd-t' → its stages; 'autoattack' expands to the standard sequence; 'none' → no stage. */
export function parseStages(spec: string, c: AttackContext): Stage[] {
  if (spec === 'none') return [];
  const names = spec.split('+').flatMap((s) => (s === 'autoattack' ? AUTOATTACK.filter((a) => entryFor(a)) : [s]));
  return names.map((name) => {
    const found = entryFor(name);
    if (!found)
      throw new Error(
        `unknown attack '${name}'; expected ${attackForms()}, or several joined by + (e.g. pgd-40+square)`,
      );
    return found.entry.make(found.m, c);
  });
}
