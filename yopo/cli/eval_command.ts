// yopo eval: clean and robust accuracy of a checkpoint on held-out test images.

import { loadModel } from '../../nn/index.js';
import { threatModel } from '../defaults.js';
import { evaluate, parseAttack } from '../evaluate.js';
import { Progress } from '../report/index.js';
import { type CommandSpec, UsageError, parseCommand, parseFraction } from './args.js';
import { explainDeviceLimit } from './device_limit.js';
import { BACKENDS, buildModel, loadSplit, openBackend } from './session.js';

export const evalSpec = {
  name: 'eval',
  summary: 'measure clean and robust accuracy of a checkpoint',
  usage: 'eval --checkpoint FILE --data mnist|fashion-mnist|cifar10 --model NAME --attack fgsm|pgd-K|cw-K [options]',
  options: {
    checkpoint: { type: 'string', valueName: 'FILE', help: 'model.safetensors written by yopo train (required)' },
    data: { type: 'string', default: 'mnist', choices: ['mnist', 'fashion-mnist', 'cifar10'], help: 'dataset (its test split is used)' },
    'data-dir': { type: 'string', valueName: 'DIR', help: 'folder with the dataset files' },
    model: { type: 'string', default: 'smallcnn', choices: ['smallcnn', 'preact-resnet18', 'wrn-34-10'], help: 'network of the checkpoint' },
    attack: { type: 'string', default: 'pgd-20', valueName: 'ATTACK', help: 'none, fgsm, pgd-K or cw-K' },
    eps: { type: 'string', valueName: 'EPS', help: 'L∞ radius (default 0.3 for MNIST, 8/255 for CIFAR-10)' },
    step: { type: 'string', valueName: 'SIZE', help: 'attack step size (default 0.01 for MNIST, 2/255 for CIFAR-10)' },
    restarts: { type: 'number', default: 1, integer: true, min: 1, help: 'random restarts of PGD/CW' },
    limit: { type: 'number', integer: true, min: 1, help: 'evaluate the first N test images only' },
    'batch-size': { type: 'number', default: 200, integer: true, min: 1, help: 'images per batch' },
    seed: { type: 'number', default: 0, integer: true, help: 'seed of the random starts' },
    backend: { type: 'string', default: 'webgpu', choices: BACKENDS, help: 'compute backend' },
    json: { type: 'boolean', help: 'print one JSON object on stdout instead of text' },
  },
} as const satisfies CommandSpec;

export async function evalCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(evalSpec, argv);
  if (!parsed) return;
  const v = parsed.values;
  if (!v.checkpoint) throw new UsageError('yopo eval: --checkpoint FILE is required');
  const data = v.data;
  const threat = threatModel(data);
  const eps = v.eps === undefined ? threat.eps : parseFraction(v.eps, 'eps', 'eval');
  const step = v.step === undefined ? threat.step : parseFraction(v.step, 'step', 'eval');
  let attack;
  try {
    attack = parseAttack(v.attack, eps, step, v.restarts);
  } catch (e) {
    throw new UsageError(`yopo eval: --attack: ${(e as Error).message}`);
  }
  const test = loadSplit('eval', data, v['data-dir'], 'test', v.limit);
  const { backend, description } = await openBackend(v.backend);
  const model = buildModel('eval', v.model, test, 0);
  try {
    await loadModel(v.checkpoint, model);
    const progress = v.json ? null : new Progress({ total: test.count, label: `eval ${v.attack}`, unit: 'image' });
    const r = await evaluate(model, test, attack, { batchSize: v['batch-size'], seed: v.seed, onBatch: (done) => progress?.update(done) }).catch((e) => {
      throw explainDeviceLimit(e, v['batch-size']);
    });
    progress?.finish();
    if (v.json) {
      console.log(JSON.stringify({ ...r, restarts: v.restarts, checkpoint: v.checkpoint, data, model: v.model, adapter: description }));
    } else {
      console.log(`clean accuracy ${(100 * r.clean_accuracy).toFixed(2)}%, robust accuracy ${(100 * r.robust_accuracy).toFixed(2)}% (${r.attack}, ε=${Number(eps.toPrecision(4))}, ${r.n} test images, ${description})`);
    }
  } finally {
    model.dispose();
    await backend.sync();
  }
}
