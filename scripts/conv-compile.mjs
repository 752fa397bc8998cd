// How long each conv kernel takes to compile on an empty shader cache, plain tiles against the subgroup
// tiles: the first call of the forward, input gradient and weight gradient of one shape, each variant
// in a fresh process with a fresh, empty Mesa shader cache (lavapipe compiles a pipeline at its first
// dispatch). Usage after `npm run build`:
//   node scripts/conv-compile.mjs [batch,C,H,W,O] [runs]      (default 2,9,13,11,11 — 3x3, padding 1)
// Compile time is CPU time: a loaded machine stretches it, so compare the variants within one run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [shapeArg = '2,9,13,11,11', runsArg = '2', variant] = process.argv.slice(2);
if (!variant) {
  // Parent: alternate the variants, each in its own process and cache.
  const results = { plain: [], subgroup: [] };
  for (let r = 0; r < Number(runsArg); r++) {
    for (const v of Object.keys(results)) {
      const cache = mkdtempSync(join(tmpdir(), 'yopo-mesa-'));
      const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url), shapeArg, runsArg, v], {
        env: { ...process.env, MESA_SHADER_CACHE_DIR: cache, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() },
        encoding: 'utf8',
      });
      rmSync(cache, { recursive: true, force: true });
      const line = run.stdout.trim().split('\n').pop();
      if (run.status !== 0 || !line) throw new Error(`variant ${v} failed:\n${run.stderr}`);
      results[v].push(JSON.parse(line));
    }
  }
  console.log(`shape batch,C,H,W,O = ${shapeArg}, 3x3 padding 1; first call on an empty shader cache, ms:`);
  for (const [v, runs] of Object.entries(results)) {
    console.log(`  ${v.padEnd(8)} ${['fwd', 'bwdInput', 'bwdFilter'].map((k) => `${k} ${runs.map((r) => r[k]).join(', ')}`).join(' | ')}`);
  }
} else {
  const { useWebGPU } = await import('../dist/kernels/index.js');
  const conv = await import('../dist/kernels/conv2d.js');
  const { ROW_TILE_DEFAULT, backwardFilterConfig, rowTileConfig } = await import('../dist/kernels/conv_plan.js');
  const be = await useWebGPU();
  const gpu = be.gpu;
  if (variant === 'subgroup' && gpu.subgroupSize === 0) throw new Error('this adapter has no fixed subgroup size');
  const sg = variant === 'subgroup' ? gpu.subgroupSize : 0;
  const rowTile = sg ? rowTileConfig(sg) : ROW_TILE_DEFAULT;
  const filter = backwardFilterConfig(sg);
  const [B, C, H, W, O] = shapeArg.split(',').map(Number);
  const s = { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: H, outWidth: W, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1 };
  const values = (n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
  const x = be.upload(values(B * C * H * W), 'float32');
  const w = be.upload(values(O * C * 9), 'float32');
  const dy = be.upload(values(B * O * H * W), 'float32');
  await be.sync();
  const ms = {};
  for (const [kind, run] of [
    ['fwd', () => conv.conv2d(gpu, x, w, null, s, rowTile)],
    ['bwdInput', () => conv.conv2dBackwardInput(gpu, dy, w, s, rowTile)],
    ['bwdFilter', () => conv.conv2dBackwardFilter(gpu, x, dy, s, filter)],
  ]) {
    const t = performance.now();
    const out = run();
    await be.sync();
    ms[kind] = Math.round(performance.now() - t);
    gpu.release(out);
  }
  console.log(JSON.stringify(ms));
  process.exit(0);
}
