// The shipped pretrained models (pretrained/): each file's SHA-256 is the one the library records and
// the one its model cards (yopo eval) measured, each card's training configuration is the run's
// config.json, the models load by name in Node (loadPretrained) and in the CLI (yopo eval --checkpoint
// NAME), and they classify MNIST test images as their cards say. On the CPU backend: no shader compiles.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { useCpu } from '../../engine/index.js';
import {
  PRETRAINED,
  PRETRAINED_DIR,
  PRETRAINED_NAMES,
  loadPretrained,
  pretrainedFile,
  pretrainedFromBytes,
} from '../../nn/index.js';
import { evaluate, loadMnist, parseAttack, subset } from '../../yopo/index.js';

const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
/** Every model has an AutoAttack card; others (card-apgd: APGD-CE + APGD-T on more images) where measured. */
const cardsOf = (name: string) =>
  readdirSync(join(PRETRAINED_DIR, name))
    .filter((f) => /^card-.*\.json$/.test(f))
    .map((f) => f.replace(/\.json$/, ''));

useCpu();

interface Card {
  checkpoint_sha256: string;
  training_config: Record<string, unknown> | null;
  evaluations: { eps: number; n: number; clean_accuracy: number; robust_accuracy: number }[];
}
const cardOf = (name: string, card: string) =>
  JSON.parse(readFileSync(join(PRETRAINED_DIR, name, `${card}.json`), 'utf8')) as Card;

test('each model file has the SHA-256 the library records and its cards measured, and the cards its run config', () => {
  assert.equal(PRETRAINED_NAMES, ['smallcnn-mnist-natural', 'smallcnn-mnist-yopo']);
  for (const name of PRETRAINED_NAMES) {
    const hash = createHash('sha256')
      .update(readFileSync(pretrainedFile(name)))
      .digest('hex');
    assert.is(hash, PRETRAINED[name].sha256, `${name}: the file's SHA-256`);
    const config = JSON.parse(readFileSync(join(PRETRAINED_DIR, name, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.is(config.method, PRETRAINED[name].method);
    assert.is(config.eps, PRETRAINED[name].eps);
    assert.ok(cardsOf(name).includes('card-autoattack'), `${name}: an AutoAttack card`);
    for (const card of cardsOf(name)) {
      assert.ok(existsSync(join(PRETRAINED_DIR, name, `${card}.md`)), `${name}/${card}.md`);
      const c = cardOf(name, card);
      assert.is(c.checkpoint_sha256, hash, `${name}/${card}.json: the SHA-256 of the model it measured`);
      assert.equal(c.training_config, config, `${name}/${card}.json: the training configuration`);
    }
  }
});

test('the robust model holds where the natural one falls, as the AutoAttack cards say', () => {
  const [natural, robust] = PRETRAINED_NAMES.map((name) => cardOf(name, 'card-autoattack').evaluations[0]!);
  assert.ok(natural.robust_accuracy < 0.05, `natural: ${natural.robust_accuracy}`);
  assert.ok(robust.robust_accuracy > 0.5, `YOPO: ${robust.robust_accuracy}`);
});

test('loadPretrained loads each by name, and it classifies MNIST test images as its card says', async () => {
  const images = subset(loadMnist({ split: 'test' }), 100);
  for (const name of PRETRAINED_NAMES) {
    const { model, info, metadata } = await loadPretrained(name);
    assert.is(info.method, PRETRAINED[name].method);
    assert.is(metadata['yopo.method'], info.method);
    const r = await evaluate(model, images, parseAttack('none', 0, 0), { batchSize: 100 });
    // The cards measured the first 100 or 200 test images with this model (WebGPU); the CPU backend agrees within a few.
    const card = cardOf(name, 'card-autoattack').evaluations[0]!;
    assert.ok(
      Math.abs(r.clean_accuracy - card.clean_accuracy) <= 0.02,
      `${name}: clean ${r.clean_accuracy} here, ${card.clean_accuracy} in its card`,
    );
    model.dispose();
  }
});

/** The message `job` fails with. */
async function failure(job: () => Promise<unknown>): Promise<string> {
  try {
    await job();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected an error');
}

test('a wrong name or changed bytes: one clear error', async () => {
  assert.match(
    await failure(() => loadPretrained('smallcnn-mnist-madry')),
    /^unknown pretrained model 'smallcnn-mnist-madry'; the shipped ones are smallcnn-mnist-natural, smallcnn-mnist-yopo$/,
  );
  const bytes = new Uint8Array(readFileSync(pretrainedFile('smallcnn-mnist-yopo')));
  bytes[bytes.length - 1] ^= 1;
  assert.match(
    await failure(() => pretrainedFromBytes('smallcnn-mnist-yopo', bytes, 'changed.safetensors')),
    /^changed\.safetensors is not the shipped smallcnn-mnist-yopo model: its SHA-256 is [0-9a-f]{64}, expected/,
  );
});

test('yopo eval takes a name for --checkpoint; its card goes to the working folder, not into the package', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'yopo-pretrained-'));
  const before = readFileSync(join(PRETRAINED_DIR, 'smallcnn-mnist-natural', 'card-apgd.json'), 'utf8');
  const r = spawnSync(
    process.execPath,
    [
      CLI,
      'eval',
      '--checkpoint',
      'smallcnn-mnist-natural',
      '--attack',
      'none',
      '--limit',
      '20',
      '--no-sanity',
      '--json',
      '--backend',
      'cpu',
    ],
    { cwd, encoding: 'utf8' },
  );
  assert.is(r.status, 0, r.stderr);
  assert.is((JSON.parse(r.stdout) as { n: number }).n, 20);
  assert.ok(existsSync(join(cwd, 'model-card-smallcnn-mnist-natural.json')), 'the card in the working folder');
  assert.is(readFileSync(join(PRETRAINED_DIR, 'smallcnn-mnist-natural', 'card-apgd.json'), 'utf8'), before);
  rmSync(cwd, { recursive: true, force: true });
});

test.run();
