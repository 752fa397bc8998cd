// Whole models on WebGPU against the CPU reference: same seed, same weights, same batch.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Backend,
  Random,
  Tape,
  type Tensor,
  avgPool2d,
  reshape,
  softmaxCrossEntropy,
  setBackend,
  tensor,
  tidy,
} from '../../engine/index.js';
import { Classifier, PreActBlock, PreActResNet18, SmallCNN } from '../../nn/index.js';
import { assertClose, cpu, maxAbs, webgpu } from '../helpers.js';

async function lossAndGrads(
  backend: Backend,
  make: () => Classifier,
  x: Float32Array,
  shape: number[],
  labels: Int32Array,
) {
  setBackend(backend);
  const net = make();
  const out = tidy(() => {
    const tape = new Tape();
    const loss = tape.record(() => softmaxCrossEntropy(net.forward(tensor(x, shape)), tensor(labels)));
    return [loss, ...tape.gradient(loss, net.parameters())];
  });
  const values = await Promise.all(out.map((t) => t.data()));
  const names = net.namedParameters().map(([n]) => n);
  for (const t of out) t.dispose();
  net.dispose();
  return { loss: values[0][0], grads: values.slice(1), names };
}

function batch(seed: number, n: number, per: number, classes: number) {
  const rng = new Random(seed);
  const x = Float32Array.from({ length: n * per }, () => rng.next());
  const y = Int32Array.from({ length: n }, () => rng.int(classes));
  return { x, y };
}

test('SmallCNN forward and backward on WebGPU match the CPU reference (loss and every gradient)', async () => {
  const gpu = await webgpu();
  const { x, y } = batch(1, 4, 784, 10);
  // fc3 starts at zero (spec); use eval-free training mode but without dropout randomness differing:
  // both backends draw dropout masks from the same seeded generator.
  const make = () => new SmallCNN(new Random(42));
  const a = await lossAndGrads(gpu, make, x, [4, 1, 28, 28], y);
  const b = await lossAndGrads(cpu, make, x, [4, 1, 28, 28], y);
  assert.ok(Math.abs(a.loss - b.loss) < 1e-5 * Math.max(1, Math.abs(b.loss)), `loss ${a.loss} vs ${b.loss}`);
  a.grads.forEach((g, i) =>
    assertClose(g, b.grads[i], `gradient of ${a.names[i]}`, 1e-3, 1e-4 * Math.max(1e-3, maxAbs(b.grads[i]))),
  );
});

test('PreAct blocks (with and without a strided shortcut) match the CPU reference, forward and backward', async () => {
  const gpu = await webgpu();
  for (const [inPlanes, planes, stride] of [
    [5, 6, 2],
    [6, 6, 1],
  ] as const) {
    const { x, y } = batch(3, 2, inPlanes * 9 * 9, planes);
    const make = () => new PooledBlock(inPlanes, planes, stride, new Random(44));
    const a = await lossAndGrads(gpu, make, x, [2, inPlanes, 9, 9], y);
    const b = await lossAndGrads(cpu, make, x, [2, inPlanes, 9, 9], y);
    assert.ok(Math.abs(a.loss - b.loss) < 1e-4 * Math.max(1, Math.abs(b.loss)), `loss ${a.loss} vs ${b.loss}`);
    a.grads.forEach((g, i) =>
      assertClose(
        g,
        b.grads[i],
        `block ${inPlanes}->${planes}/${stride}: gradient of ${a.names[i]}`,
        2e-3,
        2e-3 * Math.max(1e-3, maxAbs(b.grads[i])),
      ),
    );
  }
});

test('PreActResNet18 forward on WebGPU matches the CPU reference', async () => {
  const gpu = await webgpu();
  const { x } = batch(2, 2, 3 * 32 * 32, 10);
  const logits = async (backend: Backend) => {
    setBackend(backend);
    const net = new PreActResNet18(new Random(43));
    const out = await tidy(() => net.forward(tensor(x, [2, 3, 32, 32]))).data();
    net.dispose();
    return out;
  };
  const expected = await logits(cpu);
  assertClose(await logits(gpu), expected, 'PreActResNet18 logits', 1e-3, 1e-3 * maxAbs(expected));
});

/** A PreActBlock followed by global average pooling, as a tiny classifier over `planes` classes. */
class PooledBlock extends Classifier {
  readonly inputShape = [0, 0, 0] as const;
  readonly classes: number;
  private readonly block: PreActBlock;
  constructor(inPlanes: number, planes: number, stride: number, rng: Random) {
    super();
    this.classes = planes;
    this.block = this.registerModule('block', new PreActBlock(inPlanes, planes, stride, rng));
  }
  firstLayer(x: Tensor): Tensor {
    return x;
  }
  rest(z: Tensor): Tensor {
    const y = this.block.forward(z);
    return reshape(avgPool2d(y, y.shape[2]), [y.shape[0], this.classes]);
  }
  firstLayerParameters(): Tensor[] {
    return [];
  }
}

test.run();
