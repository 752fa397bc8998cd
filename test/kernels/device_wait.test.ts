// Waiting for the GPU leaves the CPU to the GPU. Dawn's Node bindings settle a readback or the queue's
// end by polling on every turn of the event loop, which kept the main thread at a full core while it
// waited; on a software adapter (lavapipe) that core is one the kernels need. kernels/webgpu/dawn.ts
// sleeps briefly on each turn while a wait is pending. Measured here: the main thread's CPU time
// during a wait for about a second of queued matmuls, against the wait's wall time (66–78% of it
// before, 7–8% after, on the reference machine).

import { existsSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random, type Tensor, keep, matmul, randn, setBackend } from '../../engine/index.js';
import { webgpu } from '../helpers.js';

const STAT = `/proc/self/task/${process.pid}/stat`;

/** CPU time (user + system) of this process's main thread in ms, from Linux's /proc (10 ms ticks). */
function mainThreadCpuMs(): number {
  const stat = readFileSync(STAT, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

test('a wait for the GPU does not keep the main thread busy', async () => {
  if (!existsSync(STAT)) {
    console.log(`  no ${STAT} (not Linux): the main thread's CPU time cannot be read here`);
    return;
  }
  const be = await webgpu();
  setBackend(be);
  const a = keep(randn([384, 384], new Random(1)));
  const chain = (length: number): Tensor => {
    let x = a;
    for (let i = 0; i < length; i++) {
      const y = matmul(x, a);
      if (x !== a) x.dispose();
      x = y;
    }
    return x;
  };
  chain(2).dispose();
  await be.sync();
  // Queue enough work for a long wait, so that 10 ms ticks of CPU time are a small error.
  let wall = 0;
  let cpu = 0;
  for (let round = 0; round < 5 && wall < 800; round++) {
    const out = chain(100);
    const c0 = mainThreadCpuMs();
    const t0 = performance.now();
    await be.sync();
    wall += performance.now() - t0;
    cpu += mainThreadCpuMs() - c0;
    out.dispose();
  }
  a.dispose();
  assert.ok(wall > 200, `the queued work should take a while to wait for: ${wall.toFixed(0)} ms`);
  assert.ok(
    cpu < 0.35 * wall,
    `the main thread used ${cpu} ms of CPU during ${wall.toFixed(0)} ms of waiting (${((100 * cpu) / wall).toFixed(0)}%): it should sleep while the GPU works`,
  );
});

test.run();
