// YOPO's fused inner step (engine/ops/conv_ascent.ts, kernels/conv_ascent.ts): the WGSL kernels against
// the CPU reference, the fused step against the op-by-op path it replaces (the reference) over several
// inner steps on odd shapes, strides, paddings and kernels, with clip masks active, the dispatches per
// inner step, and a whole YOPO-5-3 step on SmallCNN fused and op by op; for a first layer without ReLU,
// the adversary loop that computes Wᵀp once per full pass and steps the identity layer against it.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Backend,
  CpuBackend,
  Random,
  Tape,
  Tensor,
  conv2d,
  conv2dInputGradient,
  convAscentBase,
  convHamiltonianGradient,
  convHamiltonianGradientFrom,
  keep,
  rand,
  randn,
  relu,
  setBackend,
  tensor,
  tidy,
} from '../../engine/index.js';
import type { Conv2dShape } from '../../engine/index.js';
import { Classifier, Conv2d, SmallCNN } from '../../nn/index.js';
import {
  firstLayerAdversary,
  hamiltonianGradientWrtEta,
  innerStep,
  linearFirstLayer,
  linearFirstLayerCotangent,
  yopo,
} from '../../yopo/index.js';
import { assertClose, assertOp, cpu, maxAbs, webgpu } from '../helpers.js';

/** A first layer alone: conv (with or without bias), then ReLU or not. rest is never called here. */
class FirstLayerOnly extends Classifier {
  readonly inputShape: [number, number, number];
  readonly classes = 1;
  readonly conv: Conv2d;

  constructor(
    readonly c: Case,
    seed: number,
  ) {
    super();
    this.inputShape = [c.inChannels, c.size, c.size];
    this.conv = this.registerModule(
      'conv',
      new Conv2d(c.inChannels, c.outChannels, c.kernel, new Random(seed), {
        stride: c.stride,
        padding: c.padding,
        bias: c.bias,
      }),
    );
  }
  firstLayer(x: Tensor): Tensor {
    const z = this.conv.forward(x);
    return this.c.relu ? relu(z) : z;
  }
  rest(): Tensor {
    throw new Error('not used');
  }
  firstLayerParameters(): Tensor[] {
    return this.conv.parameters();
  }
  override firstLayerConv() {
    // The layer runs its ReLU apart (the tape path the fused step is checked against).
    return { ...this.conv.asFirstLayer(), relu: this.c.relu };
  }
}

interface Case {
  inChannels: number;
  outChannels: number;
  size: number;
  kernel: number;
  stride: number;
  padding: number;
  bias: boolean;
  relu: boolean;
}

const describe = (c: Case) =>
  `${c.inChannels}→${c.outChannels} ${c.kernel}x${c.kernel} s${c.stride} p${c.padding} on ${c.size}x${c.size}${c.bias ? ' +bias' : ''}${c.relu ? ' +ReLU' : ''}`;

const BATCH = 3;
const CASES: Case[] = [
  { inChannels: 1, outChannels: 5, size: 11, kernel: 3, stride: 1, padding: 0, bias: true, relu: true },
  { inChannels: 3, outChannels: 7, size: 11, kernel: 3, stride: 2, padding: 1, bias: false, relu: false },
  { inChannels: 3, outChannels: 5, size: 13, kernel: 5, stride: 1, padding: 1, bias: true, relu: true },
  { inChannels: 1, outChannels: 7, size: 9, kernel: 5, stride: 2, padding: 0, bias: false, relu: true },
  { inChannels: 3, outChannels: 5, size: 10, kernel: 3, stride: 1, padding: 1, bias: false, relu: false },
  // Images wider and taller than one tile, with short last tiles.
  { inChannels: 1, outChannels: 3, size: 17, kernel: 3, stride: 1, padding: 1, bias: true, relu: true },
  { inChannels: 2, outChannels: 3, size: 31, kernel: 3, stride: 2, padding: 1, bias: false, relu: false },
  // More than 32 output channels: two words of ReLU bits, the second partly used.
  { inChannels: 1, outChannels: 37, size: 13, kernel: 3, stride: 1, padding: 1, bias: true, relu: true },
  { inChannels: 2, outChannels: 33, size: 15, kernel: 3, stride: 2, padding: 0, bias: false, relu: true },
  // A bias without ReLU: affine, so still linear in η (its Wᵀp ignores the bias).
  { inChannels: 2, outChannels: 5, size: 9, kernel: 3, stride: 1, padding: 1, bias: true, relu: false },
];
const EPS = 0.1;
const SIGMA = 0.04;

/** Pixels with many exact 0s and 1s and values near the edges, so clip masks matter; η in the ε-ball. */
function inputs(c: Case, seed: number): { x: Tensor; eta: Tensor; p: Tensor; pShape: number[] } {
  const rng = new Random(seed);
  const n = BATCH * c.inChannels * c.size * c.size;
  const pixels = Float32Array.from({ length: n }, () => {
    const u = rng.next();
    return u < 0.2 ? 0 : u < 0.35 ? 1 : u < 0.55 ? rng.uniform(0, 0.05) : u < 0.7 ? rng.uniform(0.95, 1) : rng.next();
  });
  const out = Math.floor((c.size + 2 * c.padding - c.kernel) / c.stride) + 1;
  const pShape = [BATCH, c.outChannels, out, out];
  return {
    x: tensor(pixels, [BATCH, c.inChannels, c.size, c.size]),
    eta: rand([BATCH, c.inChannels, c.size, c.size], rng, -EPS, EPS),
    p: randn(pShape, rng),
    pShape,
  };
}

test('the fused kernels match the CPU reference (g and the L∞ step) on odd shapes', async () => {
  const gpu = await webgpu();
  for (const [k, c] of CASES.entries()) {
    const model = new FirstLayerOnly(c, 10 + k);
    const conv = model.firstLayerConv();
    const w = await conv.weight.data();
    const b = conv.bias ? await conv.bias.data() : null;
    const out = Math.floor((c.size + 2 * c.padding - c.kernel) / c.stride) + 1;
    const xShape = [BATCH, c.inChannels, c.size, c.size];
    const s = {
      batch: BATCH,
      inChannels: c.inChannels,
      inHeight: c.size,
      inWidth: c.size,
      outChannels: c.outChannels,
      outHeight: out,
      outWidth: out,
      kernelHeight: c.kernel,
      kernelWidth: c.kernel,
      stride: c.stride,
      padding: c.padding,
    };
    const kIn = c.outChannels * c.kernel * c.kernel;
    const report = await assertOp(
      gpu,
      {
        name: `convAscent ${describe(c)}`,
        inputs: [
          { shape: xShape, lo: -0.2, hi: 1.2 },
          { shape: xShape, lo: -EPS, hi: EPS },
          { shape: [BATCH, c.outChannels, out, out] },
          { values: w, shape: conv.weight.shape },
          ...(b ? [{ values: b, shape: [c.outChannels] }] : []),
        ],
        run: ([x, eta, p, wt, bias], be: Backend) => {
          const at = (o: 'gradient' | 'linfStep') =>
            be.convAscent(x.storage, eta.storage, p.storage, wt.storage, bias?.storage ?? null, s, {
              relu: c.relu,
              output: o,
              sigma: SIGMA,
              eps: EPS,
            });
          return [at('gradient'), at('linfStep')].map((st) => Tensor.fromStorage(be, st, xShape, 'float32'));
        },
        rtol: 1e-4,
        atol: [2e-6 * kIn + 1e-6, 1e-6],
      },
      { seed: 20 + k, reference: cpu },
    );
    assert.ok(maxAbs(report.expected[0]) > 0, `${describe(c)}: the reference gradient is all zeros`);
    model.dispose();
  }
});

/** Runs `steps` inner steps fused ('auto') and op by op ('generic') from the same η, comparing g at every
 *  step (at the op-by-op η) and η after each; returns the final η of the op-by-op path (host copy). */
async function compareTrajectories(
  backend: Backend,
  c: Case,
  seed: number,
  norm: 'linf' | 'l2',
  steps: number,
): Promise<Float32Array> {
  setBackend(backend);
  const model = new FirstLayerOnly(c, seed);
  const { x, eta, p } = inputs(c, seed + 1);
  const [x0, eta0] = [await x.data(), await eta.data()];
  let fused = tensor(eta0, [...eta.shape]);
  let generic = eta;
  const what = `${backend.name} ${norm} ${describe(c)}`;
  // The clip mask is active: x + η starts outside [0, 1] at some pixels.
  assert.ok(
    x0.some((v, i) => v + eta0[i] < 0 || v + eta0[i] > 1),
    `${what}: x + η never leaves [0, 1]`,
  );
  const sigma = norm === 'linf' ? SIGMA : 0.5;
  const eps = norm === 'linf' ? EPS : 1.5;
  for (let s = 0; s < steps; s++) {
    const [gFused, gGeneric] = tidy(() => [
      convHamiltonianGradient(x, generic, p, model.firstLayerConv()),
      hamiltonianGradientWrtEta(model, x, generic, p),
    ]);
    const expected = await gGeneric.data();
    const scale = maxAbs(expected);
    assert.ok(scale > 0, `${what}: the gradient is not all zeros`);
    assertClose(await gFused.data(), expected, `${what}: g at step ${s}`, 1e-4, 1e-6 * scale);
    // The test's design: no gradient so close to 0 that float32 rounding could flip its sign.
    const tiny = Array.from(expected).filter((v) => v !== 0 && Math.abs(v) < 1e-5 * scale).length;
    assert.is(tiny, 0, `${what}: ${tiny} gradients within 1e-5·max of 0 at step ${s} (pick other inputs)`);
    const nextFused = keep(tidy(() => innerStep(model, x, fused, p, { sigma, eps, norm })));
    const nextGeneric = keep(tidy(() => innerStep(model, x, generic, p, { sigma, eps, norm, innerStep: 'generic' })));
    for (const t of [gFused, gGeneric, fused, generic]) t.dispose();
    [fused, generic] = [nextFused, nextGeneric];
    assertClose(await fused.data(), await generic.data(), `${what}: η after step ${s + 1}`, 1e-5, 1e-6);
  }
  const out = (await generic.data()) as Float32Array;
  for (const t of [x, p, fused, generic]) t.dispose();
  model.dispose();
  return out;
}

// Every case on the CPU; on WebGPU (where each new shape compiles the op-by-op path's kernels, slow
// on lavapipe) the ReLU case at stride 1 and the bare conv at stride 2 under L∞, the ReLU case under L2.
const ON_WEBGPU = { linf: [0, 1], l2: [0] };
for (const norm of ['linf', 'l2'] as const) {
  test(`${norm}: four fused inner steps equal four op-by-op steps (g and η), on WebGPU and the CPU`, async () => {
    for (const backend of [await webgpu(), new CpuBackend()]) {
      for (const [k, c] of CASES.entries()) {
        if (backend.name === 'webgpu' && !ON_WEBGPU[norm].includes(k)) continue;
        const eta = await compareTrajectories(backend, c, 30 + k, norm, 4);
        if (norm !== 'linf') continue;
        // The ε-ball projection was active: some |η| at ε.
        assert.ok(
          eta.some((v) => Math.abs(Math.abs(v) - EPS) < 1e-7),
          `${describe(c)}: no η reached ε`,
        );
      }
    }
  });
}

test('dispatches per inner step: two with a ReLU, one for a bare conv (L∞), against the op-by-op count', async () => {
  const gpu = await webgpu();
  setBackend(gpu);
  for (const [k, expected] of [
    [0, 2],
    [1, 1],
  ] as const) {
    const c = CASES[k];
    const model = new FirstLayerOnly(c, 40 + k);
    const { x, eta, p } = inputs(c, 41 + k);
    const count = (path: 'auto' | 'generic') => {
      const before = gpu.gpu.counters.dispatches;
      tidy(() => innerStep(model, x, eta, p, { sigma: SIGMA, eps: EPS, innerStep: path }));
      return gpu.gpu.counters.dispatches - before;
    };
    const generic = count('generic');
    assert.is(count('auto'), expected, `${describe(c)}: dispatches of one fused inner step (op by op: ${generic})`);
    assert.ok(generic > 3 * expected, `${describe(c)}: the op-by-op step takes ${generic} dispatches`);
    await gpu.sync();
    for (const t of [x, eta, p]) t.dispose();
    model.dispose();
  }
});

/** The cases whose corrected g alone (not only the step) the WebGPU check compiles: one word of bits, and two. */
const GRADIENT_ON_GPU = [0, 8];

test('from a base: the ReLU bits, Wᵀ(p ⊙ m) and the corrected step match the CPU reference on odd shapes', async () => {
  const gpu = await webgpu();
  const ref = new CpuBackend();
  // Pixels that no ReLU bit at η reaches, inside the clip (where g must be exactly 0, not g₀'s leftover).
  let unreached = 0;
  for (const [k, c] of CASES.entries()) {
    if (!c.relu) continue;
    const model = new FirstLayerOnly(c, 100 + k);
    const conv = model.firstLayerConv();
    const { x, eta, p, pShape } = inputs(c, 101 + k);
    const [hx, heta, hp, hw] = await Promise.all([x, eta, p, conv.weight].map((t) => t.data()));
    // With a bias, shifted down so that most ReLU bits are off: pixels no bit reaches must get exactly 0.
    const hb = conv.bias ? Float32Array.from(await conv.bias.data(), (v) => v - 0.4) : null;
    const out = pShape[2];
    const s: Conv2dShape = {
      batch: BATCH,
      inChannels: c.inChannels,
      inHeight: c.size,
      inWidth: c.size,
      outChannels: c.outChannels,
      outHeight: out,
      outWidth: out,
      kernelHeight: c.kernel,
      kernelWidth: c.kernel,
      stride: c.stride,
      padding: c.padding,
    };
    const words = Math.ceil(c.outChannels / 32);
    const rng = new Random(102 + k);
    // An arbitrary base: random bits (about half of them differ from the step's own) and a random g₀.
    const bits0 = Int32Array.from({ length: BATCH * words * out * out }, () => (rng.next() * 2 ** 32) | 0);
    const g0 = Float32Array.from({ length: hx.length }, () => rng.uniform(-1, 1));
    const results: Record<string, Float32Array | Int32Array>[] = [];
    for (const be of [gpu, ref]) {
      const up = (a: Float32Array | Int32Array) => be.upload(a, a instanceof Int32Array ? 'int32' : 'float32');
      const [X, E, Pp, Wt, B0, G0] = [
        hx as Float32Array,
        heta as Float32Array,
        hp as Float32Array,
        hw as Float32Array,
        bits0,
        g0,
      ].map(up);
      const Bias = hb ? up(hb as Float32Array) : null;
      const bits = be.convReluBits(X, E, Wt, Bias, s);
      const masked = be.convMaskedInputGradient(Pp, B0, Wt, s);
      const from = (output: 'gradient' | 'linfStep') =>
        be.convAscentFrom(X, E, Pp, Wt, Bias, B0, G0, s, { output, sigma: SIGMA, eps: EPS });
      results.push({
        bits: (await be.read(bits, 'int32', bits0.length)) as Int32Array,
        masked: (await be.read(masked, 'float32', hx.length)) as Float32Array,
        // WebGPU compiles g alone (the L2 path) for two cases: its tile code is the step's, and each
        // shape's correction kernel takes LLVM seconds on an empty cache (docs/notes/first-layer.md;
        // the step's end is shared with the fused kernel, tested above for both outputs).
        ...(be === ref || GRADIENT_ON_GPU.includes(k)
          ? { gradient: (await be.read(from('gradient'), 'float32', hx.length)) as Float32Array }
          : {}),
        step: (await be.read(from('linfStep'), 'float32', hx.length)) as Float32Array,
      });
    }
    const [ours, want] = results;
    const what = describe(c);
    assert.equal(Array.from(ours.bits), Array.from(want.bits), `${what}: ReLU bits`);
    assert.ok(
      Array.from(want.bits).some((v) => v !== 0),
      `${what}: some bits set`,
    );
    unreached += Array.from(want.gradient).filter(
      (v, i) => v === 0 && g0[i] !== 0 && heta[i] + hx[i] >= 0 && heta[i] + hx[i] <= 1,
    ).length;
    assertClose(ours.masked, want.masked, `${what}: Wᵀ(p ⊙ m)`, 1e-4, 1e-6 * maxAbs(want.masked));
    if (ours.gradient)
      assertClose(ours.gradient, want.gradient, `${what}: corrected g`, 1e-4, 1e-6 * maxAbs(want.gradient));
    assertClose(ours.step, want.step, `${what}: L∞ step from the base`, 1e-5, 1e-6);
    for (const t of [x, eta, p]) t.dispose();
    model.dispose();
  }
  assert.ok(unreached > 0, 'some pixel that no ReLU bit reaches (the shifted biases should leave some)');
});

test('from the base at the same η and p, the step equals the fused step (CPU reference)', async () => {
  setBackend(new CpuBackend());
  for (const [k, c] of CASES.entries()) {
    if (!c.relu) continue;
    const model = new FirstLayerOnly(c, 110 + k);
    const conv = model.firstLayerConv();
    const { x, eta, p } = inputs(c, 111 + k);
    const [direct, fromBase] = tidy(() => {
      const base = convAscentBase(x, eta, p, conv);
      return [convHamiltonianGradient(x, eta, p, conv), convHamiltonianGradientFrom(x, eta, p, conv, base)];
    });
    const want = await direct.data();
    assertClose(await fromBase.data(), want, `${describe(c)}: g from the base`, 1e-6, 1e-7 * maxAbs(want));
    for (const t of [direct, fromBase, x, eta, p]) t.dispose();
    model.dispose();
  }
});

const LINEAR = CASES.flatMap((c, k) => (c.relu ? [] : [k]));

test("conv2dInputGradient is the tape's VJP of conv2d w.r.t. its input, and checks dy's shape", async () => {
  for (const backend of [await webgpu(), new CpuBackend()]) {
    setBackend(backend);
    // Every linear case on the CPU; on WebGPU (a new shape compiles its conv kernels) the first.
    for (const k of backend.name === 'webgpu' ? LINEAR.slice(0, 1) : LINEAR) {
      const c = CASES[k];
      const model = new FirstLayerOnly(c, 60 + k);
      const conv = model.firstLayerConv();
      const { x, p } = inputs(c, 61 + k);
      const [direct, taped] = tidy(() => {
        const tape = new Tape();
        const z = tape.record(() => conv2d(x, conv.weight, conv.bias, { stride: c.stride, padding: c.padding }));
        return [
          conv2dInputGradient(p, conv.weight, x.shape, { stride: c.stride, padding: c.padding }),
          tape.gradient(z, [x], p)[0],
        ];
      });
      const want = await taped.data();
      assert.ok(maxAbs(want) > 0, `${describe(c)}: the VJP is not all zeros`);
      assertClose(await direct.data(), want, `${backend.name} ${describe(c)}: Wᵀp`, 1e-6, 1e-7 * maxAbs(want));
      assert.throws(
        () => conv2dInputGradient(x, conv.weight, x.shape, { stride: c.stride, padding: c.padding }),
        /conv2dInputGradient: dy \[3, \d+, \d+, \d+\] must have the conv's output shape \[3, \d+, /,
      );
      for (const t of [direct, taped, x, p]) t.dispose();
      model.dispose();
    }
  }
});

test('a first layer without ReLU is linear: its inner steps run against Wᵀp, and ReLU layers and the generic path do not', async () => {
  setBackend(new CpuBackend());
  for (const [k, c] of CASES.entries()) {
    const model = new FirstLayerOnly(c, 70 + k);
    assert.is(linearFirstLayer(model, {}) !== null, !c.relu, `${describe(c)}: linear`);
    assert.is(
      linearFirstLayer(model, { innerStep: 'generic' }),
      null,
      `${describe(c)}: the generic path recomputes every step`,
    );
    if (c.relu)
      assert.throws(
        () =>
          linearFirstLayerCotangent(
            model.firstLayerConv(),
            ...(() => {
              const { x, p } = inputs(c, 1);
              return [x, p] as const;
            })(),
          ),
        /has a ReLU/,
      );
    model.dispose();
  }
});

/** m full passes (each p drawn afresh) and n inner steps through firstLayerAdversary, on `path`; the final η (host copy). */
async function adversaryRun(
  backend: Backend,
  c: Case,
  k: number,
  norm: 'linf' | 'l2',
  path: 'auto' | 'generic',
): Promise<Float32Array> {
  setBackend(backend);
  const model = new FirstLayerOnly(c, 80 + k);
  const { x, eta, p, pShape } = inputs(c, 81 + k);
  p.dispose();
  const linf = norm === 'linf';
  const o = { m: 2, n: 3, eps: linf ? EPS : 1.5, sigma: linf ? SIGMA : 0.5, norm, innerStep: path } as const;
  const rng = new Random(82 + k);
  const out = firstLayerAdversary(model, x, eta, o, () => keep(randn(pShape, rng)));
  const values = (await out.data()) as Float32Array;
  for (const t of [x, out]) t.dispose();
  model.dispose();
  return values;
}

for (const norm of ['linf', 'l2'] as const) {
  test(`${norm}: YOPO's loop on a conv first layer (linear: Wᵀp once a pass; ReLU: the pass's base, corrected each step) equals the op-by-op loop, on WebGPU and the CPU`, async () => {
    for (const backend of [await webgpu(), new CpuBackend()]) {
      for (const k of CASES.keys()) {
        // Every case on the CPU; on WebGPU the first linear and the first ReLU case.
        if (backend.name === 'webgpu' && k !== LINEAR[0] && k !== 0) continue;
        const c = CASES[k];
        const [linear, generic] = [
          await adversaryRun(backend, c, k, norm, 'auto'),
          await adversaryRun(backend, c, k, norm, 'generic'),
        ];
        assert.ok(maxAbs(generic) > 0, `${describe(c)}: η moved`);
        assertClose(linear, generic, `${backend.name} ${norm} ${describe(c)}: η after 2 × 3 inner steps`, 1e-5, 1e-6);
      }
    }
  });
}

test('with a linear first layer, each L∞ inner step is one dispatch after Wᵀp, and the loop leaves no buffer behind', async () => {
  const gpu = await webgpu();
  setBackend(gpu);
  const k = LINEAR[0];
  const c = CASES[k];
  const model = new FirstLayerOnly(c, 90);
  const { x, eta, p, pShape } = inputs(c, 91);
  const counted = (fn: () => void) => {
    const before = gpu.gpu.counters.dispatches;
    fn();
    return gpu.gpu.counters.dispatches - before;
  };
  const cotangent = counted(() => tidy(() => linearFirstLayerCotangent(model.firstLayerConv(), x, p)));
  const n = 4;
  let out: Tensor | null = null;
  const loop = counted(
    () =>
      (out = firstLayerAdversary(model, x, eta, { m: 1, n, eps: EPS, sigma: SIGMA }, () =>
        keep(tensor(new Float32Array(pShape.reduce((a, b) => a * b, 1)).fill(0.5), pShape)),
      )),
  );
  assert.is(loop, cotangent + n, `${describe(c)}: dispatches of one pass's Wᵀp (${cotangent}) and ${n} inner steps`);
  await gpu.sync();
  // Two passes more: Wᵀp and the identity layer's weight are freed, and only the returned η stays.
  const before = gpu.memory().liveBuffers;
  const again = firstLayerAdversary(model, x, out!, { m: 2, n: 3, eps: EPS, sigma: SIGMA }, () =>
    keep(randn(pShape, new Random(92))),
  );
  await gpu.sync();
  assert.is(gpu.memory().liveBuffers, before, 'live buffers after two more passes (η handed in, η returned)');
  for (const t of [x, p, again]) t.dispose();
  model.dispose();
});

/** SmallCNN with a random fc3 (SmallCNN zero-initialises it, which makes p, and every step, 0). */
function smallCnn(seed: number): SmallCNN {
  const net = new SmallCNN(new Random(seed), { dropout: 0 });
  const fc3 = net.stateDict().get('classifier.fc3.weight')!;
  fc3.assign(randn(fc3.shape, new Random(seed + 1000), 0, 0.1));
  return net;
}

test('a YOPO-5-3 step on SmallCNN gives the same weights fused and op by op (WebGPU)', async () => {
  setBackend(await webgpu());
  // MNIST-like pixels: many exact 0s and 1s, where the clip mask matters.
  const rng = new Random(50);
  const x = tensor(
    Float32Array.from({ length: 4 * 784 }, () => (rng.next() < 0.6 ? 0 : rng.next() < 0.5 ? 1 : rng.next())),
    [4, 1, 28, 28],
  );
  const y = tensor(new Int32Array([1, 2, 3, 4]));
  const hyper = { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 };
  // The change each path makes to every parameter (compared to the update's size, not the weights').
  const updates: Float32Array[][] = [];
  let names: string[] = [];
  for (const path of ['auto', 'generic'] as const) {
    const model = smallCnn(51);
    names = model.namedParameters().map(([n]) => n);
    const before = await Promise.all(model.parameters().map((t) => t.data()));
    const method = yopo({ m: 5, n: 3, eps: 0.3, sigma: 0.1, innerStep: path });
    method.init(model, hyper);
    const out = method.step(model, x, y, new Random(52));
    const after = await Promise.all(model.parameters().map((t) => t.data()));
    updates.push(after.map((w, i) => Float32Array.from(w, (v, j) => v - before[i][j])));
    for (const t of [out.loss, out.logits, out.adversary!]) t.dispose();
    method.dispose();
    model.dispose();
  }
  updates[1].forEach((u, i) => assert.ok(maxAbs(u) > 0, `${names[i]}: YOPO-5-3 changed it`));
  updates[0].forEach((u, i) =>
    assertClose(
      u,
      updates[1][i],
      `${names[i]}'s update by YOPO-5-3, fused vs op by op`,
      1e-3,
      1e-4 * maxAbs(updates[1][i]),
    ),
  );
  x.dispose();
  y.dispose();
});

test.run();
