// The attacks against what is known exactly: a linear classifier, whose worst case in the L∞ box (and
// in the L2 ball away from the box) has a closed form; the DLR losses and APGD's checkpoints by hand;
// the L2 projection; Square's forward-only queries. CPU backend and a 64-pixel linear model: fast.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random, Tape, type Tensor, add, flatten, matmul, setBackend, tensor } from '../../engine/index.js';
import { Classifier } from '../../nn/index.js';
import {
  type EvalData,
  type EvalResult,
  type ExampleResult,
  type StageReport,
  apgdCheckpoints,
  paddedIndices,
  parseMethod,
  threatModel,
  dlrLoss,
  evaluate,
  oneHotRows,
  parseAttack,
  project,
  projectToBall,
  squareFraction,
  targetedDlrLoss,
} from '../../yopo/index.js';
import { assertClose, cpu } from '../helpers.js';

setBackend(cpu);

const SIDE = 8;
const D = SIDE * SIDE;
const C = 10;

/** z = W·x + b on [B, 1, 8, 8] inputs. The "first layer" is the whole model. */
class LinearClassifier extends Classifier {
  readonly inputShape = [1, SIDE, SIDE] as const;
  readonly classes = C;
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly w: Float64Array) {
    super();
    this.weight = this.registerParameter('weight', tensor(Float32Array.from(w), [D, C]));
    this.bias = this.registerParameter('bias', tensor(new Float32Array(C), [C]));
  }
  firstLayer(x: Tensor): Tensor {
    return add(matmul(flatten(x), this.weight), this.bias);
  }
  rest(z: Tensor): Tensor {
    return z;
  }
  firstLayerParameters(): Tensor[] {
    return [this.weight, this.bias];
  }
}

const rng = new Random(3);
const W = rng.fillNormal(new Float64Array(D * C), 0, 1) as Float64Array;
const model = new LinearClassifier(W);

function logitsOf(x: ArrayLike<number>, offset: number): Float64Array {
  const z = new Float64Array(C);
  for (let c = 0; c < C; c++) for (let i = 0; i < D; i++) z[c] += x[offset + i] * W[i * C + c];
  return z;
}

/** Data: N images in [lo, hi]; labels are the model's own predictions except every 10th (wrong on purpose). */
function dataset(n: number, lo: number, hi: number, seed: number): EvalData {
  const r = new Random(seed);
  const images = Float32Array.from({ length: n * D }, () => r.uniform(lo, hi));
  const labels = Int32Array.from({ length: n }, (_, e) => {
    const z = logitsOf(images, e * D);
    const top = z.indexOf(Math.max(...z));
    return e % 10 === 9 ? (top + 1) % C : top;
  });
  return { images, labels, count: n, shape: [1, SIDE, SIDE] };
}

/**
 * The exact worst case: for each other class j, min over the threat model of z_y − z_j = (W_y − W_j)·x'.
 * L∞ ∩ box: x'_i = the box end that lowers it; L2 (box not reached): (W_y − W_j)·x − ε‖W_y − W_j‖.
 * Returns the robust count and how many examples sit within `tol` of the decision boundary.
 */
function exactRobust(
  data: EvalData,
  eps: number,
  norm: 'linf' | 'l2',
  tol = 1e-3,
): { robust: number; borderline: number } {
  let robust = 0;
  let borderline = 0;
  for (let e = 0; e < data.count; e++) {
    const y = data.labels[e];
    let worst = Infinity;
    for (let j = 0; j < C; j++) {
      if (j === y) continue;
      let margin = 0;
      let sq = 0;
      for (let i = 0; i < D; i++) {
        const w = W[i * C + y] - W[i * C + j];
        const x = data.images[e * D + i];
        if (norm === 'linf') margin += w * (w > 0 ? Math.max(x - eps, 0) : Math.min(x + eps, 1));
        else margin += w * x;
        sq += w * w;
      }
      if (norm === 'l2') margin -= eps * Math.sqrt(sq);
      worst = Math.min(worst, margin);
    }
    if (worst > 0) robust++;
    if (Math.abs(worst) < tol) borderline++;
  }
  return { robust, borderline };
}

const COMPONENTS = {
  linf: ['fgsm', 'pgd-10', 'apgd-ce', 'apgd-t', 'square-300'],
  l2: ['fgsm', 'pgd-10', 'square-300'],
};

for (const [norm, eps, lo, hi] of [
  ['linf', 0.05, 0, 1],
  ['l2', 0.4, 0.4, 0.6],
] as const) {
  test(`linear classifier, ${norm} ε=${eps}: APGD-CE + APGD-T reach the exact robust accuracy; no attack reports less; per example the composition is the worst case`, async () => {
    const n = 200;
    const data = dataset(n, lo, hi, norm === 'linf' ? 10 : 11);
    const exact = exactRobust(data, eps, norm);
    assert.ok(
      exact.robust > 40 && exact.robust < 160,
      `a meaningful threat model: ${exact.robust}/${n} exactly robust`,
    );
    const reports: StageReport[] = [];
    const results: EvalResult[] = [];
    const run = async (spec: string) => {
      const r = await evaluate(model, data, parseAttack(spec, eps, eps / 4, 1, norm), {
        batchSize: n,
        seed: 1,
        keepExamples: true,
        onStage: (st) => reports.push(st),
      });
      results.push(r);
      return r.examples!;
    };
    const robustCount = (examples: ExampleResult[]) => examples.filter((e) => e.adv_pred === e.label).length;
    const composite = await run('apgd-ce+apgd-t+square-300');
    const strong = robustCount(composite);
    // One report per stage of the one batch: each stage attacks what the one before left robust.
    assert.equal(
      reports.map((st) => st.attack),
      ['apgd-ce', 'apgd-t', 'square-300'],
    );
    assert.is(
      reports[0].attacked,
      composite.filter((e) => e.clean_pred === e.label).length,
      'the first stage attacks the correctly classified',
    );
    for (let s = 1; s < reports.length; s++)
      assert.is(
        reports[s].attacked,
        reports[s - 1].attacked - reports[s - 1].broken,
        `stage ${reports[s].attack} attacks the survivors`,
      );
    assert.is(reports[2].attacked - reports[2].broken, strong, 'the last stage leaves the robust ones');
    results[0].stages.forEach((st, s) =>
      assert.is(st.seconds, reports[s].seconds, `${st.attack}: the result's stage time is the reports'`),
    );
    const measured = [`apgd-ce+apgd-t+square-300: ${strong}`];
    for (const spec of COMPONENTS[norm]) {
      const examples = await run(spec);
      const count = robustCount(examples);
      measured.push(`${spec}: ${count}`);
      assert.ok(
        count >= exact.robust - exact.borderline,
        `${spec}: ${count} robust < exact ${exact.robust} (minus ${exact.borderline} borderline)`,
      );
      for (const e of composite) {
        const q = examples[e.index];
        if (e.adv_pred === e.label)
          assert.is(
            q.adv_pred,
            q.label,
            `example ${e.index} robust under the composition but broken by ${q.broken_by}`,
          );
        if (q.adv_pred === q.label)
          assert.is(q.clean_pred, q.label, `example ${e.index} robust under ${spec} but wrong on the clean input`);
        assert.ok(
          (norm === 'linf' ? q.linf : q.l2) <= eps * (1 + 1e-5) + 1e-6,
          `${spec}, example ${e.index}: perturbation ${q.linf} / ${q.l2}`,
        );
      }
    }
    assert.ok(
      Math.abs(strong - exact.robust) <= n / 100,
      `APGD-CE + APGD-T: ${strong}/${n} robust, exact ${exact.robust}/${n} (${measured.join(', ')})`,
    );
    for (const e of composite)
      if (e.adv_pred !== e.label && e.clean_pred === e.label)
        assert.ok(e.broken_by !== null, 'a broken example names its attack');
  });
}

test('the DLR losses and their gradients against hand-computed values', async () => {
  // Row 0: label 0 (z = 1), sorted 5 4 3 2 1: −(1 − 5)/(5 − 3) = 2. Row 1: label 1 is the top: −(5 − 4)/(5 − 3) = −0.5.
  const z = tensor(Float32Array.from([1, 5, 3, 2, 4, 1, 5, 3, 2, 4]), [2, 5]);
  const y = oneHotRows(Int32Array.from([0, 1]), 5);
  const tape = new Tape();
  const loss = tape.record(() => dlrLoss(z, y));
  assertClose(await loss.data(), [2, -0.5], 'DLR');
  // Row 0: L = N/D with N = z_π1 − z_y = 4, D = z_π1 − z_π3 = 2: ∂/∂z_y = −1/D, ∂/∂z_π1 = 1/D − N/D², ∂/∂z_π3 = N/D².
  // Row 1: N = z_π2 − z_y = −1: ∂/∂z_y(=z_π1) = −1/D − N/D², ∂/∂z_π2 = 1/D, ∂/∂z_π3 = N/D².
  const [g] = tape.gradient(
    tape.record(() => add(loss, tensor(new Float32Array(2)))),
    [z],
    tensor(Float32Array.from([1, 1])),
  );
  assertClose(await g.data(), [-0.5, -0.5, 1, 0, 0, 0, -0.25, -0.25, 0, 0.5], 'DLR gradient');
  // Targeted, label 1, target class 4 (z = 4): −(5 − 4)/(5 − (3 + 2)/2) = −0.4; label 0, target 2: −(1 − 3)/2.5 = 0.8.
  const t = oneHotRows(Int32Array.from([2, 4]), 5);
  const y2 = oneHotRows(Int32Array.from([0, 1]), 5);
  assertClose(await targetedDlrLoss(z, y2, t).data(), [0.8, -0.4], 'targeted DLR');
});

test("APGD's checkpoints: w_j = ceil(p_j·N) with p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)", () => {
  // By hand for N = 100: p = 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (checks after those many iterations).
  assert.equal(
    apgdCheckpoints(100).map((i) => i + 1),
    [22, 41, 57, 70, 80, 87, 93, 99],
  );
  assert.equal(
    apgdCheckpoints(10).map((i) => i + 1),
    [2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
});

test('the rows an attack runs on are padded with copies of the first to the next of 1, 2, 3, 4, 6, 8, 12, …, at most the cap', () => {
  assert.equal(paddedIndices([5, 7, 9, 11, 13]), [5, 7, 9, 11, 13, 5]);
  assert.equal(paddedIndices([5, 7, 9]), [5, 7, 9]);
  assert.equal(paddedIndices([3]), [3]);
  assert.equal(paddedIndices([0, 1, 2, 3]), [0, 1, 2, 3]);
  assert.equal(paddedIndices([4, 6, 8, 10, 12, 14, 16], 7), [4, 6, 8, 10, 12, 14, 16], 'capped by the batch size');
  assert.equal(paddedIndices([1, 2, 3], 2), [1, 2, 3], 'never fewer than the rows');
  const range = (n: number) => Array.from({ length: n }, (_, j) => j);
  assert.is(
    paddedIndices(range(154), 200).length,
    200,
    'within a quarter of the cap: the cap (already compiled), not 192',
  );
  assert.is(paddedIndices(range(20), 25).length, 25);
  assert.is(paddedIndices(range(100), 200).length, 128, 'far from the cap: the ladder');
  const sizes = new Set(
    Array.from({ length: 200 }, (_, i) => paddedIndices(Array.from({ length: i + 1 }, (_, j) => j)).length),
  );
  assert.equal(
    [...sizes],
    [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256],
    'a shrinking set of 200 rows runs at 16 sizes, not 200',
  );
  for (let n = 2; n <= 1000; n++)
    assert.ok(paddedIndices(Array.from({ length: n }, (_, j) => j)).length < 1.5 * n, `${n} rows: padding under half`);
});

test("Square's p schedule halves at AutoAttack's query counts", () => {
  assert.equal(
    [0, 10, 11, 50, 51, 201, 501, 1001, 2001, 4001, 6001, 8001].map((i) => squareFraction(i, 0.8, 10000, false)),
    [0.8, 0.8, 0.4, 0.4, 0.2, 0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125, 0.0015625],
  );
  assert.is(
    squareFraction(2500, 0.8, 5000, true),
    0.8 / 128,
    'rescaled: query 2,500 of 5,000 counts as 5,000 of 10,000',
  );
});

test('L2 projection: rows outside the ball are scaled onto the sphere, rows inside are kept, then x + η is clipped to [0, 1]', async () => {
  const eta = tensor(Float32Array.from([3, 4, 0, 0, 0.3, 0, 0.4, 0]), [2, 1, 2, 2]);
  assertClose(await projectToBall(eta, 1, 'l2').data(), [0.6, 0.8, 0, 0, 0.3, 0, 0.4, 0], 'onto the L2 ball');
  const x = tensor(Float32Array.from([0.5, 0.5, 0.5, 0.5, 0.9, 0.5, 0.5, 0.5]), [2, 1, 2, 2]);
  assertClose(await project(eta, x, 1, 'l2').data(), [0.5, 0.5, 0, 0, 0.1, 0, 0.4, 0], 'then clipped');
  assertClose(await projectToBall(eta, 1, 'linf').data(), [1, 1, 0, 0, 0.3, 0, 0.4, 0], 'L∞ clips each value');
});

test('Square issues no backward pass and lowers the accuracy of a natural model', async () => {
  const data = dataset(100, 0, 1, 12);
  let gradients = 0;
  const original = Tape.prototype.gradient;
  Tape.prototype.gradient = function (...args: Parameters<typeof original>) {
    gradients++;
    return original.apply(this, args);
  };
  try {
    const r = await evaluate(model, data, parseAttack('square-200', 0.1, 0, 1, 'linf'), { seed: 2 });
    assert.is(gradients, 0, 'Square computed a gradient');
    assert.ok(
      r.robust_accuracy < r.clean_accuracy - 0.2,
      `clean ${r.clean_accuracy}, under Square ${r.robust_accuracy}`,
    );
    const r2 = await evaluate(model, data, parseAttack('square-200', 1, 0, 1, 'l2'), { seed: 2 });
    assert.is(gradients, 0, 'Square (L2) computed a gradient');
    assert.ok(
      r2.robust_accuracy < r2.clean_accuracy - 0.2,
      `L2: clean ${r2.clean_accuracy}, under Square ${r2.robust_accuracy}`,
    );
    await evaluate(model, data, parseAttack('pgd-1', 0.05, 0.05), {});
    assert.ok(gradients > 0, 'the counter sees the gradients of a white-box attack');
  } finally {
    Tape.prototype.gradient = original;
  }
});

test('L2 training: PGD-r and YOPO-m-n adversaries stay in the L2 ball and [0, 1], and use all of it', async () => {
  const data = dataset(8, 0, 1, 14);
  const x = tensor(data.images, [8, 1, SIDE, SIDE]);
  const y = tensor(data.labels, [8], 'int32');
  for (const spec of ['pgd-5', 'yopo-2-3']) {
    const net = new LinearClassifier(W);
    const method = parseMethod(spec, threatModel('mnist', { norm: 'l2' }));
    method.init(net, { lr: 1e-9, momentum: 0, weightDecay: 0 });
    const out = method.step(net, x, y, new Random(15));
    const adv = await out.adversary!.data();
    for (let e = 0; e < 8; e++) {
      let sq = 0;
      let inf = 0;
      for (let i = e * D; i < (e + 1) * D; i++) {
        assert.ok(adv[i] >= 0 && adv[i] <= 1, `${spec}: inside [0, 1]`);
        const d = adv[i] - data.images[i];
        sq += d * d;
        inf = Math.max(inf, Math.abs(d));
      }
      assert.ok(Math.sqrt(sq) <= 2 + 1e-4, `${spec}, example ${e}: ‖δ‖₂ = ${Math.sqrt(sq)} > ε = 2`);
      assert.ok(Math.sqrt(sq) > 0.5, `${spec}, example ${e}: the adversary moved (‖δ‖₂ = ${Math.sqrt(sq)})`);
      assert.ok(inf < 1, `${spec}: an L2 step, not a sign step (‖δ‖∞ = ${inf})`);
    }
    for (const t of [out.loss, out.logits, out.adversary!]) t.dispose();
    method.dispose();
    net.dispose();
  }
  assert.throws(() => parseMethod('free-4', threatModel('mnist', { norm: 'l2' })), /L∞ only/);
});

test('attack names: compositions parse, bad names give one-line errors', () => {
  assert.is(parseAttack('autoattack', 0.3, 0.01).name, 'apgd-ce+apgd-t+fab-t+square');
  assert.is(parseAttack('pgd-40+square', 0.3, 0.01).name, 'pgd-40+square');
  assert.is(parseAttack('fgsm', 2, 0.1, 1, 'l2').name, 'fgm');
  assert.is(parseAttack('pgd-20', 0.3, 0.01, 3).name, 'pgd-20x3');
  for (const bad of ['pgd-0', 'apgd', 'pgd-40+', 'square-x', 'none+pgd-1']) {
    assert.throws(
      () => parseAttack(bad, 0.3, 0.01),
      (e: Error) => !e.message.includes('\n') && e.message.length > 10,
      bad,
    );
  }
});

test.run();
