// Prints the TensorFlow.js WebGPU peer's timings on its own device:
//   npx tsc -p . && XDG_RUNTIME_DIR=/tmp node dist/bench/peer/probe.js

import { createTfjsPeer, type ConvShape, type PeerTiming } from './tfjs.js';

const conv: ConvShape = {
  batch: 128,
  inChannels: 32,
  outChannels: 32,
  height: 26,
  width: 26,
  kernel: 3,
  stride: 1,
  padding: 0,
};

function convFlops(s: ConvShape): number {
  const outH = Math.floor((s.height + 2 * s.padding - s.kernel) / s.stride) + 1;
  const outW = Math.floor((s.width + 2 * s.padding - s.kernel) / s.stride) + 1;
  return 2 * s.batch * s.outChannels * outH * outW * s.inChannels * s.kernel * s.kernel;
}

function line(name: string, t: PeerTiming, flops?: number): string {
  const rate = flops === undefined ? '' : `  ${(flops / (t.ms * 1e6)).toFixed(1).padStart(7)} GFLOP/s`;
  return `${name.padEnd(42)} ${t.ms.toFixed(2).padStart(9)} ms  (median of ${t.samples})${rate}`;
}

const peer = await createTfjsPeer();
console.log(peer.description);
try {
  for (const n of [256, 512, 1024]) console.log(line(`matmul ${n}`, await peer.matmul(n), 2 * n ** 3));
  for (const kind of ['forward', 'backward-input', 'backward-filter'] as const) {
    console.log(line(`conv2d ${kind} B128 32→32 26² k3`, await peer.conv2d(conv, kind), convFlops(conv)));
  }
  console.log(line('smallCnnStep(128)', await peer.smallCnnStep(128)));
} finally {
  peer.dispose();
}
