// Where a warm SmallCNN training step's GPU time goes, by kernel: the step runs once to compile, then
// again with every dispatch submitted on its own and timed from the end of the one before it (the
// queue runs them in order, and this process waits with 0.5 ms sleeps, so times under a millisecond
// are rough). The first dispatch's time also holds recording the step in JS (no completion is seen
// before the step's first wait). Submitting each dispatch alone adds a little per dispatch; compare
// kernels, not the total with a bench row. Usage after `npm run build`:
//   node scripts/step-profile.mjs natural|yopo-5-3|... [runs]
import { useWebGPU } from '../dist/kernels/index.js';
import { waitForDevice } from '../dist/kernels/webgpu/device.js';
import { smallCnnStep } from './smallcnn-step.mjs';

const spec = process.argv[2] ?? 'natural';
const runs = Number(process.argv[3] ?? 3);
const backend = await useWebGPU();
const gpu = backend.gpu;
// Each pipeline's name, numbered when a kernel has several (one per shape): "conv2d_forward 2".
const labels = new Map();
const seen = new Map();
const program = gpu.program.bind(gpu);
gpu.program = (name, key, source) => {
  const p = program(name, key, source);
  if (!labels.has(p)) {
    seen.set(name, (seen.get(name) ?? 0) + 1);
    labels.set(p, `${name} ${seen.get(name)}`);
  }
  return p;
};
const step = smallCnnStep(backend, spec);
await step(1);

const dispatch = gpu.dispatch.bind(gpu);
let marks = null;
gpu.dispatch = (pipeline, buffers, workgroups, uniforms) => {
  dispatch(pipeline, buffers, workgroups, uniforms);
  if (!marks) return;
  gpu.flush();
  const mark = { name: labels.get(pipeline) ?? pipeline.label, done: 0 };
  marks.push(mark);
  gpu.device.queue.onSubmittedWorkDone().then(() => (mark.done = performance.now()));
};
const total = new Map();
for (let r = 0; r < runs; r++) {
  await backend.sync();
  marks = [];
  const t0 = performance.now();
  // method.step records every dispatch before step's first wait.
  const done = step(2 + r);
  const recorded = marks;
  marks = null;
  await done;
  let prev = t0;
  for (const m of recorded) {
    const e = total.get(m.name) ?? { ms: 0, n: 0 };
    e.ms += (m.done - prev) / runs;
    e.n += 1 / runs;
    total.set(m.name, e);
    prev = m.done;
  }
}
const sum = [...total.values()].reduce((s, e) => s + e.ms, 0);
console.log(`${spec}: ${sum.toFixed(1)} ms of dispatches a step (mean of ${runs}), by kernel:`);
for (const [name, e] of [...total].sort((a, b) => b[1].ms - a[1].ms)) {
  console.log(`  ${e.ms.toFixed(2).padStart(8)} ms  ${(e.ms / sum * 100).toFixed(1).padStart(5)}%  ${String(Math.round(e.n)).padStart(4)}×  ${name}`);
}
backend.dispose();
