// yopo tune: measures every kernel variant on this adapter for the shapes one training step of a model
// runs (forward and backward at a batch size), keeps the fastest per shape in the tuning cache
// (kernels/tune.ts), and prints the choices and times. Training then runs the chosen variants
// without measuring at first use.

import { Random, Tape, randn, softmaxCrossEntropy, tensor, tidy } from '../engine/index.js';
import { adapterName } from '../kernels/webgpu/device.js';
import { type WebGPUBackend, tunerOf } from '../kernels/index.js';
import { MODEL_NAMES, createModel } from '../nn/index.js';
import { type CommandSpec, parseCommand } from './args.js';
import { checkMayWrite } from './file_ownership.js';
import { openBackend } from './session.js';

/** Options of `yopo tune`. */
export const tuneSpec = {
  name: 'tune',
  summary: "time each kernel variant for a model's shapes on this adapter and cache the fastest",
  usage: 'tune [--model NAME] [--batch-size N] [--json]',
  options: {
    model: { type: 'string', default: 'smallcnn', choices: MODEL_NAMES, help: 'the model whose training step to tune' },
    'batch-size': { type: 'number', integer: true, min: 1, default: 256, help: 'batch size of the training step' },
    json: {
      type: 'boolean',
      help: 'print one JSON object: { adapter, cache, mode, choices: [{ op, shape, variant, ms }] }',
    },
    force: { type: 'boolean', help: 'replace the cache file even if it is not a tuning cache yopo wrote' },
  },
} as const satisfies CommandSpec;

/** `yopo tune`: one forward and backward of the model on random images, then every kernel shape it ran, timed per variant. */
export async function tuneCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(tuneSpec, argv);
  if (!parsed) return;
  const { model: name, 'batch-size': batch, json } = parsed.values;
  const { backend, description } = await openBackend('webgpu');
  const tuner = tunerOf((backend as WebGPUBackend).gpu)!;
  // The cache is rewritten after each shape: never over a file that is not one (file_ownership.ts).
  if (tuner.where() !== 'memory only')
    checkMayWrite('tune', { path: tuner.where(), kind: 'tuning-cache', createsFolder: true }, parsed.values.force);
  const model = createModel(name, new Random(0));
  const rng = new Random(1);
  const x = randn([batch, ...model.inputShape], rng);
  const y = tensor(
    Int32Array.from({ length: batch }, (_, i) => i % model.classes),
    [batch],
    'int32',
  );
  model.train();
  // Record the step's kernel shapes (whatever YOPO_TUNE says), then measure each.
  const shapes = tuner.collect(() =>
    tidy(() => {
      const tape = new Tape();
      const loss = tape.record(() => softmaxCrossEntropy(model.forward(x), y));
      tape.gradient(loss, model.parameters());
    }),
  );
  await (backend as WebGPUBackend).gpu.sync();
  if (!json) {
    console.log(
      `tuning ${shapes.length} kernel shape${shapes.length === 1 ? '' : 's'} of ${name} at batch ${batch} on ${description}`,
    );
  }
  const choices: { op: string; shape: string; variant: string; ms: Record<string, number> }[] = [];
  for (const s of shapes) {
    const choice = await tuner.tune(s.op, s.shape);
    const [op, ...rest] = s.key.split(' ');
    choices.push({ op, shape: rest.join(' '), ...choice });
    if (!json) {
      const times = Object.entries(choice.ms)
        .map(([v, ms]) => `${v} ${ms.toFixed(3)} ms`)
        .join('  ');
      console.log(`${s.key.padEnd(28)} ${times}  → ${choice.variant}`);
    }
  }
  x.dispose();
  y.dispose();
  model.dispose();
  const adapter = (backend as WebGPUBackend).adapter;
  if (json) {
    console.log(
      JSON.stringify({
        adapter: adapter ? adapterName(adapter) : description,
        cache: tuner.where(),
        mode: tuner.mode,
        choices,
      }),
    );
    return;
  }
  console.log(`saved to ${tuner.where()}`);
  if (tuner.mode === 'off')
    console.log('note: YOPO_TUNE=off, so training uses the built-in variants until it is unset');
}
