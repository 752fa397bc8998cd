// The conv kernels under each tile variant (kernels/conv_plan.ts), against the CPU reference on odd
// shapes (rows not a multiple of the tile, a stride-2 input gradient, bias, the fused ReLU): the row-tile
// kernel without subgroups (what a device without them runs, and every device for small convs), with the
// device's subgroup tiles (which the defaults give only convs of SUBGROUP_MIN_FLOPS or more, so the small
// shapes of test/kernels/kernels_conv.test.ts mostly run the plain ones) and with the large 16-row ones, which
// must all give the same bits; the weight gradient with and without subgroups, and stepping several
// output columns at once; and the tuner choosing between the variants at first use.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Conv2dShape } from '../../engine/index.js';
import * as cpuConv from '../../engine/cpu/conv2d.js';
import type { GpuBuffer } from '../../kernels/webgpu/gpu.js';
import * as conv from '../../kernels/conv2d.js';
import {
  SUBGROUP_MIN_FLOPS,
  backwardFilterConfigOf,
  backwardFilterPlan,
  convFlops,
  convVariants,
  defaultConvVariant,
  rowTileConfigOf,
} from '../../kernels/conv_plan.js';
import { Tuner, setTuner } from '../../kernels/tune.js';
import { webgpu } from '../helpers.js';

const SHAPES: Conv2dShape[] = [
  {
    batch: 2,
    inChannels: 3,
    inHeight: 13,
    inWidth: 11,
    outChannels: 12,
    outHeight: 13,
    outWidth: 11,
    kernelHeight: 3,
    kernelWidth: 3,
    stride: 1,
    padding: 1,
  },
  {
    batch: 1,
    inChannels: 4,
    inHeight: 9,
    inWidth: 12,
    outChannels: 20,
    outHeight: 4,
    outWidth: 6,
    kernelHeight: 3,
    kernelWidth: 2,
    stride: 2,
    padding: 0,
  },
];

function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin((i + 1) * 12.9898 + seed) * 0.5;
  return a;
}

function close(got: Float32Array, want: Float32Array, what: string): void {
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  assert.ok(scale > 0, `${what}: reference is all zeros`);
  for (let i = 0; i < want.length; i++)
    assert.ok(Math.abs(got[i] - want[i]) <= 1e-4 * scale, `${what}: element ${i}: ${got[i]} vs ${want[i]}`);
}

test('row-tile configurations and weight-gradient column steps match the CPU reference', async () => {
  const be = await webgpu();
  const gpu = be.gpu;
  if (gpu.subgroupSize === 0)
    console.log('  this adapter has no fixed subgroup size: the subgroup row tiles are not tested here');
  for (const [k, s] of SHAPES.entries()) {
    const sizes = {
      x: s.batch * s.inChannels * s.inHeight * s.inWidth,
      w: s.outChannels * s.inChannels * s.kernelHeight * s.kernelWidth,
      y: s.batch * s.outChannels * s.outHeight * s.outWidth,
    };
    const [x, w, dy, bias] = [
      random(sizes.x, k),
      random(sizes.w, k + 10),
      random(sizes.y, k + 20),
      random(s.outChannels, k + 30),
    ];
    const want = { y: new Float32Array(sizes.y), dx: new Float32Array(sizes.x), dw: new Float32Array(sizes.w) };
    cpuConv.conv2d(x, w, bias, s, want.y);
    const wantRelu = want.y.map((v) => Math.max(v, 0));
    cpuConv.conv2dBackwardInput(dy, w, s, want.dx);
    cpuConv.conv2dBackwardFilter(x, dy, s, want.dw);
    const [gx, gw, gdy, gb] = [x, w, dy, bias].map((a) => be.upload(a, 'float32') as GpuBuffer);
    const read = async (out: GpuBuffer, n: number) => {
      const values = (await be.read(out, 'float32', n)) as Float32Array;
      gpu.release(out);
      return values;
    };
    // Every variant the device runs (the subgroup ones where it has subgroups), each compiling its own
    // kernels; they sum each output in the same order, so they agree to the bit.
    const sg = gpu.subgroupSize;
    const first: Record<string, Float32Array> = {};
    const same = (got: Float32Array, name: string, what: string) => {
      first[name] ??= got;
      for (let i = 0; i < got.length; i++)
        assert.ok(
          Object.is(got[i], first[name][i]),
          `${what}: element ${i}: ${got[i]}, not the first variant's ${first[name][i]}`,
        );
    };
    for (const variant of convVariants(sg)) {
      const config = rowTileConfigOf(variant, sg);
      const what = `${JSON.stringify(s)} ${variant} ${JSON.stringify(config)}`;
      const y = await read(conv.conv2d(gpu, gx, gw, gb, s, config), sizes.y);
      close(y, want.y, `forward ${what}`);
      same(y, 'y', `forward ${what}`);
      const relu = await read(conv.conv2d(gpu, gx, gw, gb, s, config, true), sizes.y);
      close(relu, wantRelu, `forward + ReLU ${what}`);
      same(relu, 'relu', `forward + ReLU ${what}`);
      const dx = await read(conv.conv2dBackwardInput(gpu, gdy, gw, s, config), sizes.x);
      close(dx, want.dx, `input gradient ${what}`);
      same(dx, 'dx', `input gradient ${what}`);
    }
    if (k === 0)
      close(
        await read(conv.conv2dBackwardFilter(gpu, gx, gdy, s, { tmMax: 4, twMax: 4, subgroup: 0 }).weight, sizes.w),
        want.dw,
        `weight gradient, 4 columns a step ${JSON.stringify(s)}`,
      );
    for (const b of [gx, gw, gdy, gb]) gpu.release(b);
  }
});

// Shapes with 8 or more in channels, where the weight gradient shares dy through subgroups: a step of 8
// columns plus a remainder of 3 (stride 1, padding 1), one short step of 6 with 35 out channels, and
// one short step of 6 (stride 2, a 3x2 kernel).
const FILTER_SHAPES: Conv2dShape[] = [
  {
    batch: 3,
    inChannels: 9,
    inHeight: 13,
    inWidth: 11,
    outChannels: 11,
    outHeight: 13,
    outWidth: 11,
    kernelHeight: 3,
    kernelWidth: 3,
    stride: 1,
    padding: 1,
  },
  // 35 out channels: the 8-, 16- and 32-row tiles each leave a part tile.
  {
    batch: 2,
    inChannels: 8,
    inHeight: 7,
    inWidth: 6,
    outChannels: 35,
    outHeight: 7,
    outWidth: 6,
    kernelHeight: 3,
    kernelWidth: 3,
    stride: 1,
    padding: 1,
  },
  {
    batch: 2,
    inChannels: 16,
    inHeight: 9,
    inWidth: 12,
    outChannels: 5,
    outHeight: 4,
    outWidth: 6,
    kernelHeight: 3,
    kernelWidth: 2,
    stride: 2,
    padding: 0,
  },
  // One image: one batch chunk, so the kernel writes the gradients without the summing pass.
  {
    batch: 1,
    inChannels: 8,
    inHeight: 7,
    inWidth: 9,
    outChannels: 13,
    outHeight: 5,
    outWidth: 7,
    kernelHeight: 3,
    kernelWidth: 3,
    stride: 1,
    padding: 0,
  },
];

test('the weight gradient (and the bias gradient of masked dy) with and without subgroups matches the CPU reference', async () => {
  const chunkForms = new Set<string>();
  const be = await webgpu();
  const gpu = be.gpu;
  const configs = convVariants(gpu.subgroupSize, 'filter').map((v) => backwardFilterConfigOf(v, gpu.subgroupSize));
  if (gpu.subgroupSize === 0)
    console.log('  this adapter has no fixed subgroup size: the subgroup weight gradient is not tested here');
  for (const [k, s] of FILTER_SHAPES.entries()) {
    const nx = s.batch * s.inChannels * s.inHeight * s.inWidth;
    const ny = s.batch * s.outChannels * s.outHeight * s.outWidth;
    const nw = s.outChannels * s.inChannels * s.kernelHeight * s.kernelWidth;
    const [x, dy, mask] = [random(nx, k + 40), random(ny, k + 50), random(ny, k + 60)];
    const want = new Float32Array(nw);
    cpuConv.conv2dBackwardFilter(x, dy, s, want);
    // With the bias gradient and a ReLU mask (about half of it positive): the gradients of dy masked.
    const masked = dy.map((v, i) => (mask[i] > 0 ? v : 0));
    const wantMasked = { weight: new Float32Array(nw), bias: new Float32Array(s.outChannels) };
    cpuConv.conv2dBackwardFilter(x, masked, s, wantMasked.weight);
    cpuConv.conv2dBackwardBias(masked, s, wantMasked.bias);
    const [gx, gdy, gmask] = [x, dy, mask].map((a) => be.upload(a, 'float32') as GpuBuffer);
    for (const config of configs) {
      const what = `${JSON.stringify(s)} ${JSON.stringify(config)}`;
      chunkForms.add(backwardFilterPlan(s, config, gpu.bindingLimit).chunks > 1 ? 'split' : 'one');
      const plain = conv.conv2dBackwardFilter(gpu, gx, gdy, s, config);
      assert.is(plain.bias, null);
      close((await be.read(plain.weight, 'float32', nw)) as Float32Array, want, `weight gradient ${what}`);
      gpu.release(plain.weight);
      const both = conv.conv2dBackwardFilter(gpu, gx, gdy, s, config, { bias: true, reluMask: gmask });
      close(
        (await be.read(both.weight, 'float32', nw)) as Float32Array,
        wantMasked.weight,
        `masked weight gradient ${what}`,
      );
      close(
        (await be.read(both.bias!, 'float32', s.outChannels)) as Float32Array,
        wantMasked.bias,
        `bias gradient ${what}`,
      );
      gpu.release(both.weight);
      gpu.release(both.bias!);
    }
    for (const b of [gx, gdy, gmask]) gpu.release(b);
  }
  assert.equal([...chunkForms].sort(), ['one', 'split'], 'the shapes cover one batch chunk and several');
});

test('conv tuning at first use: the default runs, the next readback times every variant, later calls (any batch) run the fastest', async () => {
  const be = await webgpu();
  const gpu = be.gpu;
  // A conv of at least SUBGROUP_MIN_FLOPS (smaller ones keep the plain tiles without asking the tuner),
  // and a tuner that measures at first use, in memory.
  const s: Conv2dShape = {
    batch: 16,
    inChannels: 16,
    inHeight: 16,
    inWidth: 16,
    outChannels: 16,
    outHeight: 16,
    outWidth: 16,
    kernelHeight: 3,
    kernelWidth: 3,
    stride: 1,
    padding: 1,
  };
  assert.ok(convFlops(s) >= SUBGROUP_MIN_FLOPS);
  const nx = s.batch * s.inChannels * s.inHeight * s.inWidth;
  const nw = s.outChannels * s.inChannels * s.kernelHeight * s.kernelWidth;
  const ny = s.batch * s.outChannels * s.outHeight * s.outWidth;
  const [x, w] = [random(nx, 0), random(nw, 10)];
  const want = new Float32Array(ny);
  cpuConv.conv2d(x, w, null, s, want);
  const [gx, gw] = [x, w].map((a) => be.upload(a, 'float32') as GpuBuffer);
  const tuner = new Tuner(gpu, 'test', 'on');
  const before = setTuner(gpu, tuner);
  try {
    // A small conv does not ask: nothing waits to be measured after it.
    const small = SHAPES[0];
    assert.ok(convFlops(small) < SUBGROUP_MIN_FLOPS);
    gpu.release(conv.conv2d(gpu, gx, gw, null, small));
    assert.not.ok(tuner.hasPending, 'a conv under SUBGROUP_MIN_FLOPS is not queued for tuning');
    assert.is(
      tuner.choose(conv.forwardTunable, s),
      defaultConvVariant(s, gpu.subgroupSize),
      'an unmeasured shape runs the default',
    );
    const out = conv.conv2d(gpu, gx, gw, null, s);
    close((await be.read(out, 'float32', ny)) as Float32Array, want, 'forward before tuning');
    gpu.release(out);
    const choice = tuner.choiceFor(conv.forwardTunable, s);
    assert.ok(choice, 'tuned at the readback');
    assert.equal(Object.keys(choice.ms), convVariants(gpu.subgroupSize));
    for (const ms of Object.values(choice.ms)) assert.ok(ms > 0 && Number.isFinite(ms));
    assert.is(
      choice.variant,
      Object.keys(choice.ms).reduce((a, b) => (choice.ms[b] < choice.ms[a] ? b : a)),
    );
    assert.not.ok(tuner.hasPending);
    assert.is(tuner.choose(conv.forwardTunable, s), choice.variant);
    // The key leaves out the batch: another batch size runs the same choice.
    assert.is(tuner.choose(conv.forwardTunable, { ...s, batch: 40 }), choice.variant);
    assert.not.ok(tuner.hasPending);
    // The backward passes are ops of their own, not yet measured.
    assert.is(tuner.choiceFor(conv.backwardInputTunable, s), undefined);
    assert.is(tuner.choiceFor(conv.backwardFilterTunable, s), undefined);
    const again = conv.conv2d(gpu, gx, gw, null, s);
    close((await be.read(again, 'float32', ny)) as Float32Array, want, `forward with the tuned ${choice.variant}`);
    gpu.release(again);
  } finally {
    setTuner(gpu, before);
    for (const b of [gx, gw]) gpu.release(b);
  }
});

test.run();
