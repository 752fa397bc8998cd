// Train SmallCNN on MNIST with YOPO-m-n from code, with a progress callback, then save a checkpoint.
//   node examples/train_yopo.mjs --train 2000 --test 200 --batch 64 --out runs/example
import {
  BatchLoader,
  Random,
  SmallCNN,
  loadDataset,
  parseAttack,
  saveModel,
  subset,
  train,
  useCpu,
  useWebGPU,
  yopo,
} from 'yopo';
import { mkdirSync } from 'node:fs';
import { settings } from './args.mjs';

const s = settings({
  train: 2000,
  test: 200,
  batch: 64,
  epochs: 1,
  m: 5,
  n: 10,
  attack: 'pgd-20',
  backend: 'webgpu',
  out: '',
});
if (s.backend === 'cpu') useCpu();
else await useWebGPU();

const trainSet = subset(loadDataset('mnist', 'train'), s.train);
const testSet = subset(loadDataset('mnist', 'test'), s.test);
const model = new SmallCNN(new Random(0));
const batches = new BatchLoader(trainSet, { batchSize: s.batch, shuffle: true, seed: 0 });
const result = await train({
  model,
  method: yopo({ m: s.m, n: s.n, eps: 0.3, sigma: 0.01 }),
  batches,
  epochs: s.epochs,
  hyper: { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
  seed: 0,
  evalData: testSet,
  evalAttack: parseAttack(s.attack, 0.3, 0.01),
  // Progress: called after every step with the loss, accuracy on the batch, learning rate and speed.
  onStep: (r) =>
    console.log(
      `step ${r.step}/${batches.batchesPerEpoch * s.epochs}: loss ${r.loss.toFixed(3)}, ${r.images_per_s.toFixed(0)} images/s`,
    ),
  onEvaluate: (r) =>
    console.log(
      `eval after ${r.step} steps: clean ${(100 * r.clean_accuracy).toFixed(1)}%, ${r.attack} ${(100 * r.robust_accuracy).toFixed(1)}%`,
    ),
});
console.log(`stopped by ${result.stoppedBy} after ${result.position.step} steps`);
if (s.out) {
  mkdirSync(s.out, { recursive: true });
  await saveModel(`${s.out}/model.safetensors`, model);
  console.log(`saved ${s.out}/model.safetensors`);
}
