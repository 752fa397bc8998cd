// Side-by-side timing of row-tile conv variants in one process (a loaded machine's timings only compare
// within one run): SmallCNN's four conv shapes at batch 128, each kind and variant run alternately.
// Usage after `npm run build`: node scripts/conv-variants.mjs, with VARIANTS=now,plain,sg8h2,...,
// KINDS=fwd,bwdi,bwdf, SHAPES=0,1,2,3 and REPS=7 to narrow it. For a before/after, copy the old
// dist/kernels/conv2d.js to dist/kernels/conv2d_base.js (or set BASE to the path of an older build's
// conv2d.js) and add `base` to VARIANTS. Both share one program cache, whose keys do not hold the WGSL:
// where the old kernel's key equals the new one's, both run whichever compiled first, so compare a
// change of the WGSL alone in separate processes.
import { existsSync } from 'node:fs';
import { useWebGPU } from '../dist/kernels/index.js';
const baseFile = process.env.BASE ? new URL('file://' + process.env.BASE) : new URL('../dist/kernels/conv2d_base.js', import.meta.url);
const base = existsSync(baseFile) ? await import(baseFile.href) : null;
const cur = await import('../dist/kernels/conv2d.js');
const cfg = (o) => ({ tmMax: 4, tnMax: 12, accMax: 32, subgroup: 0, ...o });
const wrap = (c, tw) => ({ conv2d: (g, x, w, b, s) => cur.conv2d(g, x, w, b, s, c, b !== null), conv2dBackwardInput: (g, dy, w, s) => cur.conv2dBackwardInput(g, dy, w, s, c), conv2dBackwardFilter: (g, x, dy, s) => cur.conv2dBackwardFilter(g, x, dy, s, { tmMax: 4, twMax: tw, subgroup: 0 }) });
const filterOnly = (config) => ({ ...cur, conv2dBackwardFilter: (g, x, dy, s) => cur.conv2dBackwardFilter(g, x, dy, s, config) });
// With a bias the forward also applies the ReLU (undefined config: the defaults).
const withRelu = (m) => m && { ...m, conv2d: (g, x, w, b, s) => m.conv2d(g, x, w, b, s, undefined, b !== null) };
const all = { base: withRelu(base), now: withRelu(cur), plain: wrap(cfg({}), 1), sg4: wrap(cfg({ subgroup: 8 }), 2), sg8: wrap(cfg({ subgroup: 8, tmMax: 8, tnMax: 6, accMax: 48 }), 4), sg8n9: wrap(cfg({ subgroup: 8, tmMax: 8, tnMax: 9, accMax: 72 }), 8), sg8n13: wrap(cfg({ subgroup: 8, tmMax: 8, tnMax: 13, accMax: 104 }), 4), sg16n9: wrap(cfg({ subgroup: 8, tmMax: 16, tnMax: 9, accMax: 144 }), 4), sg8h2: wrap(cfg({ subgroup: 8, tmMax: 8, tnMax: 6, accMax: 96 }), 4), sg16n6: wrap(cfg({ subgroup: 8, tmMax: 16, tnMax: 6, accMax: 96 }), 2), sg8h2n9: wrap(cfg({ subgroup: 8, tmMax: 8, tnMax: 9, accMax: 144 }), 1), sg16: wrap(cfg({ subgroup: 8, tmMax: 16, tnMax: 4, accMax: 64 }), 6), bf1: filterOnly({ tmMax: 4, twMax: 1, subgroup: 0 }), bfsg: filterOnly({ tmMax: 8, twMax: 8, subgroup: 8 }), bfsg8w4: filterOnly({ tmMax: 8, twMax: 4, subgroup: 8 }), bfsg16w4: filterOnly({ tmMax: 16, twMax: 4, subgroup: 8 }), bfsg4: filterOnly({ tmMax: 4, twMax: 8, subgroup: 8 }), bfsg16: filterOnly({ tmMax: 16, twMax: 8, subgroup: 8 }), bfsg32: filterOnly({ tmMax: 32, twMax: 8, subgroup: 8 }) };
// CFG_<name>='{"tmMax":8,"tnMax":9,"accMax":144,"subgroup":8}' adds variant <name> with those row-tile knobs
// (and BF_<name>='{"tmMax":16,"twMax":8,"subgroup":8}' its weight-gradient knobs).
for (const [k, v] of Object.entries(process.env)) {
  if (k.startsWith('CFG_')) all[k.slice(4)] = { ...wrap(JSON.parse(v), 1), conv2dBackwardFilter: cur.conv2dBackwardFilter };
  if (k.startsWith('BF_')) all[k.slice(3)] = filterOnly(JSON.parse(v));
}
const variants = {};
for (const v of (process.env.VARIANTS ?? 'now,plain').split(',')) { if (!all[v]) throw new Error(`no variant ${v} (base needs dist/kernels/conv2d_base.js)`); variants[v] = all[v]; }
const be = await useWebGPU();
const gpu = be.gpu;
const shapes = [[1, 28, 32], [32, 26, 32], [32, 12, 64], [64, 10, 64]].map(([C, H, O]) => ({ batch: 128, inChannels: C, inHeight: H, inWidth: H, outChannels: O, outHeight: H - 2, outWidth: H - 2, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 0 }));
const kinds = (process.env.KINDS ?? 'fwd,bwdi,bwdf').split(',');
const only = process.env.SHAPES ? process.env.SHAPES.split(',').map(Number) : [0, 1, 2, 3];
const reps = Number(process.env.REPS ?? 7);
function rnd(n) { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = Math.sin(i * 12.9898) * 0.5; return a; }
for (const si of only) {
  const s = shapes[si];
  const x = be.upload(rnd(s.batch * s.inChannels * s.inHeight * s.inWidth), 'float32');
  const w = be.upload(rnd(s.outChannels * s.inChannels * 9), 'float32');
  // BIAS=1: the forward adds a bias and applies the ReLU, as SmallCNN's convs do.
  const bias = process.env.BIAS ? be.upload(rnd(s.outChannels), 'float32') : null;
  const dy = be.upload(rnd(s.batch * s.outChannels * s.outHeight * s.outWidth), 'float32');
  const flops = 2 * s.batch * s.outChannels * s.outHeight * s.outWidth * s.inChannels * 9;
  for (const k of kinds) {
    const run = (m) => k === 'fwd' ? m.conv2d(gpu, x, w, bias, s) : k === 'bwdi' ? m.conv2dBackwardInput(gpu, dy, w, s) : m.conv2dBackwardFilter(gpu, x, dy, s);
    const times = {}; const outs = {};
    for (const [name, m] of Object.entries(variants)) { const o = run(m); await be.sync(); const size = k === 'fwd' ? s.batch * s.outChannels * s.outHeight * s.outWidth : k === 'bwdi' ? s.batch * s.inChannels * s.inHeight * s.inWidth : s.outChannels * s.inChannels * 9; outs[name] = await be.read(o, 'float32', size); gpu.release(o); times[name] = []; }
    for (let r = 0; r < reps; r++) for (const [name, m] of Object.entries(variants)) { const t0 = performance.now(); const o = run(m); await be.sync(); times[name].push(performance.now() - t0); gpu.release(o); }
    const names = Object.keys(variants); const ref = outs[names[0]];
    const line = names.map((n) => { const t = times[n].sort((a, b) => a - b)[reps >> 1]; let err = 0, mx = 0; for (let i = 0; i < ref.length; i++) { err = Math.max(err, Math.abs(ref[i] - outs[n][i])); mx = Math.max(mx, Math.abs(ref[i])); } return `${n} ${t.toFixed(1)}ms ${(flops / t / 1e6).toFixed(1)}GF err ${(err / mx).toExponential(1)}`; }).join(' | ');
    console.log(`${k} ${s.inChannels}x${s.inHeight}-${s.outChannels}: ${line}`);
  }
  for (const b of [x, w, dy, bias]) if (b) gpu.release(b);
}
process.exit(0);
