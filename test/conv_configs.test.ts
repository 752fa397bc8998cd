// The conv kernels under each tile configuration (kernels/conv_plan.ts), against the CPU reference on
// odd shapes (rows not a multiple of the tile, a stride-2 input gradient, bias, the fused ReLU): the
// row-tile kernel without subgroups (what a device without them runs, and every device for small convs),
// with the device's subgroup tiles (which the defaults give only convs of SUBGROUP_MIN_FLOPS or more, so
// the small shapes of test/kernels_conv.test.ts mostly run the plain ones) and with 16-row tiles; the
// weight gradient with and without subgroups, and stepping several output columns at once.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Conv2dShape } from '../engine/index.js';
import * as cpuConv from '../engine/cpu/conv2d.js';
import type { GpuBuffer } from '../kernels/webgpu/gpu.js';
import * as conv from '../kernels/conv2d.js';
import { ROW_TILE_DEFAULT, type RowTileConfig, rowTileConfig } from '../kernels/conv_plan.js';
import { webgpu } from './helpers.js';

const SHAPES: Conv2dShape[] = [
  { batch: 2, inChannels: 3, inHeight: 13, inWidth: 11, outChannels: 12, outHeight: 13, outWidth: 11, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1 },
  { batch: 1, inChannels: 4, inHeight: 9, inWidth: 12, outChannels: 20, outHeight: 4, outWidth: 6, kernelHeight: 3, kernelWidth: 2, stride: 2, padding: 0 },
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
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-4 * scale, `${what}: element ${i}: ${got[i]} vs ${want[i]}`);
}

test('row-tile configurations and weight-gradient column steps match the CPU reference', async () => {
  const be = await webgpu();
  const gpu = be.gpu;
  if (gpu.subgroupSize === 0) console.log('  this adapter has no fixed subgroup size: the subgroup row tiles are not tested here');
  for (const [k, s] of SHAPES.entries()) {
    const sizes = { x: s.batch * s.inChannels * s.inHeight * s.inWidth, w: s.outChannels * s.inChannels * s.kernelHeight * s.kernelWidth, y: s.batch * s.outChannels * s.outHeight * s.outWidth };
    const [x, w, dy, bias] = [random(sizes.x, k), random(sizes.w, k + 10), random(sizes.y, k + 20), random(s.outChannels, k + 30)];
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
    // The subgroup tiles (where the device has subgroups) on both shapes, the 16-row tiles on the
    // first only: each configuration compiles its own kernels.
    const sg = gpu.subgroupSize;
    const sixteenRows: RowTileConfig = { tmMax: 16, tnMax: 4, accMax: 64, subgroup: sg };
    for (const config of [ROW_TILE_DEFAULT, ...(sg ? [rowTileConfig(sg)] : []), ...(sg && k === 0 ? [sixteenRows] : [])]) {
      const what = `${JSON.stringify(s)} ${JSON.stringify(config)}`;
      close(await read(conv.conv2d(gpu, gx, gw, gb, s, config), sizes.y), want.y, `forward ${what}`);
      if (config !== sixteenRows) close(await read(conv.conv2d(gpu, gx, gw, gb, s, config, true), sizes.y), wantRelu, `forward + ReLU ${what}`);
      close(await read(conv.conv2dBackwardInput(gpu, gdy, gw, s, config), sizes.x), want.dx, `input gradient ${what}`);
    }
    if (k === 0) close(await read(conv.conv2dBackwardFilter(gpu, gx, gdy, s, { tmMax: 4, twMax: 4, subgroup: 0 }), sizes.w), want.dw, `weight gradient, 4 columns a step ${JSON.stringify(s)}`);
    for (const b of [gx, gw, gdy, gb]) gpu.release(b);
  }
});

// Shapes with 8 or more in channels, where the weight gradient shares dy through subgroups: a step of 8
// columns plus a remainder of 3 (stride 1, padding 1), and one short step of 6 (stride 2, a 3x2 kernel).
const FILTER_SHAPES: Conv2dShape[] = [
  { batch: 3, inChannels: 9, inHeight: 13, inWidth: 11, outChannels: 11, outHeight: 13, outWidth: 11, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1 },
  { batch: 2, inChannels: 16, inHeight: 9, inWidth: 12, outChannels: 5, outHeight: 4, outWidth: 6, kernelHeight: 3, kernelWidth: 2, stride: 2, padding: 0 },
];

test('the weight gradient with and without subgroups matches the CPU reference', async () => {
  const be = await webgpu();
  const gpu = be.gpu;
  const configs = [{ tmMax: 4, twMax: 1, subgroup: 0 }, { tmMax: 8, twMax: gpu.subgroupSize, subgroup: gpu.subgroupSize }];
  if (gpu.subgroupSize === 0) console.log('  this adapter has no fixed subgroup size: the subgroup weight gradient is not tested here');
  for (const [k, s] of FILTER_SHAPES.entries()) {
    const nx = s.batch * s.inChannels * s.inHeight * s.inWidth;
    const ny = s.batch * s.outChannels * s.outHeight * s.outWidth;
    const nw = s.outChannels * s.inChannels * s.kernelHeight * s.kernelWidth;
    const [x, dy] = [random(nx, k + 40), random(ny, k + 50)];
    const want = new Float32Array(nw);
    cpuConv.conv2dBackwardFilter(x, dy, s, want);
    const [gx, gdy] = [x, dy].map((a) => be.upload(a, 'float32') as GpuBuffer);
    for (const config of gpu.subgroupSize ? configs : configs.slice(0, 1)) {
      const out = conv.conv2dBackwardFilter(gpu, gx, gdy, s, config);
      close((await be.read(out, 'float32', nw)) as Float32Array, want, `weight gradient ${JSON.stringify(s)} ${JSON.stringify(config)}`);
      gpu.release(out);
    }
    for (const b of [gx, gdy]) gpu.release(b);
  }
});

test.run();
