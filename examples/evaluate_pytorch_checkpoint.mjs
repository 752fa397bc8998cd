// Evaluate a SmallCNN checkpoint exported from PyTorch: a safetensors file with PyTorch's parameter
// names and layouts, as written by
//   from safetensors.torch import save_file; save_file(model.state_dict(), "model.safetensors")
// for the SmallCNN of the TRADES/YOPO repositories (conv1.weight [32,1,3,3], feature_extractor.conv2.*,
// classifier.fc1.weight [200,1024], …). Names and shapes are checked; a mismatch names the tensor.
//   node examples/evaluate_pytorch_checkpoint.mjs --checkpoint model.safetensors --test 1000 --attack pgd-20
import { Random, SmallCNN, evaluate, loadDataset, loadModel, parseAttack, subset, useCpu, useWebGPU } from 'yopo';
import { settings } from './args.mjs';

const s = settings({
  checkpoint: 'model.safetensors',
  test: 1000,
  attack: 'pgd-20',
  eps: 0.3,
  alpha: 0.01,
  batch: 200,
  backend: 'webgpu',
});
if (s.backend === 'cpu') useCpu();
else await useWebGPU();

const model = new SmallCNN(new Random(0)); // initial weights are replaced by the checkpoint's
const metadata = await loadModel(s.checkpoint, model);
console.log(`loaded ${s.checkpoint} (${model.parameterCount()} parameters, metadata ${JSON.stringify(metadata)})`);
const r = await evaluate(model, subset(loadDataset('mnist', 'test'), s.test), parseAttack(s.attack, s.eps, s.alpha), {
  batchSize: s.batch,
  seed: 0,
});
console.log(
  `clean accuracy ${(100 * r.clean_accuracy).toFixed(1)}%, ${r.attack} (eps ${r.eps}) accuracy ${(100 * r.robust_accuracy).toFixed(1)}% on ${r.n} images`,
);
console.log(JSON.stringify(r));
