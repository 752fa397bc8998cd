// Usage after `npm run build`: node scripts/relu-fused.mjs (REPS=9).
// Side by side: SmallCNN's conv stack (conv1..conv4 + pools) forward + backward at batch 128, ReLU fused into the conv vs a ReLU op after it.
import { useWebGPU } from '../dist/kernels/index.js';
import { Random, Tape, conv2d, relu, maxPool2d, sum, tidy, tensor, keep } from '../dist/engine/index.js';
const be = await useWebGPU();
const rng = new Random(0);
const rnd = (shape, s) => { const n = shape.reduce((a, b) => a * b, 1); const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = (rng.next() - 0.5) * s; return keep(tensor(a, shape)); };
const B = 128;
const x = rnd([B, 1, 28, 28], 2);
const layers = [[1, 32], [32, 32], [32, 64], [64, 64]].map(([c, o]) => [rnd([o, c, 3, 3], 2 / Math.sqrt(c * 9)), rnd([o], 0.1)]);
const params = layers.flat();
function net(fused) {
  let h = x;
  layers.forEach(([w, b], i) => {
    h = fused ? conv2d(h, w, b, { relu: true }) : relu(conv2d(h, w, b));
    if (i === 1 || i === 3) h = maxPool2d(h, 2);
  });
  return sum(h);
}
const run = async (fused) => { const t0 = performance.now(); tidy(() => { const tape = new Tape(); const loss = tape.record(() => net(fused)); tape.gradient(loss, params); }); await be.sync(); return performance.now() - t0; };
for (const f of [true, false]) await run(f);
const times = { fused: [], apart: [] };
const reps = Number(process.env.REPS ?? 9);
for (let r = 0; r < reps; r++) { times.fused.push(await run(true)); times.apart.push(await run(false)); }
const med = (a) => a.sort((p, q) => p - q)[a.length >> 1];
console.log(`SmallCNN conv stack fwd+bwd batch ${B}, median of ${reps} alternating: fused ${med(times.fused).toFixed(1)} ms, ReLU apart ${med(times.apart).toFixed(1)} ms, ratio ${(med(times.apart) / med(times.fused)).toFixed(3)}; load ${(await import('node:os')).loadavg()[0].toFixed(1)}`);
process.exit(0);
