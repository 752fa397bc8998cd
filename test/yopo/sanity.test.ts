// The sanity flags: a gradient-masked model (its input is binarised by a step, whose gradient is 0)
// trips them with evidence; the same linear model without the step trips none. CPU backend, 64 pixels.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random, type Tensor, addScalar, flatten, matmul, setBackend, step, tensor } from '../../engine/index.js';
import { Classifier } from '../../nn/index.js';
import {
  type EvalData,
  blackBoxBeatsWhiteBox,
  evaluate,
  modelSanityFlags,
  notFallingWithEps,
  parseAttack,
} from '../../yopo/index.js';
import { cpu } from '../helpers.js';

setBackend(cpu);

const D = 64;
const C = 10;

class Linear extends Classifier {
  readonly inputShape = [1, 8, 8] as const;
  readonly classes = C;
  readonly weight: Tensor;
  constructor(
    w: Float32Array,
    readonly masked: boolean,
  ) {
    super();
    this.weight = this.registerParameter('weight', tensor(w, [D, C]));
  }
  /** Masked: z = W·step(x − 0.5), a binarised input (zero gradient everywhere); else z = W·(x − 0.5). */
  firstLayer(x: Tensor): Tensor {
    const centred = addScalar(flatten(x), -0.5);
    return matmul(this.masked ? step(centred) : centred, this.weight);
  }
  rest(z: Tensor): Tensor {
    return z;
  }
  firstLayerParameters(): Tensor[] {
    return [this.weight];
  }
}

const rng = new Random(5);
const w = Float32Array.from({ length: D * C }, () => rng.normal());
const images = Float32Array.from({ length: 100 * D }, () =>
  rng.next() < 0.5 ? rng.uniform(0, 0.3) : rng.uniform(0.7, 1),
);

function dataFor(model: Linear): Promise<EvalData> {
  // Labels: the model's own clean predictions, so clean accuracy is 100%.
  return evaluate(
    model,
    { images, labels: new Int32Array(100), count: 100, shape: [1, 8, 8] },
    parseAttack('none', 0, 0),
    { keepExamples: true },
  ).then((r) => ({
    images,
    labels: Int32Array.from(r.examples!, (e) => e.clean_pred),
    count: 100,
    shape: [1, 8, 8] as const,
  }));
}

test('a gradient-masked model trips the flags, with evidence', async () => {
  const masked = new Linear(w, true);
  const data = await dataFor(masked);
  const attack = parseAttack('pgd-10+square-300', 0.3, 0.075);
  const r = await evaluate(masked, data, attack, { seed: 1 });
  const flags = [
    blackBoxBeatsWhiteBox(attack, r),
    ...(await modelSanityFlags(masked, data, attack, r, { seed: 1 })),
  ].filter((f) => f !== null);
  const names = flags.map((f) => f!.check);
  console.log(flags.map((f) => `${f!.check}: ${f!.evidence}`).join('\n'));
  assert.ok(names.includes('black-box beats white-box'), names.join(', '));
  assert.ok(names.includes('zero gradients'), names.join(', '));
  for (const f of flags) assert.ok(/\d/.test(f!.evidence), `evidence with numbers: ${f!.evidence}`);
});

test('the same model without the mask trips none; a sweep that rises with ε is flagged', async () => {
  const plain = new Linear(w, false);
  const data = await dataFor(plain);
  const attack = parseAttack('pgd-10+square-100', 0.1, 0.05);
  const r = await evaluate(plain, data, attack, { seed: 1 });
  const flags = [
    blackBoxBeatsWhiteBox(attack, r),
    ...(await modelSanityFlags(plain, data, attack, r, { seed: 1 })),
  ].filter((f) => f !== null);
  assert.equal(flags, [], JSON.stringify(flags));
  const at = (eps: number, robust: number) => ({ ...r, eps, robust_accuracy: robust });
  assert.is(notFallingWithEps([at(0.1, 0.5), at(0.2, 0.3)]), null);
  assert.ok(notFallingWithEps([at(0.1, 0.3), at(0.2, 0.5)])?.evidence.includes('ε=0.2'));
});

test.run();
