// The cost of starting to train: one SmallCNN training step (batch 128, MNIST's threat model) in a
// fresh process, timed cold (every pipeline compiled now) and then warm, with the pipelines it
// compiled. Run it with an empty Mesa shader cache for the "first step on a clean machine" number:
//   MESA_SHADER_CACHE_DIR=$(mktemp -d) node scripts/first-step.mjs yopo-5-3
// (npm run -s build first; it imports dist/).
import { useWebGPU } from '../dist/kernels/index.js';
import { countPipelines } from './count-pipelines.mjs';
import { smallCnnStep } from './smallcnn-step.mjs';

const spec = process.argv[2] ?? 'natural';
const backend = await useWebGPU();
const gpu = backend.gpu;
const run = smallCnnStep(backend, spec);
// Wall time, and the process's CPU time (lavapipe compiles and runs shaders on this process's
// threads), which a busy machine disturbs less than wall time.
const step = async (seed) => {
  const t = performance.now();
  const c = process.cpuUsage();
  await run(seed);
  const cpu = process.cpuUsage(c);
  return [performance.now() - t, (cpu.user + cpu.system) / 1000];
};
// Which kernels compiled, by name.
const compiled = countPipelines(gpu);
const p0 = gpu.counters.pipelines;
const cold = await step(1);
const p1 = gpu.counters.pipelines;
const warm = await step(2);
// On lavapipe a second device compiles ahead (kernels/webgpu/compile_ahead.ts; YOPO_COMPILE_AHEAD=off turns it off).
const ahead = gpu.compileAhead;
await ahead?.idle();
if (ahead?.error) throw ahead.error;
console.log(JSON.stringify({ spec, coldMs: Math.round(cold[0]), coldCpuMs: Math.round(cold[1]), warmMs: Math.round(warm[0]), warmCpuMs: Math.round(warm[1]), pipelines: p1 - p0, pipelinesSecondStep: gpu.counters.pipelines - p1, compiledAhead: ahead ? ahead.compiled : null }));
if (process.argv.includes('--names')) console.log(JSON.stringify(Object.fromEntries([...compiled].sort((a, b) => b[1] - a[1]))));
backend.dispose();
