// End to end on real data: YOPO-5-10 against natural training on 5,120 MNIST images (ε = 0.3), both
// judged by PGD-20 on 512 held-out test images. YOPO trains for one epoch (80 steps of 64). Natural
// training gets the same compute budget, fixed as a step count so the test does not depend on the
// machine's load: one YOPO-5-10 step (5 full propagations and 50 first-layer ones) costs about 15
// natural steps here (measured side by side), so natural training runs 15 epochs
// (1,200 steps). Given only YOPO's 80 steps, natural training stays under-trained, and its small
// gradients make PGD-20 with step 0.01 weak against it (27.6% robust): that is not robustness, so it
// would not be a fair baseline. YOPO must come out clearly more robust: adversarial training works
// through the whole stack (data, kernels, autodiff, first-layer re-propagation, SGD, attacks,
// evaluation).
//
// The network is a small CNN of the same shape as SmallCNN (conv + ReLU first layer, conv body,
// fully connected head) but about 20× cheaper, so that robustness appears within the test's time:
// SmallCNN needs about 50 YOPO steps of batch 64 (7 minutes here) before PGD-20 accuracy leaves chance.
// Evaluation runs in batches of 64 too, so it reuses the training's compiled kernels.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random, type Tensor, relu, setBackend } from '../../engine/index.js';
import { Classifier, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '../../nn/index.js';
import {
  type AttackSpec,
  BatchLoader,
  evaluate,
  loadDataset,
  natural,
  parseAttack,
  subset,
  train,
  yopo,
} from '../../yopo/index.js';
import { webgpu } from '../helpers.js';

/** conv1 1→16 3x3 + ReLU (f0), maxpool 2, conv2 16→32 3x3, ReLU, maxpool 2, fc 800→100, ReLU, fc 100→10. */
class TinyCNN extends Classifier {
  readonly inputShape = [1, 28, 28] as const;
  readonly classes = 10;
  readonly conv1: Conv2d;
  readonly body: Sequential;

  constructor(rng: Random) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(1, 16, 3, rng));
    this.body = this.registerModule(
      'body',
      new Sequential([
        ['pool1', new MaxPool2d(2)],
        ['conv2', new Conv2d(16, 32, 3, rng)],
        ['relu2', new ReLU()],
        ['pool2', new MaxPool2d(2)],
        ['flatten', new Flatten()],
        ['fc1', new Linear(32 * 5 * 5, 100, rng)],
        ['relu3', new ReLU()],
        ['fc2', new Linear(100, 10, rng)],
      ]),
    );
  }

  firstLayer(x: Tensor): Tensor {
    return relu(this.conv1.forward(x));
  }

  rest(z: Tensor): Tensor {
    return this.body.forward(z);
  }

  firstLayerParameters(): Tensor[] {
    return this.conv1.parameters();
  }
}

const EPS = 0.3;
const PGD20: AttackSpec = parseAttack('pgd-20', EPS, 0.01);
const hyper = { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 };

test('YOPO-5-10 is clearly more robust to PGD-20 than natural training on the same data budget', async () => {
  setBackend(await webgpu());
  const trainSet = subset(loadDataset('mnist', 'train'), 5120);
  const testSet = subset(loadDataset('mnist', 'test'), 512);
  const batches = new BatchLoader(trainSet, { batchSize: 64, shuffle: true, seed: 3 });

  const robustModel = new TinyCNN(new Random(3));
  const yopoRun = await train({
    model: robustModel,
    method: yopo({ m: 5, n: 10, eps: EPS, sigma: 0.01 }),
    batches,
    epochs: 1,
    hyper,
    seed: 3,
  });
  assert.is(yopoRun.position.step, 80);
  const robust = await evaluate(robustModel, testSet, PGD20, { seed: 11, batchSize: 64 });
  robustModel.dispose();

  const naturalModel = new TinyCNN(new Random(3));
  const naturalRun = await train({ model: naturalModel, method: natural(), batches, epochs: 15, hyper, seed: 3 });
  assert.is(naturalRun.position.step, 1200);
  const plain = await evaluate(naturalModel, testSet, PGD20, { seed: 11, batchSize: 64 });
  naturalModel.dispose();

  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const summary =
    `YOPO-5-10: ${yopoRun.position.step} steps in ${yopoRun.position.elapsed.toFixed(0)} s, clean ${pct(robust.clean_accuracy)}, PGD-20 ${pct(robust.robust_accuracy)}; ` +
    `natural: ${naturalRun.position.step} steps, clean ${pct(plain.clean_accuracy)}, PGD-20 ${pct(plain.robust_accuracy)}`;
  console.log(`  ${summary}`);
  // Natural training learns the clean task well and the attack takes most of it away ...
  assert.ok(plain.clean_accuracy > 0.9, `natural training learns MNIST: ${summary}`);
  assert.ok(
    plain.robust_accuracy < plain.clean_accuracy - 0.6,
    `PGD-20 breaks the naturally trained model: ${summary}`,
  );
  // ... while YOPO's model keeps a large share of its accuracy under the same attack.
  assert.ok(robust.robust_accuracy > 0.2, `YOPO-5-10 is robust: ${summary}`);
  assert.ok(
    robust.robust_accuracy > plain.robust_accuracy + 0.1,
    `YOPO-5-10 beats natural training under PGD-20: ${summary}`,
  );
});

test.run();
