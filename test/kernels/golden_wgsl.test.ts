// Golden WGSL: the shaders the matmul, conv2d and conv_ascent generators emit at fixed configurations,
// compared byte for byte with the files checked in under test/kernels/golden/. A reader sees there what a
// generator produces; a review sees any change to it as a diff of WGSL. A refactor of a generator that
// leaves these files as they are has not changed what runs on the GPU.
//
// Pure string tests: the kernels' host code runs against a Gpu stand-in that records each program's
// WGSL instead of compiling it, so no device is needed. Whether the WGSL computes the right thing is
// the GPU tests' job (kernels_matmul, kernels_conv, conv_ascent, conv_configs).
//
// After a deliberate change to a generator: YOPO_UPDATE_GOLDEN=1 node dist/test/kernels/golden_wgsl.test.js
// rewrites the files (build first), then review `git diff test/kernels/golden` and run that family's GPU tests.

import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Conv2dShape, MatmulShape } from '../../engine/backend.js';
import { conv2d, conv2dBackwardFilter, conv2dBackwardInput } from '../../kernels/conv2d.js';
import { convAscent, convAscentFrom, convMaskedInputGradient } from '../../kernels/conv_ascent.js';
import { backwardFilterConfigOf, rowTileConfigOf } from '../../kernels/conv_plan.js';
import { type MatmulEpilogue, matmulWith } from '../../kernels/matmul.js';
import type { MatmulVariant } from '../../kernels/matmul_plan.js';
import { type Gpu, GpuBuffer } from '../../kernels/webgpu/gpu.js';

/** test/kernels/golden/ in the source tree (this file runs from dist/test/). */
const GOLDEN_DIR = fileURLToPath(new URL('../../../test/kernels/golden/', import.meta.url));
const UPDATE = process.env.YOPO_UPDATE_GOLDEN === '1';

/** A Gpu stand-in: the programs a kernel asks for, in order, with their WGSL; buffers without memory; dispatches dropped. */
function recordingGpu(subgroupSize: number): { gpu: Gpu; programs: { name: string; code: string }[] } {
  const programs: { name: string; code: string }[] = [];
  const seen = new Set<string>();
  const gpu = {
    subgroupSize,
    bindingLimit: 2 ** 27,
    bindingAlignment: 256,
    adapterText: '',
    program(name: string, key: string, source: () => string) {
      // Like Gpu.program: one source per name and key (a pass run twice compiles once).
      if (!seen.has(`${name}|${key}`)) programs.push({ name, code: source() });
      seen.add(`${name}|${key}`);
      return {} as GPUComputePipeline;
    },
    acquire: (bytes: number) => new GpuBuffer({} as GPUBuffer, bytes),
    release: () => undefined,
    dispatch: () => undefined,
    // Like Gpu.derived on a first request: made now, into a new buffer.
    derived(_name: string, _source: unknown, bytes: number, make: (out: GpuBuffer) => void) {
      const out = new GpuBuffer({} as GPUBuffer, bytes);
      make(out);
      return { buffer: out, release: false };
    },
  };
  return { gpu: gpu as unknown as Gpu, programs };
}

const buffer = () => new GpuBuffer({} as GPUBuffer, 4);

function convShape(
  batch: number,
  C: number,
  H: number,
  W: number,
  O: number,
  K: number,
  stride: number,
  padding: number,
): Conv2dShape {
  const out = (size: number) => Math.floor((size + 2 * padding - K) / stride) + 1;
  return {
    batch,
    inChannels: C,
    inHeight: H,
    inWidth: W,
    outChannels: O,
    outHeight: out(H),
    outWidth: out(W),
    kernelHeight: K,
    kernelWidth: K,
    stride,
    padding,
  };
}

/** One golden file: what it shows, and the kernel calls whose programs it holds (subgroup size 0: none). */
interface GoldenCase {
  file: string;
  what: string;
  subgroupSize: number;
  run: (gpu: Gpu) => void;
}

function matmulCase(
  file: string,
  what: string,
  s: MatmulShape,
  variant: MatmulVariant,
  subgroupSize: number,
  epilogue: MatmulEpilogue | null = null,
): GoldenCase {
  return { file, what, subgroupSize, run: (gpu) => matmulWith(gpu, buffer(), buffer(), s, variant, epilogue) };
}

const CASES: GoldenCase[] = [
  matmulCase(
    'matmul-subgroup-64x96x80-sg8.wgsl',
    "matmul, 'subgroup' variant, A·B, m 64, n 96, k 80 (A as vec4 along k, B along n), subgroups of 8",
    { batch: 2, m: 64, n: 96, k: 80, transA: false, transB: false },
    'subgroup',
    8,
  ),
  matmulCase(
    'matmul-subgroup-AtBt-64x96x82-sg8.wgsl',
    "matmul, 'subgroup' variant, Aᵀ·Bᵀ, m 64, n 96, k 82 (A as vec4 along m, B along k, then 2 scalar k-steps), subgroups of 8",
    { batch: 1, m: 64, n: 96, k: 82, transA: true, transB: true },
    'subgroup',
    8,
  ),
  matmulCase(
    'matmul-register-At-62x96x83.wgsl',
    "matmul, 'register' variant, Aᵀ·B, m 62, n 96, k 83 (A one float at a time, B as vec4 along n, 3 scalar k-steps)",
    { batch: 1, m: 62, n: 96, k: 83, transA: true, transB: false },
    'register',
    0,
  ),
  matmulCase(
    'matmul-tiled64-Bt-64x96x80.wgsl',
    "matmul, 'tiled64' variant, A·Bᵀ, m 64, n 96, k 80",
    { batch: 1, m: 64, n: 96, k: 80, transA: false, transB: true },
    'tiled64',
    0,
  ),
  matmulCase(
    'matmul-subgroup-Bt-bias-relu-64x96x80-sg8.wgsl',
    "matmul as a linear layer with ReLU, 'subgroup' variant, A·Bᵀ + bias then ReLU, m 64, n 96, k 80 (the sums start at the bias), subgroups of 8",
    { batch: 1, m: 64, n: 96, k: 80, transA: false, transB: true },
    'subgroup',
    8,
    { bias: buffer(), relu: true },
  ),
  matmulCase(
    'matmul-tiled32-Bt-bias-61x90x83.wgsl',
    "matmul as a linear layer, 'tiled32' variant, A·Bᵀ + bias, m 61, n 90, k 83 (the sums start at the bias)",
    { batch: 1, m: 61, n: 90, k: 83, transA: false, transB: true },
    'tiled32',
    0,
    { bias: buffer(), relu: false },
  ),
  {
    file: 'conv2d-forward-plain-bias-relu-3x12x12to8-k3s1p1.wgsl',
    what: "conv2d forward with bias and ReLU, 'plain' tile, batch 2, 3×12×12 → 8, 3×3 kernel, stride 1, padding 1 (padded copy, weights rows-innermost, row tile)",
    subgroupSize: 0,
    run: (gpu) =>
      conv2d(gpu, buffer(), buffer(), buffer(), convShape(2, 3, 12, 12, 8, 3, 1, 1), rowTileConfigOf('plain', 0), true),
  },
  {
    file: 'conv2d-forward-subgroup-8x10x10to16-k3s1p0-sg8.wgsl',
    what: "conv2d forward, 'subgroup' tile, batch 2, 8×10×10 → 16, 3×3 kernel, stride 1, no padding, subgroups of 8",
    subgroupSize: 8,
    run: (gpu) =>
      conv2d(gpu, buffer(), buffer(), null, convShape(2, 8, 10, 10, 16, 3, 1, 0), rowTileConfigOf('subgroup', 8)),
  },
  {
    file: 'conv2d-backward-input-subgroup-8x8x8to8-k3s2p1-sg8.wgsl',
    what: "conv2d input gradient, 'subgroup' tile, batch 2, 8×8×8 → 8, 3×3 kernel, stride 2, padding 1 (four phases, each its own taps), subgroups of 8",
    subgroupSize: 8,
    run: (gpu) =>
      conv2dBackwardInput(gpu, buffer(), buffer(), convShape(2, 8, 8, 8, 8, 3, 2, 1), rowTileConfigOf('subgroup', 8)),
  },
  {
    file: 'conv2d-backward-filter-plain-3x9x9to4-k3s2p0.wgsl',
    what: "conv2d weight gradient, 'plain' tile, batch 4, 3×9×9 → 4, 3×3 kernel, stride 2, no padding (split-K over the batch, then the sum pass)",
    subgroupSize: 0,
    run: (gpu) =>
      conv2dBackwardFilter(
        gpu,
        buffer(),
        buffer(),
        convShape(4, 3, 9, 9, 4, 3, 2, 0),
        backwardFilterConfigOf('plain', 0),
      ),
  },
  {
    file: 'conv2d-backward-filter-subgroup-8x6x11to8-k3s1p1-sg8.wgsl',
    what: "conv2d weight gradient, 'subgroup' tile, batch 2, 8×6×11 → 8, 3×3 kernel, stride 1, padding 1 (8 columns a step, then a tail of 3), subgroups of 8",
    subgroupSize: 8,
    run: (gpu) =>
      conv2dBackwardFilter(
        gpu,
        buffer(),
        buffer(),
        convShape(2, 8, 6, 11, 8, 3, 1, 1),
        backwardFilterConfigOf('subgroup', 8),
      ),
  },
  {
    file: 'conv2d-backward-filter-bias-relu-subgroup-8x6x11to8-k3s1p1-sg8.wgsl',
    what: "conv2d weight and bias gradients through a fused ReLU, 'subgroup' tile, batch 2, 8×6×11 → 8, 3×3 kernel, stride 1, padding 1 (dy masked as it is loaded, the bias summed by the first workgroup column), subgroups of 8",
    subgroupSize: 8,
    run: (gpu) =>
      conv2dBackwardFilter(
        gpu,
        buffer(),
        buffer(),
        convShape(2, 8, 6, 11, 8, 3, 1, 1),
        backwardFilterConfigOf('subgroup', 8),
        { bias: true, reluMask: buffer() },
      ),
  },
  {
    file: 'conv_ascent-relu-linfstep-1x12x12to8-k3s1p1.wgsl',
    what: 'conv_ascent, ReLU first layer with bias, L∞ step, batch 2, 1×12×12 → 8, 3×3 kernel, stride 1, padding 1 (ReLU mask with the window in registers, then the gradient tile and the step)',
    subgroupSize: 0,
    run: (gpu) =>
      convAscent(gpu, buffer(), buffer(), buffer(), buffer(), buffer(), convShape(2, 1, 12, 12, 8, 3, 1, 1), {
        relu: true,
        output: 'linfStep',
        sigma: 0.01,
        eps: 0.3,
      }),
  },
  {
    file: 'conv_ascent-gradient-3x9x9to4-k3s2p0.wgsl',
    what: 'conv_ascent, first layer without ReLU or bias, gradient output, batch 2, 3×9×9 → 4, 3×3 kernel, stride 2, no padding (the gradient tile alone)',
    subgroupSize: 0,
    run: (gpu) =>
      convAscent(gpu, buffer(), buffer(), buffer(), buffer(), null, convShape(2, 3, 9, 9, 4, 3, 2, 0), {
        relu: false,
        output: 'gradient',
        sigma: 0,
        eps: 0,
      }),
  },
  {
    file: 'conv_ascent-from-base-3x8x8to40-k3s1p1.wgsl',
    what: "conv_ascent from a base, as YOPO runs it: a full pass's base (the ReLU bits, then g₀ = Wᵀ(p ⊙ m₀), output 'raw'), then one L∞ step from it (the bits at η, then the corrected step); ReLU first layer with bias, batch 2, 3×8×8 → 40 (two mask words, the second partly used), 3×3 kernel, stride 1, padding 1, the ReLU mask's window not in registers",
    subgroupSize: 0,
    run: (gpu) => {
      const s = convShape(2, 3, 8, 8, 40, 3, 1, 1);
      const bits0 = buffer();
      convMaskedInputGradient(gpu, buffer(), bits0, buffer(), s);
      convAscentFrom(gpu, buffer(), buffer(), buffer(), buffer(), buffer(), bits0, buffer(), s, {
        output: 'linfStep',
        sigma: 0.01,
        eps: 0.3,
      });
    },
  },
];

/** The golden file's text for a case: a header, then each program's WGSL under its name, in the order the kernel asked for them. */
function generate(c: GoldenCase): string {
  const { gpu, programs } = recordingGpu(c.subgroupSize);
  c.run(gpu);
  const header = [
    `// ${c.what}.`,
    '// Generated by test/kernels/golden_wgsl.test.ts; regenerate with YOPO_UPDATE_GOLDEN=1 node dist/test/kernels/golden_wgsl.test.js.',
  ];
  const bodies = programs.map((p) => `// ---- program '${p.name}' ----\n${p.code}\n`);
  return `${header.join('\n')}\n\n${bodies.join('\n')}`;
}

/** Where two texts first differ: the line number and both lines. */
function firstDifference(expected: string, actual: string): string {
  const [e, a] = [expected.split('\n'), actual.split('\n')];
  let i = 0;
  while (i < Math.max(e.length, a.length) && e[i] === a[i]) i++;
  const show = (line: string | undefined) => (line === undefined ? '(end of file)' : JSON.stringify(line));
  return `first difference at line ${i + 1} (golden ${e.length} lines, generated ${a.length}):\n  golden:    ${show(e[i])}\n  generated: ${show(a[i])}`;
}

for (const c of CASES) {
  test(`${c.file}: ${c.what}`, () => {
    const path = GOLDEN_DIR + c.file;
    const generated = generate(c);
    if (UPDATE) {
      mkdirSync(GOLDEN_DIR, { recursive: true });
      writeFileSync(path, generated);
      return;
    }
    assert.ok(
      existsSync(path),
      `test/kernels/golden/${c.file} is missing: run YOPO_UPDATE_GOLDEN=1 node dist/test/kernels/golden_wgsl.test.js (after npm run build)`,
    );
    const golden = readFileSync(path, 'utf8');
    if (golden !== generated) {
      assert.unreachable(
        `the generated WGSL differs from test/kernels/golden/${c.file}; ${firstDifference(golden, generated)}\n` +
          "If the change is deliberate: YOPO_UPDATE_GOLDEN=1 node dist/test/kernels/golden_wgsl.test.js (after npm run build), review `git diff test/kernels/golden`, and run the kernel family's GPU tests.",
      );
    }
  });
}

test('every file under test/kernels/golden/ belongs to a case (none left behind by a renamed case)', () => {
  const files = existsSync(GOLDEN_DIR) ? readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.wgsl')) : [];
  const known = new Set(CASES.map((c) => c.file));
  assert.equal(
    files.filter((f) => !known.has(f)),
    [],
  );
});

test.run();
