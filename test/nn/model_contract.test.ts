// The YOPO-ready model contract (nn/models/contract.ts) on the CPU backend: the paper's models and a
// custom one pass; models that break each rule fail with an error naming the rule, and train() refuses
// them before the first step.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random, type Tensor, addScalar, relu, useCpu } from '../../engine/index.js';
import {
  BatchNorm2d,
  Classifier,
  Conv2d,
  Flatten,
  Linear,
  ModelContractError,
  SmallCNN,
  checkClassifier,
} from '../../nn/index.js';
import { BatchLoader, randomDataset, train, yopo } from '../../yopo/index.js';

useCpu();

/** Awaits a promise that must reject with a message matching `pattern`. */
async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (e) {
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected an error matching ${pattern}`);
}

/** conv(1→2, 3x3) + ReLU, then BatchNorm, flatten and a linear layer on 6x6 images. Each flag breaks one rule. */
class Tiny extends Classifier {
  readonly inputShape = [1, 6, 6] as const;
  readonly classes = 3;
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  readonly fc: Linear;
  readonly outsider: Conv2d;

  constructor(readonly broken: 'none' | 'forward' | 'foreign-parameter' | 'unlisted-parameter' = 'none') {
    super();
    const rng = new Random(1);
    this.conv = this.registerModule('conv', new Conv2d(1, 2, 3, rng));
    this.bn = this.registerModule('bn', new BatchNorm2d(2));
    this.fc = this.registerModule('fc', new Linear(2 * 4 * 4, 3, rng));
    this.outsider = new Conv2d(1, 2, 3, rng); // not registered: not among parameters()
  }

  firstLayer(x: Tensor): Tensor {
    const z = relu(this.conv.forward(x));
    return this.broken === 'unlisted-parameter' ? relu(this.bn.forward(z)) : z;
  }

  rest(z: Tensor): Tensor {
    return this.fc.forward(new Flatten().forward(this.broken === 'unlisted-parameter' ? z : this.bn.forward(z)));
  }

  override forward(x: Tensor): Tensor {
    const logits = super.forward(x);
    return this.broken === 'forward' ? addScalar(logits, 0.5) : logits;
  }

  firstLayerParameters(): Tensor[] {
    return this.broken === 'foreign-parameter' ? this.outsider.parameters() : this.conv.parameters();
  }
}

test('SmallCNN and a custom model with BatchNorm are YOPO-ready', async () => {
  await checkClassifier(new SmallCNN(new Random(0)));
  const tiny = new Tiny();
  await checkClassifier(tiny);
  assert.ok(tiny.training, 'the check restores training mode');
});

test('forward(x) ≠ rest(firstLayer(x)): a clear error with the worst logit', async () => {
  try {
    await checkClassifier(new Tiny('forward'));
    assert.unreachable('no error');
  } catch (e) {
    assert.instance(e, ModelContractError);
    assert.match(
      (e as Error).message,
      /^Tiny is not YOPO-ready: forward\(x\) differs from rest\(firstLayer\(x\)\) on a random batch in eval mode: 6 of 6 elements off; worst \[\d,\d\]/,
    );
  }
});

test("firstLayerParameters() returning tensors that are not the model's: a clear error", async () => {
  await rejects(
    checkClassifier(new Tiny('foreign-parameter')),
    /Tiny is not YOPO-ready: firstLayerParameters\(\)\[0\] \(shape \[2,1,3,3\]\) is not one of the model's parameters\(\)/,
  );
});

test('firstLayer using a parameter firstLayerParameters() does not list: the parameter is named', async () => {
  await rejects(
    checkClassifier(new Tiny('unlisted-parameter')),
    /Tiny is not YOPO-ready: firstLayer\(x\) depends on parameter 'bn\.(weight|bias)', which firstLayerParameters\(\) does not list/,
  );
});

test('firstLayerConv() that does not compute firstLayer (a ReLU left out): a clear error', async () => {
  // A SmallCNN whose description of conv1 + ReLU forgets the ReLU: the fused inner step would be wrong.
  class Misdescribed extends SmallCNN {
    override firstLayerConv() {
      return { ...this.conv1.asFirstLayer(), relu: false };
    }
  }
  await rejects(
    checkClassifier(new Misdescribed(new Random(5))),
    /Misdescribed is not YOPO-ready: firstLayerConv\(\) does not compute firstLayer\(x\) on a random batch/,
  );
});

test('train() refuses a broken model before the first step', async () => {
  const data = randomDataset('tiny', 16, [1, 6, 6], 3, new Random(2));
  let steps = 0;
  await rejects(
    train({
      model: new Tiny('forward'),
      method: yopo({ m: 1, n: 1, eps: 0.1, sigma: 0.05 }),
      batches: new BatchLoader(data, { batchSize: 8, shuffle: false, seed: 0 }),
      epochs: 1,
      hyper: { lr: 0.1, momentum: 0, weightDecay: 0 },
      seed: 0,
      onStep: () => void steps++,
    }),
    /not YOPO-ready/,
  );
  assert.is(steps, 0);
});

test.run();
