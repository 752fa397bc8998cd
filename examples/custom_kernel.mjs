// Test your own WGSL kernel against a reference, with yopo's harness (yopo/reference). The kernel
// here, a leaky ReLU y = max(x, slope·x), is not part of yopo: it runs on yopo's WebGPU device, and
// its reference is written with yopo's CPU ops. checkOp draws random inputs (odd sizes), runs the op
// on both backends and returns a report: max error, where, the shapes and the seed.
//   node examples/custom_kernel.mjs
import { Tensor, affine, maximum, useWebGPU } from 'yopo';
import { checkOp, formatReport } from 'yopo/reference';

const SLOPE = 0.01;

/**
 * The kernel: one invocation per element. gpu.program compiles a program once per name and key; the
 * key says what the WGSL depends on (here nothing: the element count comes in a uniform), and the
 * source function runs only when it compiles.
 */
function leakyReluKernel(gpu, x, n) {
  const pipeline = gpu.program(
    'leaky_relu',
    '',
    () => `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
struct Params { n: u32 }
@group(0) @binding(2) var<uniform> u: Params;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= u.n) { return; }
  y[i] = max(x[i], ${SLOPE} * x[i]);
}`,
  );
  const out = gpu.acquire(n * 4); // pooled buffers may be larger than asked: the kernel writes n elements
  gpu.dispatch(pipeline, [x, out], [Math.ceil(n / 64)], new Uint32Array([n])); // the uniform binds after the buffers
  return out;
}

/** The op under test: the WGSL kernel on WebGPU, yopo's ops on the CPU reference. */
const leakyRelu = {
  name: 'leaky ReLU (custom WGSL)',
  inputs: [{ shape: [7, 13], lo: -4, hi: 4 }],
  run: ([x], backend) =>
    backend.name === 'webgpu'
      ? Tensor.fromStorage(backend, leakyReluKernel(backend.gpu, x.storage, x.size), x.shape, 'float32')
      : maximum(x, affine(x, SLOPE, 0)),
  rtol: 1e-6,
  atol: 1e-7,
};

const gpu = await useWebGPU();
let failed = 0;
for (const shape of [[7, 13], [3, 5, 11], [1], [1000, 3]]) {
  const report = await checkOp(gpu, { ...leakyRelu, inputs: [{ shape, lo: -4, hi: 4 }] }, { seed: 42 });
  console.log(formatReport(report));
  if (!report.ok) failed++;
}
// A wrong kernel must be caught: the same check with the slope off by 10x.
const wrong = await checkOp(
  gpu,
  {
    ...leakyRelu,
    name: 'leaky ReLU with a wrong reference slope',
    run: ([x], b) => (b.name === 'webgpu' ? leakyRelu.run([x], b) : maximum(x, affine(x, 0.1, 0))),
  },
  { seed: 42 },
);
console.log(formatReport(wrong).split('\n')[0]);
if (wrong.ok) failed++;
process.exit(failed ? 1 : 0);
