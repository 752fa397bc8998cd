// The files yopo eval writes: per-example JSON lines, the adversarial images (safetensors, loadable by
// PyTorch's safetensors), a model card with the fields of a RobustBench claim, and for an ε sweep the
// robustness curve. All written atomically, each with yopo's mark, and never over a file yopo did not
// write unless --force (file_ownership.ts).

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { encodeSafetensors, writeFileAtomic } from '../nn/index.js';
import type { AttackSpec, EvalData, EvalResult } from '../yopo/evaluate.js';
import { wilsonInterval } from '../yopo/interval.js';
import { renderCurves } from '../yopo/report/index.js';
import type { SanityFlag } from '../yopo/sanity.js';
import { MARKS, type WriteTarget, checkMayWrite } from './file_ownership.js';
import { packageVersion } from './session.js';

/** Everything `yopo eval` ran and measured, and the paths of the optional outputs to write (per-sample JSON lines, adversarial images, model card, curve). */
export interface EvalOutputs {
  checkpoint: string;
  data: string;
  model: string;
  adapter: string;
  seed: number;
  restarts: number;
  attacks: AttackSpec[];
  results: EvalResult[];
  flags: SanityFlag[];
  images: EvalData;
  perSample?: string;
  saveAdversarial?: string;
  card?: string;
  curve?: string;
  /** Replace files yopo did not write (--force). */
  force?: boolean;
}

const text = (s: string) => new TextEncoder().encode(s);

/** The files yopo eval will write, with their kinds: every target of the writing rule (file_ownership.ts). */
export function evalOutputTargets(o: {
  checkpoint: string;
  perSample?: string;
  saveAdversarial?: string;
  card?: string;
  curve?: string;
  sweep: boolean;
}): WriteTarget[] {
  const targets: WriteTarget[] = [];
  if (o.perSample) targets.push({ path: o.perSample, kind: 'per-sample', option: 'per-sample' });
  if (o.saveAdversarial)
    targets.push({ path: o.saveAdversarial, kind: 'adversarial-images', option: 'save-adversarial' });
  const base = cardBase(o);
  targets.push(
    { path: `${base}.json`, kind: 'model-card-json', option: o.card ? 'card' : undefined },
    { path: `${base}.md`, kind: 'model-card', option: o.card ? 'card' : undefined },
  );
  if (o.sweep)
    targets.push({
      path: o.curve ?? join(dirname(base), 'robustness-curve.svg'),
      kind: 'robustness-curve',
      option: o.curve ? 'curve' : undefined,
    });
  return targets;
}

/** The model card's path without .md/.json: --card, or model-card beside the checkpoint. */
function cardBase(o: { checkpoint: string; card?: string }): string {
  return o.card ? o.card.replace(/\.(md|json)$/, '') : join(dirname(o.checkpoint), 'model-card');
}
const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const interval = ([lo, hi]: [number, number]) => `${(100 * lo).toFixed(1)}–${(100 * hi).toFixed(1)}%`;

/** Writes every requested file (each checked against the writing rule right before); returns their paths. */
export async function writeEvalOutputs(o: EvalOutputs): Promise<string[]> {
  const write = async (target: WriteTarget, bytes: Uint8Array) => {
    checkMayWrite('eval', target, o.force ?? false);
    await writeFileAtomic(target.path, bytes);
  };
  const targets = new Map(evalOutputTargets({ ...o, sweep: o.results.length > 1 }).map((t) => [t.kind, t]));
  const written: string[] = [];
  if (o.perSample) {
    const lines = o.results.flatMap((r) => r.examples!.map((e) => JSON.stringify({ eps: r.eps, norm: r.norm, ...e })));
    await write(targets.get('per-sample')!, text(`${lines.join('\n')}\n`));
    written.push(o.perSample);
  }
  if (o.saveAdversarial) {
    const r = o.results[0];
    const [c, h, w] = o.images.shape;
    const bytes = encodeSafetensors(
      {
        adversarial: { shape: [r.n, c, h, w], data: r.adversarial! },
        labels: { shape: [r.n], data: o.images.labels.slice(0, r.n) },
      },
      {
        attack: r.attack,
        eps: String(r.eps),
        norm: r.norm,
        checkpoint: o.checkpoint,
        'yopo.version': packageVersion(),
        'yopo.file': MARKS.adversarialImages,
      },
    );
    await write(targets.get('adversarial-images')!, bytes);
    written.push(o.saveAdversarial);
  }
  const card = modelCard(o);
  const json = targets.get('model-card-json')!;
  const md = targets.get('model-card')!;
  await write(json, text(`${JSON.stringify(card, null, 2)}\n`));
  await write(md, text(cardMarkdown(card)));
  written.push(md.path, json.path);
  const curve = targets.get('robustness-curve');
  if (curve) {
    const svg = robustnessCurve(o.results).replace(/<svg[^>]*>/, (tag) => `${tag}${MARKS.robustnessCurve}`);
    await write(curve, text(svg));
    written.push(curve.path);
  }
  return written;
}

/** The robust accuracy against ε, from the clean accuracy at ε = 0. */
function robustnessCurve(results: EvalResult[]): string {
  const points = [
    { x: 0, y: 100 * results[0].clean_accuracy },
    ...results.map((r) => ({ x: r.eps, y: 100 * r.robust_accuracy })),
  ].sort((a, b) => a.x - b.x);
  const r = results[0];
  return renderCurves({
    title: `Robust accuracy under ${r.attack} (${r.norm}, n=${r.n})`,
    series: [{ label: `${r.attack} (ε = 0: clean)`, points }],
    xLabel: `ε (${r.norm})`,
    yLabel: 'accuracy (%)',
    yRange: [0, 100],
    xIncludeZero: true,
  });
}

type Card = ReturnType<typeof modelCard>;

function modelCard(o: EvalOutputs) {
  const sha256 = createHash('sha256').update(readFileSync(o.checkpoint)).digest('hex');
  const configPath = join(dirname(o.checkpoint), 'config.json');
  const training = existsSync(configPath)
    ? (JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>)
    : null;
  const first = o.results[0];
  return {
    written_by: MARKS.modelCardJson,
    model: o.model,
    dataset: o.data,
    threat_model: first.norm === 'linf' ? 'Linf' : 'L2',
    evaluations: o.results.map((r, i) => ({
      eps: r.eps,
      attack: r.attack,
      attack_stages: r.stages,
      attack_version: `yopo ${packageVersion()} (${o.attacks[i].stages.map((s) => s.name).join(', ') || 'no attack'}; restarts ${o.restarts})`,
      n: r.n,
      clean_accuracy: r.clean_accuracy,
      clean_interval_95: r.clean_interval,
      robust_accuracy: r.robust_accuracy,
      robust_interval_95: wilsonInterval(Math.round(r.robust_accuracy * r.n), r.n),
    })),
    seed: o.seed,
    yopo_version: packageVersion(),
    evaluated_on: o.adapter,
    date: new Date().toISOString(),
    checkpoint: o.checkpoint,
    checkpoint_sha256: sha256,
    sanity_flags: o.flags,
    training_config: training,
  };
}

function cardMarkdown(c: Card): string {
  const lines = [
    MARKS.modelCard,
    `# Model card: ${c.model} on ${c.dataset}`,
    '',
    `- threat model: ${c.threat_model}`,
    `- checkpoint: \`${c.checkpoint}\` (SHA-256 \`${c.checkpoint_sha256}\`)`,
    `- evaluated with yopo ${c.yopo_version} on ${c.evaluated_on}, seed ${c.seed}, ${c.date}`,
    '',
    '| ε | attack | n | clean accuracy (95% CI) | robust accuracy (95% CI) |',
    '|---|---|---|---|---|',
    ...c.evaluations.map(
      (e) =>
        `| ${Number(e.eps.toPrecision(4))} | ${e.attack_version} | ${e.n} | ${pct(e.clean_accuracy)} (${interval(e.clean_interval_95)}) | ${pct(e.robust_accuracy)} (${interval(e.robust_interval_95)}) |`,
    ),
    '',
    c.sanity_flags.length ? '## Sanity flags\n' : '## Sanity flags\n\nnone raised',
    ...c.sanity_flags.map((f) => `- **${f.check}**: ${f.evidence}`),
    '',
    '## Training configuration',
    '',
    c.training_config
      ? `\`\`\`json\n${JSON.stringify(c.training_config, null, 2)}\n\`\`\``
      : 'no config.json beside the checkpoint',
    '',
  ];
  return lines.join('\n');
}
