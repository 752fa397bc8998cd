// Our kernels beside TF.js's on the same GPUDevice: square matmuls, and every distinct conv shape of
// the benchmarked models at batch 128 in its three forms (forward, gradient w.r.t. the input,
// gradient w.r.t. the filter). The backend is called directly (no tensors, no tape), so only the
// kernel and its dispatch are timed.

import type { Conv2dShape, Storage } from '../../engine/index.js';
import type { SuiteContext } from '../context.js';
import { convFlops, gflopsPerSecond, matmulFlops } from '../flops.js';
import { convTag, distinctConvShapes, traceLayers } from '../layers.js';
import type { ConvKind, ConvShape, PeerTiming } from '../peer/tfjs.js';
import type { BenchResult } from '../report.js';
import { BATCH, benchModels, buildModel } from '../workload.js';

export const MATMUL_SIZES = [256, 512, 1024] as const;
/** --quick keeps the peer's slowest calls out (TF.js needs 3+ calls per case, seconds each on lavapipe). */
const QUICK_MATMUL_SIZES = [256, 512] as const;
/** --quick: SmallCNN's conv1 (YOPO's f0) and conv2 (over half of SmallCNN's FLOPs). */
const QUICK_CONV_SHAPES = 2;

const KINDS: readonly { kind: ConvKind; tag: string }[] = [
  { kind: 'forward', tag: 'fwd' },
  { kind: 'backward-input', tag: 'bwd-input' },
  { kind: 'backward-filter', tag: 'bwd-filter' },
];

export async function kernelsSuite(ctx: SuiteContext): Promise<void> {
  for (const n of ctx.quick ? QUICK_MATMUL_SIZES : MATMUL_SIZES) {
    const name = `matmul/${n}`;
    if (ctx.wants(name)) await matmul(ctx, name, n);
  }
  for (const s of convShapes(ctx)) {
    for (const { kind, tag } of KINDS) {
      const name = `conv/${tag}/${convTag(s)}`;
      if (ctx.wants(name)) await conv(ctx, name, s, kind);
    }
  }
}

/** Distinct conv shapes of the benchmarked models, traced at batch 128 (building a model costs seconds, not minutes). */
function convShapes(ctx: SuiteContext): Conv2dShape[] {
  const shapes: Conv2dShape[] = [];
  for (const bm of benchModels(ctx.quick)) {
    const model = buildModel(bm);
    try {
      for (const s of distinctConvShapes(traceLayers(model, BATCH)))
        if (!shapes.some((t) => convTag(t) === convTag(s))) shapes.push(s);
    } finally {
      model.dispose();
    }
  }
  return ctx.quick ? shapes.slice(0, QUICK_CONV_SHAPES) : shapes;
}

async function matmul(ctx: SuiteContext, name: string, n: number): Promise<void> {
  const { backend } = ctx;
  const a = backend.fill(n * n, 0.5, 'float32');
  const b = backend.fill(n * n, 0.25, 'float32');
  try {
    ctx.log(`${name}: ${n}x${n} @ ${n}x${n}`);
    const t = await ctx.measure(name, async () => {
      backend.release(backend.matmul(a, b, { batch: 1, m: n, n, k: n, transA: false, transB: false }));
      await backend.sync();
    });
    backend.gpu.checkErrors();
    const peer = await ctx.peer();
    ctx.record(
      withPeer(
        { name, ms: t.ms, samples: t.samples, gflops: gflopsPerSecond(matmulFlops(n, n, n), t.ms) },
        peer ? await peer.matmul(n) : null,
      ),
    );
  } finally {
    backend.release(a);
    backend.release(b);
  }
}

async function conv(ctx: SuiteContext, name: string, s: Conv2dShape, kind: ConvKind): Promise<void> {
  const { backend } = ctx;
  const size = {
    x: s.batch * s.inChannels * s.inHeight * s.inWidth,
    w: s.outChannels * s.inChannels * s.kernelHeight * s.kernelWidth,
    dy: s.batch * s.outChannels * s.outHeight * s.outWidth,
  };
  // No bias: the peer's conv has none, and a bias add is not the work being compared.
  const x = backend.fill(size.x, 0.5, 'float32');
  const w = backend.fill(size.w, 0.01, 'float32');
  const dy = backend.fill(size.dy, 0.01, 'float32');
  const run: Record<ConvKind, () => Storage> = {
    forward: () => backend.conv2d(x, w, null, s),
    'backward-input': () => backend.conv2dBackwardInput(dy, w, s),
    'backward-filter': () => backend.conv2dBackwardFilter(x, dy, s).weight,
  };
  try {
    ctx.log(`${name}: batch ${s.batch}, ${kind}`);
    const t = await ctx.measure(name, async () => {
      backend.release(run[kind]());
      await backend.sync();
    });
    backend.gpu.checkErrors();
    const peer = await ctx.peer();
    ctx.record(
      withPeer(
        { name, ms: t.ms, samples: t.samples, gflops: gflopsPerSecond(convFlops(s), t.ms) },
        peer ? await peer.conv2d(peerShape(s), kind) : null,
      ),
    );
  } finally {
    for (const b of [x, w, dy]) backend.release(b);
  }
}

function withPeer(r: BenchResult, peer: PeerTiming | null): BenchResult {
  return peer ? { ...r, peer_ms: peer.ms, ratio: peer.ms / r.ms } : r;
}

/** The peer states conv shapes its own way (square kernel, input size). */
export function peerShape(s: Conv2dShape): ConvShape {
  if (s.kernelHeight !== s.kernelWidth) throw new Error(`conv ${convTag(s)}: the TF.js peer takes square kernels only`);
  return {
    batch: s.batch,
    inChannels: s.inChannels,
    outChannels: s.outChannels,
    height: s.inHeight,
    width: s.inWidth,
    kernel: s.kernelHeight,
    stride: s.stride,
    padding: s.padding,
  };
}
