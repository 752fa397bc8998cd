// yopo eval: clean and robust accuracy of a checkpoint on held-out test images, under one attack or a
// composition of attacks, at one ε or a sweep. Every robust number is printed with its attack, ε, norm,
// n and 95% interval; sanity flags come as warnings with their evidence; a model card with the fields of
// a RobustBench claim is written beside the checkpoint.

import { isPretrainedName, loadModel, pretrainedFile } from '../nn/index.js';
import { defaultEvalAttack, threatModel } from '../yopo/defaults.js';
import {
  type AttackSpec,
  type EvalResult,
  QUICK_ATTACK_NOTE,
  evaluate,
  isQuickAttack,
  parseAttack,
} from '../yopo/evaluate.js';
import { percentWithInterval } from '../yopo/interval.js';
import type { Norm } from '../yopo/perturbation.js';
import { Progress, formatDuration } from '../yopo/report/index.js';
import { type SanityFlag, blackBoxBeatsWhiteBox, modelSanityFlags, notFallingWithEps } from '../yopo/sanity.js';
import { type CommandSpec, UsageError, checkRadius, parseCommand, parseFraction } from './args.js';
import { explainDeviceLimit } from './device_limit.js';
import { type EvalOutputs, evalOutputTargets, writeEvalOutputs } from './eval_outputs.js';
import { checkMayWriteAll, sameFile } from './file_ownership.js';
import { BACKENDS, buildModel, loadSplit, openBackend } from './session.js';

/** Options of `yopo eval`. */
export const evalSpec = {
  name: 'eval',
  summary: 'measure clean and robust accuracy of a checkpoint',
  usage: 'eval --checkpoint FILE --data mnist|fashion-mnist|cifar10 --model NAME --attack ATTACK [options]',
  options: {
    checkpoint: {
      type: 'string',
      valueName: 'FILE',
      help: 'model.safetensors written by yopo train, or a shipped model by name: smallcnn-mnist-natural, smallcnn-mnist-yopo (required)',
    },
    data: {
      type: 'string',
      default: 'mnist',
      choices: ['mnist', 'fashion-mnist', 'cifar10'],
      help: 'dataset (its test split is used)',
    },
    'data-dir': { type: 'string', valueName: 'DIR', help: 'folder with the dataset files' },
    model: {
      type: 'string',
      default: 'smallcnn',
      choices: ['smallcnn', 'preact-resnet18', 'wrn-34-10'],
      help: 'network of the checkpoint',
    },
    attack: {
      type: 'string',
      valueName: 'ATTACK',
      help: 'none, fgsm, pgd-K, cw-K, apgd-ce, apgd-dlr, apgd-t, square[-Q], autoattack, or several joined by + (default pgd-40 on MNIST, pgd-20 on CIFAR-10)',
    },
    norm: { type: 'string', default: 'linf', choices: ['linf', 'l2'], help: 'threat model' },
    eps: {
      type: 'string',
      valueName: 'EPS[,EPS...]',
      help: 'radius, or a comma-separated sweep like 0.1,0.2,0.3 (default: L∞ 0.3 MNIST, 8/255 CIFAR-10; L2 2.0 MNIST, 0.5 CIFAR-10)',
    },
    step: {
      type: 'string',
      valueName: 'SIZE',
      help: 'PGD/CW step size (default: L∞ 0.01 MNIST, 2/255 CIFAR-10; L2 2.5ε/k)',
    },
    restarts: {
      type: 'number',
      default: 1,
      integer: true,
      min: 1,
      help: 'random restarts of PGD, CW, APGD and Square',
    },
    limit: {
      type: 'number',
      integer: true,
      min: 1,
      help: 'evaluate the first N test images only (default: the whole test set)',
    },
    'time-budget': {
      type: 'number',
      min: 0,
      valueName: 'MIN',
      help: 'start no batch expected to end after MIN minutes (the first always runs; n says how many images were evaluated)',
    },
    'batch-size': { type: 'number', default: 200, integer: true, min: 1, help: 'images per batch' },
    seed: { type: 'number', default: 0, integer: true, help: 'seed of the random starts' },
    backend: { type: 'string', default: 'webgpu', choices: BACKENDS, help: 'compute backend' },
    json: { type: 'boolean', help: 'print one JSON object on stdout instead of text' },
    'per-sample': {
      type: 'string',
      valueName: 'FILE.jsonl',
      help: 'one JSON line per example: index, label, predictions, the attack that broke it, perturbation norms',
    },
    'save-adversarial': {
      type: 'string',
      valueName: 'FILE.safetensors',
      help: 'the adversarial images and labels (single ε only)',
    },
    card: {
      type: 'string',
      valueName: 'FILE',
      help: 'model card path (FILE.md and FILE.json; default model-card.* beside the checkpoint)',
    },
    curve: {
      type: 'string',
      valueName: 'FILE.svg',
      help: 'robustness curve of an ε sweep (default robustness-curve.svg beside the card)',
    },
    'no-sanity': {
      type: 'boolean',
      help: 'skip the sanity checks (large-ε attack, FGSM comparison, zero gradients, determinism)',
    },
    force: {
      type: 'boolean',
      help: 'replace output files even if yopo did not write them (never the checkpoint itself)',
    },
  },
} as const satisfies CommandSpec;

function parseEpsList(text: string | undefined, fallback: number, norm: Norm, data: string): number[] {
  if (text === undefined) return [fallback];
  const values = text
    .split(',')
    .map((part) => checkRadius(parseFraction(part, 'eps', 'eval'), 'eps', 'eval', norm, data));
  if (new Set(values).size !== values.length)
    throw new UsageError(`yopo eval: --eps lists a value twice (got '${text}')`);
  return values;
}

function requireExtension(value: unknown, option: string, ext: string): string | undefined {
  if (value === undefined) return undefined;
  const path = String(value);
  if (!path.endsWith(ext)) throw new UsageError(`yopo eval: --${option} must name a ${ext} file (got '${path}')`);
  return path;
}

/** `yopo eval`: loads a checkpoint and measures clean and robust accuracy on a test split, for one ε or a sweep, and writes the requested outputs. */
export async function evalCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(evalSpec, argv);
  if (!parsed) return;
  const v = parsed.values;
  if (!v.checkpoint) throw new UsageError('yopo eval: --checkpoint FILE is required');
  // A shipped model by name (nn/pretrained.ts): its file in the package, its card in the working folder.
  if (isPretrainedName(v.checkpoint)) {
    v.card ??= `model-card-${v.checkpoint}`;
    v.checkpoint = pretrainedFile(v.checkpoint);
  }
  const data = v.data;
  const norm: Norm = v.norm;
  const threat = threatModel(data as 'mnist', { norm });
  const epsList = parseEpsList(v.eps, threat.eps, norm, data);
  const step =
    v.step === undefined
      ? threat.step
      : checkRadius(parseFraction(String(v.step), 'step', 'eval'), 'step', 'eval', norm, data);
  const attackText = String(v.attack ?? defaultEvalAttack(data));
  const perSample = requireExtension(v['per-sample'], 'per-sample', '.jsonl');
  const saveAdversarial = requireExtension(v['save-adversarial'], 'save-adversarial', '.safetensors');
  const curve = requireExtension(v.curve, 'curve', '.svg');
  if (saveAdversarial && epsList.length > 1)
    throw new UsageError('yopo eval: --save-adversarial needs a single --eps, not a sweep');
  // The checkpoint is read, never written: not even --force puts images in its place.
  if (saveAdversarial && sameFile(saveAdversarial, v.checkpoint))
    throw new UsageError(
      `yopo eval: --save-adversarial ${saveAdversarial} is the checkpoint being evaluated; choose another file`,
    );
  const outputTargets = evalOutputTargets({
    checkpoint: v.checkpoint,
    perSample,
    saveAdversarial,
    card: v.card,
    curve,
    sweep: epsList.length > 1,
  });
  let attacks: AttackSpec[];
  try {
    // With the default step, L2 PGD scales its step with each ε of a sweep (α = 2.5ε/k).
    attacks = epsList.map((eps) =>
      parseAttack(
        attackText,
        eps,
        v.step === undefined && norm === 'l2' ? (step * eps) / threat.eps : step,
        v.restarts,
        norm,
      ),
    );
  } catch (e) {
    throw new UsageError(`yopo eval: --attack: ${(e as Error).message}`);
  }
  const test = loadSplit('eval', data, v['data-dir'], 'test', v.limit);
  const { backend, description } = await openBackend(v.backend);
  const model = buildModel('eval', v.model, test, 0);
  try {
    await loadModel(String(v.checkpoint), model);
    // Before the evaluation (minutes): every output may be written (file_ownership.ts).
    checkMayWriteAll('eval', outputTargets, v.force);
    const results: EvalResult[] = [];
    const flags: SanityFlag[] = [];
    const budget = v['time-budget'];
    const options = {
      batchSize: v['batch-size'],
      seed: v.seed,
      timeBudgetS: budget === undefined ? undefined : budget * 60,
    };
    const evalStarted = performance.now();
    for (const attack of attacks) {
      const progress = v.json
        ? null
        : new Progress({ total: test.count, label: `eval ${attack.name} ε=${round(attack.eps)}`, unit: 'image' });
      const r = await evaluate(model, test, attack, {
        ...options,
        keepExamples: Boolean(perSample || saveAdversarial),
        onBatch: (done) => progress?.update(done),
        onStage: (st) => {
          // Stages of a composition can take minutes each on a software adapter: say what each did.
          if (st.attacked > 0 && (attack.stages.length > 1 || st.seconds >= 10))
            progress?.log(
              `  images ${st.first + 1}-${st.first + st.count}: ${st.attack} broke ${st.broken} of ${st.attacked} in ${formatDuration(st.seconds)}`,
            );
        },
      }).catch((e) => {
        throw explainDeviceLimit(e, v['batch-size']);
      });
      progress?.finish();
      results.push(r);
      const flag = blackBoxBeatsWhiteBox(attack, r);
      if (flag) flags.push({ ...flag, evidence: `ε=${round(attack.eps)}: ${flag.evidence}` });
    }
    const sweepFlag = results.length > 1 ? notFallingWithEps(results) : null;
    if (sweepFlag) flags.push(sweepFlag);
    const evalSeconds = (performance.now() - evalStarted) / 1000;
    const largest = attacks[attacks.length - 1];
    const sanityRan = !v['no-sanity'] && largest.stages.length > 0;
    const sanityStarted = performance.now();
    if (sanityRan) flags.push(...(await modelSanityFlags(model, test, largest, results[results.length - 1], options)));
    const sanitySeconds = (performance.now() - sanityStarted) / 1000;
    const outputs: EvalOutputs = {
      checkpoint: v.checkpoint,
      data,
      model: v.model,
      adapter: description,
      seed: v.seed,
      restarts: v.restarts,
      attacks,
      results,
      flags,
      images: test,
      perSample,
      saveAdversarial,
      card: v.card,
      curve,
      force: v.force,
    };
    const written = await writeEvalOutputs(outputs);
    if (v.json) {
      const strip = ({ examples: _e, adversarial: _a, ...rest }: EvalResult) => rest;
      const main = strip(results[results.length - 1]);
      console.log(
        JSON.stringify({
          ...main,
          restarts: v.restarts,
          checkpoint: v.checkpoint,
          data,
          model: v.model,
          adapter: description,
          sweep: results.length > 1 ? results.map(strip) : undefined,
          sanity_flags: flags,
          files: written,
          seconds: { evaluation: evalSeconds, sanity: sanityRan ? sanitySeconds : null },
        }),
      );
      return;
    }
    const clean = results[0];
    console.log(
      `clean accuracy ${percentWithInterval(clean.clean_accuracy, clean.n)} (n=${clean.n} test images, ${description})`,
    );
    for (const r of results) {
      const stages =
        r.stages.length > 1
          ? ` [after ${r.stages.map((s) => `${s.attack}: ${(100 * s.robust_accuracy).toFixed(1)}% (${formatDuration(s.seconds)})`).join(', ')}]`
          : '';
      console.log(
        `robust accuracy ${percentWithInterval(r.robust_accuracy, r.n)} under ${r.attack}, ${r.norm} ε=${round(r.eps)}, n=${r.n}${stages}`,
      );
    }
    if (results.length > 1) console.log(sweepTable(results));
    if (attacks.some(isQuickAttack)) console.log(QUICK_ATTACK_NOTE);
    for (const f of flags) console.log(`warning: sanity check '${f.check}': ${f.evidence}`);
    console.log(
      `time: evaluation ${formatDuration(evalSeconds)}${sanityRan ? `, sanity checks ${formatDuration(sanitySeconds)}` : ''}`,
    );
    for (const file of written) console.log(`wrote ${file}`);
  } finally {
    model.dispose();
    await backend.sync();
  }
}

function round(v: number): number {
  return Number(v.toPrecision(4));
}

function sweepTable(results: EvalResult[]): string {
  const rows = [['ε', 'robust accuracy', '95% interval', 'attack', 'n']];
  rows.push([
    '0',
    `${(100 * results[0].clean_accuracy).toFixed(1)}%`,
    results[0].clean_interval.map((p) => (100 * p).toFixed(1)).join('-'),
    'clean',
    String(results[0].n),
  ]);
  for (const r of results)
    rows.push([
      String(round(r.eps)),
      `${(100 * r.robust_accuracy).toFixed(1)}%`,
      r.robust_interval.map((p) => (100 * p).toFixed(1)).join('-'),
      r.attack,
      String(r.n),
    ]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows
    .map((row) =>
      row
        .map((cell, c) => cell.padEnd(widths[c]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
