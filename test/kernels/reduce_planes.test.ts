// Reductions over runs of contiguous elements (kernels/reduce_planes.ts): the conv bias gradient
// sum(dz, [0, 2, 3]), sums of everything, and any reduction whose kept axes are adjacent. On odd sizes,
// planes of a multiple of 4 (vec4 loads) or not, one to three passes, against the float64 CPU
// reference; under a lowered binding limit (the chunked path); and as the bias gradient of conv2d.
//
// Float sums are compared with |gpu − cpu64| ≤ 1e-5 · Σ|x| over each output's terms, the scale that
// float32 rounding errors grow with (a cancelling sum gets no tolerance relative to its own small
// value). The sums run in float32 in another order than the CPU's: chains of at most 64 adds per
// segment, 2 folding a vec4, then up to 64 and 512 in later passes, so the worst case is about
// 650 · 6e-8 ≈ 4e-5 · Σ|x| and the expected error its square root, about 1.5e-6 · Σ|x| (measured:
// under 1e-8). What the bound could miss (a term dropped, or read from the wrong plane) the exact
// checks catch: int32 sums of random integers, sums of ones, and max and min, compared bit for bit.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Backend,
  type DType,
  Random,
  Tape,
  type Tensor,
  abs,
  conv2d,
  max,
  min,
  mul,
  sum,
} from '../../engine/index.js';
import { planeLayout, planePasses, planesShader } from '../../kernels/reduce_planes.js';
import type { WebGPUBackend } from '../../kernels/index.js';
import { cpu64, on, put, randomArray, webgpu } from '../helpers.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Program names the GPU backend compiles or reuses while fn runs, and its dispatch count. */
async function watch(
  gpu: WebGPUBackend,
  fn: () => Promise<void>,
): Promise<{ programs: Set<string>; dispatches: number }> {
  const programs = new Set<string>();
  const program = gpu.gpu.program;
  gpu.gpu.program = (name, key, source) => {
    programs.add(name);
    return program.call(gpu.gpu, name, key, source);
  };
  const before = gpu.gpu.counters.dispatches;
  try {
    await fn();
  } finally {
    gpu.gpu.program = program;
  }
  return { programs, dispatches: gpu.gpu.counters.dispatches - before };
}

type Reducer = typeof sum;
const REDUCERS: [string, Reducer][] = [
  ['sum', sum],
  ['max', max],
  ['min', min],
];

/** `f(x, axes)` of the same values on the GPU and on the float64 CPU reference, with Σ|x| per output. */
async function reduceBoth(
  gpu: Backend,
  f: Reducer,
  values: Float64Array | Int32Array,
  shape: number[],
  axes: number[],
): Promise<{ got: ArrayLike<number>; want: ArrayLike<number>; scale: ArrayLike<number> }> {
  const run = async (b: Backend, fn: (x: Tensor) => Tensor) => {
    const x = put(b, values instanceof Int32Array ? values : Float32Array.from(values), shape);
    const y = on(b, () => fn(x));
    const data = await y.data();
    x.dispose();
    y.dispose();
    return data;
  };
  const dtype: DType = values instanceof Int32Array ? 'int32' : 'float32';
  return {
    got: await run(gpu, (x) => f(x, axes)),
    want: await run(cpu64, (x) => f(x, axes)),
    scale: dtype === 'int32' ? [] : await run(cpu64, (x) => sum(abs(x), axes)),
  };
}

function assertWithin(what: string, got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const tol = scale.length ? 1e-5 * scale[i] : 0;
    if (!(Math.abs(got[i] - want[i]) <= tol))
      assert.unreachable(`${what}: output ${i} is ${got[i]}, want ${want[i]} (tolerance ${tol})`);
  }
}

test('planeLayout: the kept axes as one block between the reduced ones, or null', () => {
  assert.equal(planeLayout([128, 32, 26, 26], [0, 2, 3]), { outer: 128, kept: 32, inner: 676 });
  assert.equal(planeLayout([5, 6, 7], [0, 1, 2]), { outer: 1, kept: 1, inner: 210 });
  assert.equal(planeLayout([5, 6, 7], [1, 2]), { outer: 1, kept: 5, inner: 42 });
  assert.equal(planeLayout([5, 6, 7, 3], [0, 3]), { outer: 5, kept: 42, inner: 3 });
  assert.equal(planeLayout([5, 6, 7], [0, 1]), { outer: 30, kept: 7, inner: 1 });
  assert.is(planeLayout([5, 6, 7], [1]), null);
  assert.is(planeLayout([5, 6, 7, 3], [0, 2]), null);
});

test('planePasses: segments while an output has more than one short run, then one invocation an output', () => {
  // The bias gradient of SmallCNN's first conv: 4096 planes of 169 vec4s in 3 segments, then 32 runs
  // of 384 partials, read one at a time (their count follows the batch; the pipeline must not).
  const conv = planePasses({ outer: 128, kept: 32, inner: 676 });
  assert.equal(
    conv.map((p) => [p.width, p.inner, p.segments, p.items]),
    [
      [4, 169, 3, 12288],
      [1, 384, 1, 32],
    ],
  );
  // A sum of 160000: 625 partials of 64 vec4s, then 10 of 64 values, then one.
  assert.equal(
    planePasses({ outer: 1, kept: 1, inner: 160000 }).map((p) => [p.width, p.inner, p.segments, p.items]),
    [
      [4, 40000, 625, 625],
      [1, 625, 10, 10],
      [1, 10, 1, 1],
    ],
  );
  // Every pass but the last leaves each output fewer terms, so the list ends for any size.
  for (const layout of [
    { outer: 1000, kept: 3, inner: 2 },
    { outer: 3, kept: 1, inner: 1 << 26 },
    { outer: 130, kept: 3, inner: 143 },
  ]) {
    const passes = planePasses(layout);
    const last = passes[passes.length - 1];
    assert.ok(passes.length <= 4 && last.items === layout.kept && last.segments === 1, JSON.stringify(layout));
  }
});

test('planesShader: one WGSL per op, dtype and load width, whatever the sizes (they come in the uniform)', () => {
  const shader = planesShader('sum', 'f32', 4);
  assert.match(shader, 'array<vec4<f32>>');
  assert.not.match(shader, /\d{3}u/, 'no size in the WGSL');
  assert.match(planesShader('max', 'i32', 1), 'max(acc0, x[start + k])');
});

// [shape, axes, passes through reduce_planes (0: another reduce kernel)]
const CASES: [number[], number[], number][] = [
  [[3, 5, 7, 9], [0, 2, 3], 0], // 189 terms an output: the short path
  [[1, 1, 1, 1], [0, 2, 3], 0],
  [[2, 70, 1, 1], [0, 2, 3], 0], // planes of one element
  [[130, 3, 13, 11], [0, 2, 3], 2], // planes of 143: single loads
  [[3, 5, 17, 9], [0, 2, 3], 2],
  [[21, 6, 8, 10], [0, 2, 3], 2], // planes of 80: vec4 loads
  [[130, 3, 13, 11], [0, 1, 2, 3], 3],
  [[2, 4, 100, 200], [0, 1, 2, 3], 3], // 160000 terms in vec4s: three passes
  [[7, 3, 13, 11], [1, 2, 3], 1], // the kept block first: one run an output
  [[9, 6, 7, 31], [0, 3], 2], // a kept block of two axes
];

test('sum, max, min over runs of contiguous elements match the float64 CPU reference on odd sizes', async () => {
  const gpu = await webgpu();
  const rng = new Random(11);
  for (const [shape, axes, passes] of CASES) {
    const values = randomArray(rng, size(shape));
    for (const [op, f] of REDUCERS) {
      const what = `${op} [${shape}] axes [${axes}]`;
      let r: Awaited<ReturnType<typeof reduceBoth>> | undefined;
      const seen = await watch(gpu, async () => {
        r = await reduceBoth(gpu, f, values, shape, axes);
      });
      if (!r) throw new Error('unreachable');
      assertWithin(what, r.got, r.want, op === 'sum' ? r.scale : []);
      assert.is(seen.programs.has(`reduce_${op}_planes`), passes > 0, `${what}: through reduce_planes`);
      if (passes > 0) assert.is(seen.dispatches, passes, `${what}: passes`);
    }
  }
});

test('int32 sums of random integers and float sums of ones are exact', async () => {
  const gpu = await webgpu();
  const rng = new Random(12);
  for (const [shape, axes] of CASES) {
    const n = size(shape);
    const ints = Int32Array.from({ length: n }, () => rng.int(2001) - 1000);
    const r = await reduceBoth(gpu, sum, ints, shape, axes);
    assertWithin(`int32 sum [${shape}] axes [${axes}]`, r.got, r.want, []);
    const ones = await reduceBoth(gpu, sum, new Float64Array(n).fill(1), shape, axes);
    assertWithin(`sum of ones [${shape}] axes [${axes}]`, ones.got, ones.want, []);
  }
});

test('in chunks under a 4 KiB binding limit: aligned windows, scratch copies, the kept block first', async () => {
  const gpu = await webgpu();
  const rng = new Random(13);
  gpu.gpu.setBindingLimitForTesting(4096);
  try {
    // Rows of 1024 bytes (windows at multiples of 256), of 1716 (scratch copies), and a sum of everything.
    for (const [shape, axes] of [
      [
        [40, 4, 8, 8],
        [0, 2, 3],
      ],
      [
        [40, 3, 13, 11],
        [0, 2, 3],
      ],
      [
        [40, 3, 13, 11],
        [0, 1, 2, 3],
      ],
      [
        [40, 3, 13, 11],
        [1, 2, 3],
      ],
    ]) {
      assert.ok(size(shape) * 4 > 4096, `[${shape}] is over the limit`);
      const values = randomArray(rng, size(shape));
      for (const [op, f] of REDUCERS) {
        const r = await reduceBoth(gpu, f, values, shape, axes);
        assertWithin(`${op} [${shape}] axes [${axes}] in chunks`, r.got, r.want, op === 'sum' ? r.scale : []);
      }
    }
  } finally {
    gpu.gpu.setBindingLimitForTesting(null);
  }
});

test("conv2d's bias gradient on the GPU: d/db Σ r · conv2d(x, w, b) is r summed over images, rows and columns", async () => {
  const gpu = await webgpu();
  const rng = new Random(14);
  // dy is [6, 5, 15, 11]: 990 terms a channel, through reduce_planes.
  const [xShape, wShape, yShape] = [
    [6, 2, 17, 13],
    [5, 2, 3, 3],
    [6, 5, 15, 11],
  ];
  const r = randomArray(rng, size(yShape));
  const x = put(gpu, Float32Array.from(randomArray(rng, size(xShape))), xShape);
  const w = put(gpu, Float32Array.from(randomArray(rng, size(wShape))), wShape);
  const b = put(gpu, Float32Array.from(randomArray(rng, 5)), [5]);
  const rt = put(gpu, Float32Array.from(r), yShape);
  const tape = new Tape();
  const loss = on(gpu, () => tape.record(() => sum(mul(conv2d(x, w, b), rt))));
  const [db] = on(gpu, () => tape.gradient(loss, [b]));
  const got = await db.data();
  // The sums in float64 on the host, and Σ|r| for the tolerance.
  const plane = 15 * 11;
  const want = new Float64Array(5);
  const scale = new Float64Array(5);
  r.forEach((v, i) => {
    const c = Math.floor(i / plane) % 5;
    want[c] += Math.fround(v);
    scale[c] += Math.abs(v);
  });
  assertWithin('bias gradient', got, want, scale);
  for (const t of [x, w, b, rt, loss, db]) t.dispose();
});

test.run();
