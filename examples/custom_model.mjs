// Bring your own model to YOPO. A model is YOPO-ready when it extends Classifier and splits itself as
// forward(x) = rest(firstLayer(x)), where firstLayer is f0, the layer YOPO couples with the adversary:
// YOPO's inner loop re-runs f0 alone n times per full pass, and f0 gets its own optimiser, so
// firstLayerParameters() must return exactly the parameters f0 uses. train() checks this contract on a
// random batch before the first step (checkClassifier) and stops with a clear error if it fails.
//   node examples/custom_model.mjs --model tiny-cnn --train 512 --batch 32
import {
  AvgPool2d,
  BatchLoader,
  BatchNorm2d,
  Classifier,
  Conv2d,
  Flatten,
  Linear,
  Random,
  ReLU,
  Sequential,
  loadDataset,
  parseAttack,
  relu,
  subset,
  train,
  useCpu,
  useWebGPU,
  yopo,
} from 'yopo';
import { settings } from './args.mjs';

/** A small CNN whose first layer is conv + ReLU (like SmallCNN): f0 is nonlinear. */
class TinyCNN extends Classifier {
  inputShape = [1, 28, 28];
  classes = 10;
  constructor(rng) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(1, 8, 3, rng));
    this.body = this.registerModule(
      'body',
      new Sequential([
        ['conv2', new Conv2d(8, 16, 3, rng, { stride: 2 })],
        ['relu2', new ReLU()],
        ['pool', new AvgPool2d(2)],
        ['flatten', new Flatten()],
        ['fc', new Linear(16 * 6 * 6, 10, rng)],
      ]),
    );
  }
  firstLayer(x) {
    return relu(this.conv1.forward(x));
  }
  rest(z) {
    return this.body.forward(z);
  }
  firstLayerParameters() {
    return this.conv1.parameters();
  }
}

/**
 * A pre-activation network whose first layer is a bare convolution (as in PreActResNet18): f0 is
 * linear, f0(x + η) = W∗x + W∗η + b. YOPO's inner step ∇η Σ p·f0(clip(x + η, 0, 1)) = Wᵀ∗p (where
 * x + η is inside [0, 1]) then does not depend on η: the n inner steps all move η along the same
 * sign(Wᵀ∗p), so clipping and the projection onto the ε-ball are what make them differ. BatchNorm
 * sits in rest(), after the split, so f0 is the same in training and evaluation.
 */
class LinearFirstLayerNet extends Classifier {
  inputShape = [1, 28, 28];
  classes = 10;
  constructor(rng) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(1, 8, 3, rng, { padding: 1, bias: false }));
    this.body = this.registerModule(
      'body',
      new Sequential([
        ['bn1', new BatchNorm2d(8)],
        ['relu1', new ReLU()],
        ['conv2', new Conv2d(8, 16, 3, rng, { stride: 2, bias: false })],
        ['bn2', new BatchNorm2d(16)],
        ['relu2', new ReLU()],
        ['pool', new AvgPool2d(2)],
        ['flatten', new Flatten()],
        ['fc', new Linear(16 * 6 * 6, 10, rng)],
      ]),
    );
  }
  firstLayer(x) {
    return this.conv1.forward(x);
  }
  rest(z) {
    return this.body.forward(z);
  }
  firstLayerParameters() {
    return this.conv1.parameters();
  }
}

const s = settings({
  model: 'tiny-cnn',
  train: 512,
  test: 128,
  batch: 32,
  epochs: 1,
  m: 3,
  n: 5,
  attack: 'pgd-10',
  backend: 'webgpu',
});
if (s.backend === 'cpu') useCpu();
else await useWebGPU();

const model = s.model === 'linear-first-layer' ? new LinearFirstLayerNet(new Random(1)) : new TinyCNN(new Random(1));
const result = await train({
  model,
  method: yopo({ m: s.m, n: s.n, eps: 0.3, sigma: 0.01 }),
  batches: new BatchLoader(subset(loadDataset('mnist', 'train'), s.train), {
    batchSize: s.batch,
    shuffle: true,
    seed: 0,
  }),
  epochs: s.epochs,
  hyper: { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
  seed: 0,
  evalData: subset(loadDataset('mnist', 'test'), s.test),
  evalAttack: parseAttack(s.attack, 0.3, 0.01),
  onStep: (r) => console.log(`step ${r.step}: loss ${r.loss.toFixed(3)}`),
});
const e = result.lastEval;
console.log(
  `${s.model} with YOPO-${s.m}-${s.n}: ${model.parameterCount()} parameters, clean ${(100 * e.clean_accuracy).toFixed(1)}%, ${e.attack} ${(100 * e.robust_accuracy).toFixed(1)}% after ${result.position.step} steps`,
);
