// Where the first training step's compile time goes: every pipeline one SmallCNN step (batch 128,
// MNIST's threat model) compiles, each then compiled alone on an empty Mesa shader cache and timed
// from createComputePipeline to the end of a one-workgroup dispatch (lavapipe compiles a pipeline at
// its first dispatch). Usage after `npm run build`:
//   node scripts/compile-profile.mjs natural|yopo-5-3|... [--top N]
// Compile time is CPU time: a loaded machine stretches it, so compare kernels within one run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [spec = 'natural', phase, file] = process.argv.slice(2);
const topArg = process.argv.indexOf('--top');
const top = topArg > 0 ? Number(process.argv[topArg + 1]) : 20;

if (phase === 'collect') {
  // Child 1: one step, recording the WGSL of every pipeline it makes.
  const { useWebGPU } = await import('../dist/kernels/index.js');
  const { smallCnnStep } = await import('./smallcnn-step.mjs');
  const backend = await useWebGPU();
  const gpu = backend.gpu;
  const programs = [];
  const programOf = gpu.program.bind(gpu);
  gpu.program = (name, key, source) => {
    const before = gpu.counters.pipelines;
    const p = programOf(name, key, source);
    if (gpu.counters.pipelines > before) programs.push({ name, key, code: source() });
    return p;
  };
  await smallCnnStep(backend, spec)(1);
  writeFileSync(file, JSON.stringify(programs));
  backend.dispose();
} else if (phase === 'time') {
  // Child 2: each recorded program compiled and dispatched once, alone, on an empty cache.
  const { useWebGPU } = await import('../dist/kernels/index.js');
  const { waitForDevice } = await import('../dist/kernels/webgpu/device.js');
  const { bindingsOf } = await import('../dist/kernels/webgpu/compile_ahead.js');
  const backend = await useWebGPU();
  const device = backend.gpu.device;
  const programs = JSON.parse(readFileSync(file, 'utf8'));
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  // One buffer per binding: a buffer bound both read-only and writable in one dispatch is invalid.
  const storage = Array.from({ length: 8 }, () => device.createBuffer({ size: 1 << 20, usage }));
  // Uniform words of 8: small sizes for kernels that read theirs from a uniform (zeros would make
  // a matmul's k − (k mod 4) wrap round to a loop of 2^32 steps).
  const uniform = device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(uniform, 0, new Uint32Array(64).fill(8));
  const times = [];
  for (const p of programs) {
    const t = performance.now();
    const module = device.createShaderModule({ code: p.code });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const entries = bindingsOf(p.code).map(({ binding, uniform: isUniform }) => ({ binding, resource: { buffer: isUniform ? uniform : storage[binding] } }));
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
    pass.dispatchWorkgroups(1);
    pass.end();
    device.queue.submit([encoder.finish()]);
    await waitForDevice(device.queue.onSubmittedWorkDone());
    const error = await device.popErrorScope();
    if (error) throw new Error(`${p.name} | ${p.key}: ${error.message}`);
    times.push({ name: p.name, key: p.key, ms: Math.round(performance.now() - t), lines: p.code.split('\n').length });
  }
  writeFileSync(file, JSON.stringify(times));
  backend.dispose();
} else {
  const self = fileURLToPath(import.meta.url);
  const file = join(tmpdir(), `yopo-compile-${process.pid}.json`);
  const child = (phase) => {
    const cache = mkdtempSync(join(tmpdir(), 'yopo-mesa-'));
    const run = spawnSync(process.execPath, [self, spec, phase, file], {
      env: { ...process.env, MESA_SHADER_CACHE_DIR: cache, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() },
      encoding: 'utf8',
    });
    rmSync(cache, { recursive: true, force: true });
    if (run.status !== 0) throw new Error(`${phase} failed:\n${run.stderr}`);
  };
  child('collect');
  child('time');
  const times = JSON.parse(readFileSync(file, 'utf8'));
  rmSync(file, { force: true });
  const total = times.reduce((s, t) => s + t.ms, 0);
  const byName = new Map();
  for (const t of times) {
    const e = byName.get(t.name) ?? { ms: 0, n: 0 };
    e.ms += t.ms;
    e.n++;
    byName.set(t.name, e);
  }
  console.log(`${spec}: ${times.length} pipelines, ${(total / 1000).toFixed(1)} s compiling alone on an empty cache`);
  console.log('by kernel:');
  for (const [name, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms)) console.log(`  ${String(e.ms).padStart(6)} ms  ${String(e.n).padStart(3)}×  ${name}`);
  console.log(`slowest ${top} pipelines:`);
  for (const t of times.sort((a, b) => b.ms - a.ms).slice(0, top)) console.log(`  ${String(t.ms).padStart(6)} ms  ${t.name} | ${t.key} (${t.lines} lines)`);
}
