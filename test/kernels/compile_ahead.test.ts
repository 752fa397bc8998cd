// Compiling ahead on a second device (kernels/webgpu/compile_ahead.ts): when it is wanted, that every
// kernel of a training step compiles there on scratch bindings, that it leaves the oldest new
// pipeline to the main queue, that a failure there stops it without touching the main device, and that a step
// on a device compiling ahead gives the same bits as one on a device that does not.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random, setBackend, tensor } from '../../engine/index.js';
import { useWebGPU, type WebGPUBackend } from '../../kernels/index.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledIndexPath, fileCompiledIndex } from '../../kernels/compiled_index_file.js';
import { COMPILE_AHEAD_ENV, CompileAhead, bindingsOf, compileAheadState } from '../../kernels/webgpu/compile_ahead.js';
import { type AdapterDescription, requestWebGPU } from '../../kernels/webgpu/device.js';
import { SmallCNN } from '../../nn/index.js';
import { parseMethod, threatModel } from '../../yopo/defaults.js';

/** Runs fn with the given environment variables set (undefined: unset), then restores them. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T | Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

const adapter = (description: string): AdapterDescription => ({
  vendor: 'mesa',
  architecture: '',
  device: '',
  description,
  isSoftware: true,
  limits: {},
  features: [],
});

test('compiling ahead is wanted on lavapipe with Mesa cache on, and YOPO_COMPILE_AHEAD overrides', async () => {
  const lavapipe = adapter('llvmpipe (LLVM 19.1.7, 256 bits)');
  await withEnv({ [COMPILE_AHEAD_ENV]: undefined, MESA_SHADER_CACHE_DISABLE: undefined }, () => {
    assert.ok(compileAheadState(lavapipe).on);
    assert.not.ok(compileAheadState(adapter('NVIDIA H200')).on, 'a driver that compiles at creation');
    assert.not.ok(compileAheadState(adapter('SwiftShader Device (Subzero)')).on);
    assert.not.ok(compileAheadState(null).on);
  });
  await withEnv({ [COMPILE_AHEAD_ENV]: undefined, MESA_SHADER_CACHE_DISABLE: 'true' }, () =>
    assert.equal(compileAheadState(lavapipe), {
      on: false,
      why: "Mesa's shader cache is off (MESA_SHADER_CACHE_DISABLE)",
    }),
  );
  await withEnv({ [COMPILE_AHEAD_ENV]: undefined, MESA_SHADER_CACHE_DISABLE: undefined }, () =>
    assert.equal(compileAheadState(adapter('NVIDIA H200')), {
      on: false,
      why: 'this driver compiles a pipeline when it is created',
    }),
  );
  await withEnv({ [COMPILE_AHEAD_ENV]: 'off' }, () => assert.not.ok(compileAheadState(lavapipe).on));
  await withEnv({ [COMPILE_AHEAD_ENV]: 'on' }, () => assert.ok(compileAheadState(adapter('NVIDIA H200')).on));
  await withEnv({ [COMPILE_AHEAD_ENV]: 'yes' }, () =>
    assert.throws(() => compileAheadState(lavapipe).on, /YOPO_COMPILE_AHEAD='yes': expected 'on' or 'off'/),
  );
});

test('bindingsOf reads storage and uniform bindings from WGSL', () => {
  const code = `@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage,read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> u: U;`;
  assert.equal(bindingsOf(code), [
    { binding: 0, uniform: false },
    { binding: 1, uniform: false },
    { binding: 2, uniform: true },
  ]);
});

/** One natural SmallCNN step (batch 4) on a fresh backend; the parameters after it, and every program the step made. */
async function naturalStep(
  backend: WebGPUBackend,
): Promise<{ params: Float32Array[]; programs: { name: string; code: string }[] }> {
  setBackend(backend);
  const gpu = backend.gpu;
  const programs: { name: string; code: string }[] = [];
  const programOf = gpu.program.bind(gpu);
  gpu.program = (name, key, source) => {
    const before = gpu.counters.pipelines;
    const p = programOf(name, key, source);
    if (gpu.counters.pipelines > before) programs.push({ name, code: source() });
    return p;
  };
  const model = new SmallCNN(new Random(7));
  const rng = new Random(8);
  const x = tensor(
    Float32Array.from({ length: 4 * 784 }, () => rng.next()),
    [4, 1, 28, 28],
  );
  const y = tensor(
    Int32Array.from({ length: 4 }, () => rng.int(10)),
    [4],
    'int32',
  );
  const method = parseMethod('natural', threatModel('mnist'));
  method.init(model, { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const out = method.step(model, x, y, new Random(9));
  await out.loss.data();
  const params = await Promise.all(model.parameters().map(async (p) => (await p.data()) as Float32Array));
  for (const t of [out.loss, out.logits, x, y]) t.dispose();
  method.dispose();
  model.dispose();
  return { params, programs };
}

test('a step on a device compiling ahead gives the same bits; every kernel it makes compiles on scratch bindings', async () => {
  const plain = await withEnv({ [COMPILE_AHEAD_ENV]: 'off' }, () => useWebGPU());
  assert.is(plain.gpu.compileAhead, null);
  const reference = await naturalStep(plain);
  plain.dispose();

  const backend = await withEnv({ [COMPILE_AHEAD_ENV]: 'on' }, () => useWebGPU());
  const ahead = backend.gpu.compileAhead;
  assert.ok(ahead, 'YOPO_COMPILE_AHEAD=on attaches a second device');
  const { params } = await naturalStep(backend);
  await ahead.idle();
  assert.is(ahead.error, null);
  params.forEach((p, i) => assert.equal(p, reference.params[i], `parameter ${i} after the step`));
  backend.dispose();

  // Handed the step's programs, it compiles all but the oldest (the main queue's), and one alone is the main queue's.
  const helper = new CompileAhead((await requestWebGPU()).device);
  assert.ok(reference.programs.length > 20, `${reference.programs.length} programs`);
  helper.compile(reference.programs, Promise.resolve());
  await helper.idle();
  assert.is(helper.error, null);
  assert.is(helper.compiled, reference.programs.length - 1);
  helper.compile(reference.programs.slice(0, 1), Promise.resolve());
  await helper.idle();
  assert.is(helper.compiled, reference.programs.length - 1);
  helper.dispose();
});

test('a kernel the scratch bindings do not fit stops compiling ahead with an error naming it', async () => {
  const helper = new CompileAhead((await requestWebGPU()).device);
  const declared = '@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n';
  const main = '@compute @workgroup_size(8) fn main(@builtin(global_invocation_id) id: vec3u) { y[id.x] = x[id.x]; }';
  // Binding 1 is declared with its attributes the other way round, which bindingsOf does not read.
  const unbound = `${declared}@binding(1) @group(0) var<storage, read> x: array<f32>;\n${main}`;
  helper.compile(
    [
      { name: 'first', code: unbound },
      { name: 'unbound', code: unbound },
    ],
    Promise.resolve(),
  );
  await helper.idle();
  assert.match(helper.error?.message ?? '', /compiling ahead on the second device failed \(one of: unbound\)/);
  assert.is(helper.compiled, 0);
  // Stopped: later programs are not taken.
  helper.compile(
    [
      { name: 'a', code: declared + main.replace('x[id.x]', '1.0') },
      { name: 'b', code: declared + main.replace('x[id.x]', '2.0') },
    ],
    Promise.resolve(),
  );
  await helper.idle();
  assert.is(helper.compiled, 0);
  helper.dispose();
});

test('the index of compiled programs persists across processes, per Mesa cache folder, and never stops a run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'yopo-compiled-'));
  try {
    const env = { YOPO_TUNE_CACHE: dir, MESA_SHADER_CACHE_DIR: '/tmp/mesa-a' };
    const path = compiledIndexPath('mesa|llvmpipe', env);
    assert.ok(path.startsWith(dir), path);
    assert.is.not(
      compiledIndexPath('mesa|llvmpipe', { ...env, MESA_SHADER_CACHE_DIR: '/tmp/mesa-b' }),
      path,
      'another Mesa cache, another index',
    );
    const index = fileCompiledIndex(path);
    assert.not.ok(index.has('fn main() {}'));
    index.add(['fn main() {}', 'fn main() {}', 'fn other() {}']);
    assert.ok(index.has('fn main() {}'));
    index.add(['fn main() {}']);
    assert.is(readFileSync(path, 'utf8').trim().split('\n').length, 2, 'one line per program');
    const later = fileCompiledIndex(path);
    assert.ok(later.has('fn other() {}') && !later.has('fn third() {}'), 'what an earlier process compiled');
    // A folder that cannot be made (a file is in the way): nothing is remembered, nothing throws.
    writeFileSync(join(dir, 'file'), '');
    const blocked = fileCompiledIndex(join(dir, 'file', 'compiled.txt'));
    blocked.add(['fn main() {}']);
    assert.ok(blocked.has('fn main() {}'), 'still known in this process');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('programs the index knows are left to the main queue; the rest are added once the main queue is done', async () => {
  const known = new Set<string>(['b', 'c']);
  const index = {
    has: (code: string) => known.has(code),
    add: (codes: readonly string[]) => codes.forEach((c) => known.add(c)),
  };
  const helper = new CompileAhead((await requestWebGPU()).device, index);
  const program = (value: number) => `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(8) fn main(@builtin(global_invocation_id) id: vec3u) { y[id.x] = ${value}.0; }`;
  let finish!: () => void;
  const mainDone = new Promise<void>((resolve) => (finish = resolve));
  // Only 'a' and one fresh program are new: the main queue takes the first, this device the other.
  helper.compile(
    [
      { name: 'a', code: program(1) },
      { name: 'b', code: 'b' },
      { name: 'c', code: 'c' },
      { name: 'd', code: program(2) },
    ],
    mainDone,
  );
  await helper.idle();
  assert.is(helper.error, null);
  assert.is(helper.compiled, 1);
  assert.not.ok(known.has(program(1)), 'not before the main queue is done');
  finish();
  await mainDone;
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.ok(known.has(program(1)) && known.has(program(2)));
  // Everything known now: nothing to compile ahead.
  helper.compile(
    [
      { name: 'a', code: program(1) },
      { name: 'd', code: program(2) },
    ],
    Promise.resolve(),
  );
  await helper.idle();
  assert.is(helper.compiled, 1);
  helper.dispose();
});

test.run();
