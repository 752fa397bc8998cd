// The linear op on the CPU reference: x·wᵀ + bias, then an optional ReLU, equals the ops it fuses
// (matmul, a broadcast add, relu); shape errors name both shapes; its VJP (dx, dw, dbias, through the
// ReLU) against finite differences. The WebGPU kernel: test/kernels/kernels_linear.test.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random, type Tensor, add, linear, matmul, mul, relu, sum, tensor } from '../../engine/index.js';
import { assertClose, cpu64, gradCheck, on, randomArray } from '../helpers.js';

const rng = new Random(4242);

/** x [rows, in], w [out, in], bias [out] and a cotangent [rows, out], uniform in [-1, 1]. */
function draw(rows: number, inFeatures: number, outFeatures: number) {
  return {
    x: randomArray(rng, rows * inFeatures),
    w: randomArray(rng, outFeatures * inFeatures),
    bias: randomArray(rng, outFeatures),
    c: randomArray(rng, rows * outFeatures),
  };
}

/** x·wᵀ + bias on the host, in float64. */
function preActivation(d: ReturnType<typeof draw>, rows: number, inFeatures: number, outFeatures: number): number[] {
  const z: number[] = [];
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < outFeatures; j++) {
      let acc = d.bias[j];
      for (let t = 0; t < inFeatures; t++) acc += d.x[i * inFeatures + t] * d.w[j * inFeatures + t];
      z.push(acc);
    }
  return z;
}

for (const [rows, inFeatures, outFeatures] of [
  [1, 3, 1],
  [7, 29, 13],
  [4, 1, 5],
]) {
  test(`linear on the CPU equals relu?(matmul(x, wᵀ) + bias), ${rows}x${inFeatures} → ${outFeatures}`, async () => {
    const d = draw(rows, inFeatures, outFeatures);
    await on(cpu64, async () => {
      const x = tensor(d.x, [rows, inFeatures]);
      const w = tensor(d.w, [outFeatures, inFeatures]);
      const bias = tensor(d.bias, [outFeatures]);
      const product = matmul(x, w, { transB: true });
      const biased = add(product, bias);
      const cases: [string, Tensor, Tensor][] = [
        ['with bias', linear(x, w, bias), biased],
        ['with bias and ReLU', linear(x, w, bias, { relu: true }), relu(biased)],
        ['without bias', linear(x, w), product],
        ['ReLU without bias', linear(x, w, null, { relu: true }), relu(product)],
      ];
      for (const [what, fused, composed] of cases) {
        assert.equal(fused.shape, [rows, outFeatures]);
        assertClose(await fused.data(), await composed.data(), what, 1e-12, 1e-12);
      }
    });
  });
}

test('linear on an empty batch gives [0, out]', async () => {
  await on(cpu64, async () => {
    const out = linear(tensor(new Float64Array(0), [0, 3]), tensor(new Float64Array(6), [2, 3]), null);
    assert.equal(out.shape, [0, 2]);
    assert.is((await out.data()).length, 0);
  });
});

test('linear: shape errors name both shapes', () => {
  on(cpu64, () => {
    const t = (shape: number[]) => tensor(new Float64Array(shape.reduce((a, b) => a * b, 1)), shape);
    const cases: [() => Tensor, RegExp][] = [
      [
        () => linear(t([2, 3]), t([4, 5])),
        /linear: input \[2, ?3\], weight \[4, ?5\]: input has 3 features, weight expects 5/,
      ],
      [() => linear(t([2, 3, 1]), t([4, 3])), /input \[2, ?3, ?1\], weight \[4, ?3\]: input must be .*2-D/],
      [() => linear(t([2, 3]), t([12])), /input \[2, ?3\], weight \[12\]: weight must be .*2-D/],
      [
        () => linear(t([2, 3]), t([4, 3]), t([5])),
        /weight \[4, ?3\]: bias of shape \[5\] does not match 4 output features/,
      ],
      [() => linear(t([2, 0]), t([4, 0])), /input \[2, ?0\], weight \[4, ?0\]: no input features/],
    ];
    for (const [call, message] of cases) assert.throws(call, message);
  });
});

/** Draws inputs whose pre-activations are all at least `margin` from the ReLU's kink, with both signs
 *  present (so the mask matters); finite differences of step 1e-6 then never cross it. */
function awayFromKink(rows: number, inFeatures: number, outFeatures: number, margin = 0.05) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const d = draw(rows, inFeatures, outFeatures);
    const z = preActivation(d, rows, inFeatures, outFeatures);
    if (z.every((v) => Math.abs(v) >= margin) && z.some((v) => v > 0) && z.some((v) => v < 0)) return d;
  }
  throw new Error('no inputs away from the kink in 100 draws');
}

for (const [rows, inFeatures, outFeatures] of [
  [3, 5, 4],
  [1, 7, 3],
  [6, 2, 5],
]) {
  for (const [bias, withRelu] of [
    [true, false],
    [true, true],
    [false, true],
  ]) {
    const name = `${rows}x${inFeatures} → ${outFeatures}${bias ? ' + bias' : ''}${withRelu ? ', ReLU' : ''}`;
    test(`linear VJP by finite differences (dx, dw${bias ? ', dbias' : ''}), ${name}`, async () => {
      const d = withRelu ? awayFromKink(rows, inFeatures, outFeatures) : draw(rows, inFeatures, outFeatures);
      const inputs = [
        { values: d.x, shape: [rows, inFeatures] },
        { values: d.w, shape: [outFeatures, inFeatures] },
        ...(bias ? [{ values: d.bias, shape: [outFeatures] }] : []),
        { values: d.c, shape: [rows, outFeatures], differentiable: false },
      ];
      const loss = (...t: Tensor[]) =>
        sum(mul(linear(t[0], t[1], bias ? t[2] : null, { relu: withRelu }), t[t.length - 1]));
      await gradCheck(loss, inputs, `linear ${name}`);
    });
  }
}

test.run();
