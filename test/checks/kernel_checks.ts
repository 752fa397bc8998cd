// Elementwise and matmul kernels against the CPU reference on random inputs of odd sizes (and sizes
// that take the vec4 paths), as checks that run in Node and in Chromium alike.

import { type Backend, Random, type Tensor, add, exp, matmul, mul, passIfPositive, relu, setBackend, sub, tensor } from '../../browser.js';
import { type Check, type CheckEnv, expectClose } from './check.js';

function random(seed: number, size: number): Float32Array {
  return new Random(seed).fillUniform(new Float32Array(size), -2, 2) as Float32Array;
}

/** The same op on both backends from the same host inputs; returns [gpu, cpu] results. */
async function both(env: CheckEnv, inputs: { values: Float32Array; shape: number[] }[], op: (...xs: Tensor[]) => Tensor): Promise<[Float32Array, Float32Array]> {
  const run = async (backend: Backend) => {
    setBackend(backend);
    const xs = inputs.map((i) => tensor(i.values, i.shape));
    const y = op(...xs);
    const out = Float32Array.from(await y.data());
    for (const t of [...xs, y]) t.dispose();
    return out;
  };
  return [await run(env.gpu), await run(env.cpu)];
}

function elementwise(name: string, arity: 1 | 2, op: (...xs: Tensor[]) => Tensor, shapes: number[][]): Check[] {
  return shapes.map((shape) => ({
    name: `${name} ${shape.join('x')}`,
    async run(env) {
      const size = shape.reduce((a, b) => a * b, 1);
      const inputs = Array.from({ length: arity }, (_, k) => ({ values: random(17 + k, size), shape }));
      const [gpu, cpu] = await both(env, inputs, op);
      expectClose(gpu, cpu, `${name} ${shape.join('x')}`);
    },
  }));
}

function matmulCheck(m: number, k: number, n: number): Check {
  return {
    name: `matmul ${m}x${k} @ ${k}x${n}`,
    async run(env) {
      const [gpu, cpu] = await both(env, [{ values: random(3, m * k), shape: [m, k] }, { values: random(4, k * n), shape: [k, n] }], (a, b) => matmul(a, b));
      expectClose(gpu, cpu, `matmul ${m}x${k}x${n}`, 1e-4, 1e-4);
    },
  };
}

// 3x37 (111, odd: scalar path) and 4x64 (256: vec4 path).
const SHAPES = [[3, 37], [4, 64]];

export const checks: Check[] = [
  ...elementwise('relu', 1, (x) => relu(x), SHAPES),
  ...elementwise('exp', 1, (x) => exp(x), SHAPES),
  ...elementwise('add', 2, (a, b) => add(a, b), SHAPES),
  ...elementwise('sub', 2, (a, b) => sub(a, b), SHAPES),
  ...elementwise('mul', 2, (a, b) => mul(a, b), SHAPES),
  ...elementwise('passIfPositive', 2, (x, dy) => passIfPositive(x, dy), SHAPES),
  matmulCheck(7, 13, 5),
  matmulCheck(33, 65, 17),
];
