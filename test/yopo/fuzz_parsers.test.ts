// Fuzzing the file parsers: thousands of mutated safetensors, IDX (plain and gzip) and CIFAR-10
// files from a fixed seed. Each must either load correctly (consistent shapes and values) or fail with
// a clean one-line Error naming the file; never a TypeError/RangeError from deep inside, a crash or a hang.

import { gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Random } from '../../engine/random.js';
import { decodeSafetensors, encodeSafetensors } from '../../nn/safetensors.js';
import {
  CIFAR_PIXELS,
  CIFAR_RECORD_BYTES,
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  decodeCifarBatch,
  maybeGunzip,
  parseIdx,
} from '../../yopo/data/index.js';

const FILE = 'fuzzed.bin';

/** One random mutation: flip bits, overwrite bytes (often with 0x00/0xff/digits), cut, extend or splice. */
function mutate(bytes: Uint8Array, rng: Random): Uint8Array {
  let out = Uint8Array.from(bytes);
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const kind = rng.int(6);
    // Headers are where parsers go wrong: aim half of the edits at the first 64 bytes.
    const pos = rng.next() < 0.5 ? rng.int(Math.min(64, out.length || 1)) : rng.int(out.length || 1);
    if (kind === 0 && out.length) out[pos] ^= 1 << rng.int(8);
    else if (kind === 1 && out.length) out[pos] = [0, 0xff, 0x7f, 0x80, 0x30 + rng.int(10), rng.int(256)][rng.int(6)];
    else if (kind === 2) out = out.subarray(0, rng.int(out.length + 1));
    else if (kind === 3)
      out = Uint8Array.from([...out, ...Array.from({ length: 1 + rng.int(16) }, () => rng.int(256))]);
    else if (kind === 4 && out.length > 8) {
      const len = 1 + rng.int(8);
      out = Uint8Array.from([...out.subarray(0, pos), ...out.subarray(Math.min(out.length, pos + len))]);
    } else if (out.length >= 8) {
      // A length field set to something extreme.
      new DataView(out.buffer, out.byteOffset).setUint32(
        rng.int(2) * 4,
        [0, 1, 0xffffffff, 0x7fffffff, rng.int(2 ** 32)][rng.int(5)],
        rng.next() < 0.5,
      );
    }
  }
  return out;
}

/** Runs a parser on fuzzed bytes: a clean error (an Error naming the file, one line) or a checked result. */
function expectCleanOrValid(what: string, parse: () => void): 'loaded' | 'refused' {
  try {
    parse();
    return 'loaded';
  } catch (e) {
    assert.ok(e instanceof Error, `${what}: threw a non-Error ${String(e)}`);
    const err = e as Error;
    assert.ok(
      !(err instanceof TypeError || err instanceof RangeError) || err.message.includes(FILE),
      `${what}: a raw ${err.name}: ${err.message}`,
    );
    assert.ok(err.message.includes(FILE), `${what}: the error names the file: ${err.message}`);
    assert.not.ok(
      err.message.includes('\n') && err.message.split('\n').filter(Boolean).length > 1 && !/^\s*-/m.test(err.message),
      `${what}: one line (or a list of problems): ${err.message}`,
    );
    return 'refused';
  }
}

test('safetensors: 3,000 mutated files load consistently or fail cleanly', () => {
  const rng = new Random(2024);
  const seed = encodeSafetensors(
    new Map([
      ['conv.weight', { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
      ['steps', { shape: [1], data: Int32Array.from([7]) }],
      ['empty', { shape: [0, 4], data: new Float32Array(0) }],
    ]),
    { 'yopo.step': '3' },
  );
  const counts = { loaded: 0, refused: 0 };
  for (let i = 0; i < 3000; i++) {
    const bytes = mutate(seed, rng);
    counts[
      expectCleanOrValid(`safetensors #${i}`, () => {
        const file = decodeSafetensors(bytes, FILE);
        for (const [name, t] of file.tensors) {
          assert.is(
            t.data.length,
            t.shape.reduce((a, b) => a * b, 1),
            `#${i}: ${name} holds as many values as its shape says`,
          );
        }
        for (const v of Object.values(file.metadata)) assert.type(v, 'string');
      })
    ]++;
  }
  assert.ok(counts.refused > 2000, `most mutations are refused (${JSON.stringify(counts)})`);
});

test('IDX (plain and gzip): 3,000 mutated files load consistently or fail cleanly', () => {
  const rng = new Random(77);
  const images = new Uint8Array(4 + 12 + 3 * 4 * 4);
  const v = new DataView(images.buffer);
  v.setUint32(0, IDX_IMAGES_MAGIC);
  v.setUint32(4, 3);
  v.setUint32(8, 4);
  v.setUint32(12, 4);
  for (let i = 16; i < images.length; i++) images[i] = rng.int(256);
  const labels = Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 3, 1, 7, 9]);
  new DataView(labels.buffer).setUint32(0, IDX_LABELS_MAGIC);
  const seeds: [Uint8Array, number][] = [
    [images, IDX_IMAGES_MAGIC],
    [labels, IDX_LABELS_MAGIC],
    [gzipSync(images), IDX_IMAGES_MAGIC],
  ];
  const counts = { loaded: 0, refused: 0 };
  for (let i = 0; i < 3000; i++) {
    const [seed, magic] = seeds[i % seeds.length];
    const bytes = mutate(seed, rng);
    counts[
      expectCleanOrValid(`IDX #${i}`, () => {
        const idx = parseIdx(maybeGunzip(bytes, FILE), FILE, magic);
        assert.is(
          idx.data.length,
          idx.dims.reduce((a, b) => a * b, 1),
          `#${i}: data matches the dimensions`,
        );
      })
    ]++;
  }
  assert.ok(counts.refused > 1500, `most mutations are refused (${JSON.stringify(counts)})`);
});

test('CIFAR-10: 1,000 mutated batch files load consistently or fail cleanly', () => {
  const rng = new Random(5);
  const seed = new Uint8Array(2 * CIFAR_RECORD_BYTES);
  for (let i = 0; i < seed.length; i++) seed[i] = rng.int(256);
  seed[0] = 3;
  seed[CIFAR_RECORD_BYTES] = 9;
  const counts = { loaded: 0, refused: 0 };
  for (let i = 0; i < 1000; i++) {
    const bytes = mutate(seed, rng);
    const images = new Float32Array(4 * CIFAR_PIXELS).fill(-1);
    const labels = new Int32Array(4).fill(-1);
    counts[
      expectCleanOrValid(`CIFAR #${i}`, () => {
        const n = decodeCifarBatch(bytes, FILE, images, labels, 0);
        assert.is(n * CIFAR_RECORD_BYTES, bytes.length);
        for (let r = 0; r < n; r++) assert.ok(labels[r] >= 0 && labels[r] <= 9, `#${i}: label ${labels[r]}`);
        for (let p = 0; p < n * CIFAR_PIXELS; p++)
          if (!(images[p] >= 0 && images[p] <= 1)) assert.unreachable(`#${i}: pixel ${images[p]}`);
      })
    ]++;
  }
  assert.ok(counts.loaded > 0 && counts.refused > 0, JSON.stringify(counts));
});

test.run();
