// Memory: 1,000 training steps on WebGPU leave the live and pooled buffer counts flat (no leak, no
// pool growth) while the loss goes down; tidy / keep / assign / reshape views free exactly what they
// should, on both backends.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Backend,
  Random,
  type SgdOptions,
  Tape,
  type Tensor,
  add,
  exp,
  keep,
  matmul,
  mean,
  mul,
  ones,
  relu,
  reshape,
  setBackend,
  softmaxCrossEntropy,
  square,
  sub,
  sum,
  tensor,
  tidy,
  transpose,
  zeros,
  zerosLike,
} from '../../engine/index.js';
import { cpu, put, randomArray, webgpu } from '../helpers.js';

const live = (backend: Backend) => backend.memory().liveBuffers;

// ---------------------------------------------------------------------------------------------
// A tiny training problem: a 2-layer MLP learning a random linear teacher's classes on a fixed batch.

const BATCH = 32;
const INPUTS = 8;
const HIDDEN = 16;
const CLASSES = 4;

interface Problem {
  x: Float32Array;
  labels: Int32Array;
  params: { values: Float32Array; shape: number[] }[];
}

function makeProblem(seed: number): Problem {
  const rng = new Random(seed);
  const x = Float32Array.from(randomArray(rng, BATCH * INPUTS));
  const teacher = randomArray(rng, INPUTS * CLASSES);
  const labels = new Int32Array(BATCH);
  for (let r = 0; r < BATCH; r++) {
    let best = -Infinity;
    for (let c = 0; c < CLASSES; c++) {
      let v = 0;
      for (let i = 0; i < INPUTS; i++) v += x[r * INPUTS + i] * teacher[i * CLASSES + c];
      if (v > best) {
        best = v;
        labels[r] = c;
      }
    }
  }
  const init = (shape: number[], scale: number) => ({
    values: Float32Array.from(
      randomArray(
        rng,
        shape.reduce((a, b) => a * b, 1),
        -scale,
        scale,
      ),
    ),
    shape,
  });
  return {
    x,
    labels,
    params: [init([INPUTS, HIDDEN], 0.5), init([HIDDEN], 0.1), init([HIDDEN, CLASSES], 0.5), init([CLASSES], 0.1)],
  };
}

class Trainer {
  readonly x: Tensor;
  readonly labels: Tensor;
  readonly params: Tensor[];
  readonly momenta: Tensor[];
  readonly options: SgdOptions = { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: false };

  constructor(
    readonly backend: Backend,
    problem: Problem,
  ) {
    this.x = put(backend, problem.x, [BATCH, INPUTS]);
    this.labels = put(backend, problem.labels, [BATCH]);
    this.params = problem.params.map((p) => put(backend, p.values, p.shape));
    setBackend(backend);
    this.momenta = this.params.map((p) => zerosLike(p));
  }

  loss(): Tensor {
    const [w1, b1, w2, b2] = this.params;
    const h = relu(add(matmul(this.x, w1), b1));
    return softmaxCrossEntropy(add(matmul(h, w2), b2), this.labels);
  }

  /** One step: forward, tape gradient, in-place SGD on the parameters' storage, all in a tidy. */
  step(returnLoss: boolean): Tensor | null {
    setBackend(this.backend);
    return tidy(() => {
      const tape = new Tape();
      const loss = tape.record(() => this.loss());
      const grads = tape.gradient(loss, this.params);
      this.params.forEach((p, i) =>
        this.backend.sgdUpdate(p.storage, grads[i].storage, this.momenta[i].storage, p.size, this.options),
      );
      return returnLoss ? loss : null;
    });
  }

  dispose(): void {
    for (const t of [this.x, this.labels, ...this.params, ...this.momenta]) t.dispose();
  }
}

test('WebGPU: 1,000 training steps keep live and pooled buffers flat while the loss decreases', async () => {
  const gpu = await webgpu();
  await gpu.sync();
  const before = gpu.memory();
  const trainer = new Trainer(gpu, makeProblem(11));
  const first = trainer.step(true)!;
  const firstLoss = await first.item();
  first.dispose();
  let afterTen: ReturnType<Backend['memory']> | null = null;
  for (let step = 2; step <= 1000; step++) {
    const last = trainer.step(step === 1000);
    if (step === 10) {
      await gpu.sync();
      afterTen = gpu.memory();
    }
    if (step % 100 === 0 && !last) await gpu.sync();
    if (last) {
      const finalLoss = await last.item();
      last.dispose();
      assert.ok(Number.isFinite(finalLoss), `final loss ${finalLoss}`);
      assert.ok(finalLoss < 0.1 * firstLoss, `loss should fall well below its start: ${firstLoss} → ${finalLoss}`);
    }
  }
  await gpu.sync();
  const afterThousand = gpu.memory();
  assert.ok(afterTen);
  assert.is(
    afterThousand.liveBuffers,
    afterTen.liveBuffers,
    `live buffers after step 10 (${afterTen.liveBuffers}) and 1000 (${afterThousand.liveBuffers})`,
  );
  assert.is(
    afterThousand.pooledBuffers,
    afterTen.pooledBuffers,
    `pooled buffers after step 10 (${afterTen.pooledBuffers}) and 1000 (${afterThousand.pooledBuffers})`,
  );
  assert.is(afterThousand.liveBytes, afterTen.liveBytes);
  assert.is(afterThousand.pooledBytes, afterTen.pooledBytes);
  // Only the trainer's tensors are alive: batch, labels, 4 parameters, 4 momentum buffers.
  assert.is(afterThousand.liveBuffers - before.liveBuffers, 10);
  trainer.dispose();
  assert.is(gpu.memory().liveBuffers, before.liveBuffers);
});

test('CPU: the same training loop returns the live count to its start value, and matches WebGPU', async () => {
  const gpu = await webgpu();
  const start = live(cpu);
  const problem = makeProblem(5);
  const onCpu = new Trainer(cpu, problem);
  const onGpu = new Trainer(gpu, problem);
  for (let step = 0; step < 20; step++) {
    onCpu.step(false);
    onGpu.step(false);
  }
  assert.is(live(cpu) - start, 10);
  for (let i = 0; i < 4; i++) {
    const c = await onCpu.params[i].data();
    const g = await onGpu.params[i].data();
    for (let j = 0; j < c.length; j++)
      assert.ok(
        Math.abs(c[j] - g[j]) <= 1e-4 + 1e-3 * Math.abs(c[j]),
        `param ${i}[${j}]: cpu ${c[j]} vs webgpu ${g[j]} after 20 steps`,
      );
  }
  onCpu.dispose();
  onGpu.dispose();
  assert.is(live(cpu), start);
});

// ---------------------------------------------------------------------------------------------
// Scopes

async function scopeChecks(backend: Backend): Promise<void> {
  setBackend(backend);
  const start = live(backend);

  // Intermediates are disposed; the returned tensor survives.
  let inner: Tensor[] = [];
  const result = tidy(() => {
    const a = ones([3, 4]);
    const b = exp(a);
    const c = add(a, b);
    inner = [a, b];
    return c;
  });
  assert.ok(
    inner.every((t) => t.isDisposed),
    `${backend.name}: intermediates disposed`,
  );
  assert.not.ok(result.isDisposed);
  assert.is(live(backend), start + 1);
  assert.ok(Math.abs((await result.data())[0] - (1 + Math.E)) < 1e-5);
  result.dispose();
  assert.is(live(backend), start);

  // Tensors anywhere in a returned object/array/Map survive; the rest do not.
  let dropped: Tensor[] = [];
  const nested = tidy(() => {
    const a = ones([2]);
    const b = zeros([3]);
    const c = add(a, a);
    const d = mul(c, c);
    const e = square(d);
    const f = tensor([1, 2, 3]);
    dropped = [c, d];
    return { first: a, list: [b, { deep: e }], map: new Map([['f', f]]), note: 'text', n: 3 };
  });
  assert.ok(
    dropped.every((t) => t.isDisposed),
    `${backend.name}: unreturned tensors disposed`,
  );
  const kept = [
    nested.first,
    nested.list[0] as Tensor,
    (nested.list[1] as { deep: Tensor }).deep,
    nested.map.get('f')!,
  ];
  assert.ok(
    kept.every((t) => !t.isDisposed),
    `${backend.name}: returned tensors alive`,
  );
  assert.equal(Array.from(await (nested.list[1] as { deep: Tensor }).deep.data()), [16, 16]);
  assert.is(live(backend), start + 4);
  kept.forEach((t) => t.dispose());
  assert.is(live(backend), start);

  // Nested scopes: a tensor returned from an inner scope belongs to the outer one.
  let fromInner!: Tensor;
  const outer = tidy(() => {
    fromInner = tidy(() => {
      ones([5]);
      return zeros([5]);
    });
    assert.not.ok(fromInner.isDisposed);
    assert.is(live(backend), start + 1);
    return add(fromInner, fromInner);
  });
  assert.ok(fromInner.isDisposed, `${backend.name}: inner result disposed by the outer scope`);
  assert.is(live(backend), start + 1);
  outer.dispose();

  // keep(): survives every enclosing scope.
  let held!: Tensor;
  tidy(() => {
    tidy(() => {
      held = keep(ones([2, 2]));
      zeros([2]);
    });
  });
  assert.not.ok(held.isDisposed);
  assert.is(live(backend), start + 1);
  held.dispose();
  assert.is(live(backend), start);

  // A throwing function disposes what it created and rethrows.
  let created!: Tensor;
  assert.throws(
    () =>
      tidy(() => {
        created = ones([4]);
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.ok(created.isDisposed);
  assert.is(live(backend), start);
  // Async functions are refused (their tensors would escape the scope).
  assert.throws(
    () => tidy((async () => ones([1])) as unknown as () => Tensor),
    /tidy only works with synchronous functions/,
  );
  // Tensors made outside any scope live until disposed by hand.
  const free = ones([3]);
  tidy(() => {
    add(free, free);
  });
  assert.not.ok(free.isDisposed);
  free.dispose();

  // A tape gradient inside tidy frees every intermediate; only the gradients come out.
  const x = tensor([0.5, -1, 2]);
  const w = tensor([3, 1, -2]);
  const before = live(backend);
  const [gx, gw] = tidy(() => {
    const tape = new Tape();
    const loss = tape.record(() => mean(square(sub(mul(x, w), relu(x)))));
    return tape.gradient(loss, [x, w]);
  });
  assert.is(live(backend), before + 2);
  gx.dispose();
  gw.dispose();
  x.dispose();
  w.dispose();
  assert.is(live(backend), start);
}

test('tidy disposes intermediates, keeps returned tensors (nested too), keep(), errors; CPU and WebGPU', async () => {
  await scopeChecks(cpu);
  await scopeChecks(await webgpu());
});

async function assignAndViewChecks(backend: Backend): Promise<void> {
  setBackend(backend);
  const start = live(backend);

  // assign: a long-lived tensor takes over a value computed in a scope; its old storage is freed.
  const p = tensor([1, 2, 3]);
  for (let i = 0; i < 5; i++) tidy(() => p.assign(add(p, ones([3]))));
  assert.equal(Array.from(await p.data()), [6, 7, 8]);
  assert.is(live(backend), start + 1, `${backend.name}: assign keeps one live storage`);
  const src = tensor([9, 9, 9]);
  p.assign(src);
  assert.ok(src.isDisposed, 'assign disposes its source');
  assert.equal(Array.from(await p.data()), [9, 9, 9]);
  assert.is(live(backend), start + 1);
  tidy(() => {
    assert.throws(
      () => p.assign(zeros([4])),
      /assign: cannot assign a float32 tensor of shape \[4\] to a float32 tensor of shape \[3\]/,
    );
    assert.throws(() => p.assign(zeros([3], 'int32')), /assign: cannot assign a int32 tensor/);
    assert.throws(() => p.assign(zeros([3, 1])), /shape \[3, 1\]/);
  });
  assert.is(p.assign(p), p);
  // A shared storage: assigning a view of another tensor keeps that storage alive for both.
  const q = tensor([[4, 5, 6]]);
  p.assign(reshape(q, [3]));
  assert.is(live(backend), start + 1, 'p gave up its storage and shares q’s');
  q.dispose();
  assert.equal(Array.from(await p.data()), [4, 5, 6]);
  p.dispose();
  assert.is(live(backend), start);

  // reshape views share storage: freed only when the last view is disposed.
  const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  const v = reshape(a, [3, 2]);
  const v2 = reshape(v, [-1]);
  assert.is(live(backend), start + 1, 'views allocate nothing');
  a.dispose();
  assert.ok(a.isDisposed);
  assert.not.ok(v.isDisposed);
  assert.equal(await v.array(), [
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  assert.is(live(backend), start + 1);
  v.dispose();
  assert.equal(Array.from(await v2.data()), [1, 2, 3, 4, 5, 6]);
  assert.is(live(backend), start + 1);
  v2.dispose();
  assert.is(live(backend), start, 'storage freed with the last view');

  // A view returned from tidy keeps the storage; the original is disposed by the scope.
  const flat = tidy(() => reshape(transpose(tensor([1, 2, 3, 4], [2, 2])), [4]));
  assert.equal(Array.from(await flat.data()), [1, 3, 2, 4]);
  assert.is(live(backend), start + 1);
  flat.dispose();
  assert.is(live(backend), start);
}

test('assign and reshape views share storage correctly; CPU and WebGPU', async () => {
  await assignAndViewChecks(cpu);
  await assignAndViewChecks(await webgpu());
});

test('WebGPU: pooled buffers are reused: a repeated computation allocates nothing new', async () => {
  const gpu = await webgpu();
  setBackend(gpu);
  const x = tensor(randomArray(new Random(3), 64 * 33), [64, 33]);
  const run = () => tidy(() => sum(relu(sub(mul(x, x), mean(x, 0))), 1));
  run().dispose();
  await gpu.sync();
  const m1 = gpu.memory();
  const createdBefore = m1.liveBuffers + m1.pooledBuffers;
  for (let i = 0; i < 50; i++) run().dispose();
  await gpu.sync();
  const m2 = gpu.memory();
  assert.is(m2.liveBuffers, m1.liveBuffers);
  assert.is(m2.liveBuffers + m2.pooledBuffers, createdBefore, 'no new buffers were created');
  x.dispose();
});

test.run();
