// One SmallCNN training step of a method (batch 128, MNIST's threat model and defaults), for the
// scripts that time or profile it. Imports dist/ (npm run -s build first).
import { Random } from '../dist/engine/index.js';
import { parseMethod, threatModel, trainingDefaults } from '../dist/yopo/defaults.js';
import { BATCH, buildModel, randomBatch } from '../dist/bench/workload.js';

/** A step of method `spec` ('natural', 'yopo-5-3', …) on a fixed random batch: step(seed) runs one and waits for the GPU. */
export function smallCnnStep(backend, spec) {
  const model = buildModel({ name: 'smallcnn', dataset: 'mnist' });
  const { x, y } = randomBatch(model, BATCH);
  const method = parseMethod(spec, threatModel('mnist'));
  const d = trainingDefaults('mnist', spec, 'smallcnn');
  method.init(model, { lr: d.lr, momentum: 0.9, weightDecay: d.weightDecay });
  return async (seed) => {
    const out = method.step(model, x, y, new Random(seed));
    await out.loss.data();
    for (const o of [out.loss, out.logits, out.adversary]) o?.dispose();
    await backend.sync();
  };
}
