// What a batch size the process has not run yet costs: the pipelines compiled by an APGD-CE attack
// (3 iterations, every row attacked) and a natural training step on SmallCNN at batch 200, then at
// new sizes (48 and 37: an attack's padded and unpadded row counts), by kernel name. On lavapipe a
// pipeline costs about 0.9 s to compile with an empty Mesa cache; the attacks pad their rows to a
// ladder of sizes (yopo/attacks/rows.ts) to meet fewer sizes.
//   node scripts/new-batch-size.mjs   (npm run -s build first; it imports dist/)
import { Random, argmax, noGrad, tidy } from '../dist/engine/index.js';
import { useWebGPU } from '../dist/kernels/index.js';
import { countPipelines } from './count-pipelines.mjs';
import { parseMethod, threatModel, trainingDefaults } from '../dist/yopo/defaults.js';
import { apgdAttack } from '../dist/yopo/attacks/index.js';
import { buildModel, randomBatch } from '../dist/bench/workload.js';

const backend = await useWebGPU();
const gpu = backend.gpu;
const compiled = countPipelines(gpu);
const model = buildModel({ name: 'smallcnn', dataset: 'mnist' });
const method = parseMethod('natural', threatModel('mnist'));
const d = trainingDefaults('mnist', 'natural', 'smallcnn');
method.init(model, { lr: d.lr, momentum: 0.9, weightDecay: d.weightDecay });

async function atBatch(batch) {
  compiled.clear();
  const started = performance.now();
  const { x, y } = randomBatch(model, batch, batch);
  model.eval();
  // The model's own predictions as labels: every row is attacked for every iteration.
  const predicted = noGrad(() => tidy(() => argmax(model.forward(x), 1)));
  const labels = Int32Array.from(await predicted.data());
  predicted.dispose();
  const adv = await apgdAttack(model, x, labels, { eps: 0.3, norm: 'linf', steps: 3 }, new Random(batch));
  adv.dispose();
  const attack = new Map(compiled);
  compiled.clear();
  model.train();
  const out = method.step(model, x, y, new Random(batch));
  await out.loss.data();
  for (const o of [out.loss, out.logits, out.adversary]) o?.dispose();
  x.dispose();
  y.dispose();
  await backend.sync();
  const count = (m) => [...m.values()].reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({ batch, seconds: +((performance.now() - started) / 1000).toFixed(1), attackPipelines: count(attack), trainStepPipelines: count(compiled) }));
  if (process.argv.includes('--names')) console.log(JSON.stringify({ attack: Object.fromEntries(attack), trainStep: Object.fromEntries(compiled) }));
}

for (const batch of [200, 48, 37]) await atBatch(batch);
backend.dispose();
