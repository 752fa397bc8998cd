// Tests for nn/safetensors (checkpoint format) and nn/atomic_write. No GPU needed.
//
// The byte-exact tests pin the layout the Python library produces (header JSON, space padding to
// 8 bytes, little-endian data); the first two expected files are the ones in the safetensors
// crate's own serialization tests.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  SafetensorsError,
  checkTensors,
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
  saveSafetensorsSync,
  type SafetensorsFile,
  type TensorData,
} from '../../nn/safetensors.js';
import { writeFileAtomic, writeFileAtomicSync } from '../../nn/atomic_write.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'yopo-safetensors-'));
  dirs.push(dir);
  return dir;
}
test.after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const ascii = (s: string) => [...new TextEncoder().encode(s)];
const u64le = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >> 24) & 0xff, 0, 0, 0, 0];
const bytesOf = (a: Float32Array | Int32Array | Float64Array | BigInt64Array) => [
  ...new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
];

/** A safetensors file from a raw header string and data bytes; `pad` aligns the data like the spec asks. */
function rawFile(header: string, data: number[] = [], pad = true): Uint8Array {
  let json = ascii(header);
  if (pad) while (json.length % 8 !== 0) json = [...json, 0x20];
  return new Uint8Array([...u64le(json.length), ...json, ...data]);
}

/** Runs fn, expects a SafetensorsError (never a RangeError or TypeError), returns its message. */
function errorOf(fn: () => unknown): string {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  if (caught === undefined) assert.unreachable('expected an error, none was thrown');
  assert.instance(caught, SafetensorsError, `expected SafetensorsError, got ${String(caught)}`);
  return (caught as Error).message;
}

/** Awaits a promise that must reject; `check` is a RegExp for the message or a predicate. */
async function rejects(promise: Promise<unknown>, check: RegExp | ((e: Error) => boolean) = () => true): Promise<void> {
  try {
    await promise;
  } catch (err) {
    const ok = check instanceof RegExp ? check.test((err as Error).message) : check(err as Error);
    assert.ok(ok, `unexpected error: ${(err as Error).message}`);
    return;
  }
  assert.unreachable('expected the promise to reject');
}

function assertSameTensors(actual: SafetensorsFile, expected: Record<string, TensorData>): void {
  assert.equal([...actual.tensors.keys()].sort(), Object.keys(expected).sort());
  for (const [name, want] of Object.entries(expected)) {
    const got = actual.tensors.get(name)!;
    assert.equal(got.shape, want.shape, `${name} shape`);
    assert.is(got.data.constructor, want.data.constructor, `${name} dtype`);
    // Compare bytes, so NaN, -0 and subnormals must survive exactly.
    assert.equal(bytesOf(got.data), bytesOf(want.data), `${name} data`);
  }
}

// ---------------------------------------------------------------------------------------------
// Round trip and byte layout

test('round trip: odd shapes, a scalar, an empty tensor, int32, special floats, metadata', () => {
  const tensors: Record<string, TensorData> = {
    'conv1.weight': { shape: [3, 1, 5, 7], data: Float32Array.from({ length: 105 }, (_, i) => Math.sin(i) * 1e3) },
    'fc.bias': { shape: [7], data: new Float32Array([NaN, -0, Infinity, -Infinity, 1e-45, 3.4e38, 0.1]) },
    scalar: { shape: [], data: new Float32Array([42.5]) },
    empty: { shape: [0, 4], data: new Float32Array(0) },
    step: { shape: [1], data: new Int32Array([123456]) },
    labels: { shape: [2, 3], data: new Int32Array([-1, 0, 1, 2147483647, -2147483648, 7]) },
    '0': { shape: [1], data: new Float32Array([1]) },
  };
  const metadata = { format: 'pt', note: 'ünïcode ✓ "quoted"\n', epoch: '3' };
  const file = decodeSafetensors(encodeSafetensors(tensors, metadata), 'round-trip');
  assertSameTensors(file, tensors);
  assert.equal(file.metadata, metadata);

  // A Map gives the same bytes as a Record: the order is ours, not the caller's.
  const reversed = new Map(Object.entries(tensors).reverse());
  assert.equal([...encodeSafetensors(reversed, metadata)], [...encodeSafetensors(tensors, metadata)]);
});

test('byte layout: one F32 tensor, exactly as the reference implementation writes it', () => {
  const tensors = { 'attn.0': { shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } };
  const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'; // 64 bytes: no padding
  const data = [0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64];
  assert.equal([...encodeSafetensors(tensors)], [...u64le(64), ...ascii(header), ...data]);

  // A 5-character name makes the JSON 65 bytes: 7 spaces pad it to 72.
  const header2 = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
  assert.is(header2.length, 65);
  const tensors2 = { attn0: { shape: [1, 1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } };
  assert.equal([...encodeSafetensors(tensors2)], [...u64le(72), ...ascii(header2), ...Array(7).fill(0x20), ...data]);

  // No tensors: "{}" plus 6 spaces.
  assert.equal([...encodeSafetensors({})], [...u64le(8), ...ascii('{}'), ...Array(6).fill(0x20)]);
});

test('byte layout: metadata first, F32 before I32, then by name; little-endian int32', () => {
  const bytes = encodeSafetensors(
    {
      z_count: { shape: [2], data: new Int32Array([-1, 258]) },
      b: { shape: [], data: new Float32Array([-2]) },
      a: { shape: [1], data: new Float32Array([1]) },
      c_ids: { shape: [1], data: new Int32Array([16909060]) }, // 0x01020304
    },
    { z: '1', format: 'pt' },
  );
  const header =
    '{"__metadata__":{"format":"pt","z":"1"},' +
    '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
    '"b":{"dtype":"F32","shape":[],"data_offsets":[4,8]},' +
    '"c_ids":{"dtype":"I32","shape":[1],"data_offsets":[8,12]},' +
    '"z_count":{"dtype":"I32","shape":[2],"data_offsets":[12,20]}}';
  const padded = Math.ceil(header.length / 8) * 8;
  const expected = [
    ...u64le(padded),
    ...ascii(header),
    ...Array(padded - header.length).fill(0x20),
    ...[0x00, 0x00, 0x80, 0x3f], // a = 1.0f
    ...[0x00, 0x00, 0x00, 0xc0], // b = -2.0f
    ...[0x04, 0x03, 0x02, 0x01], // c_ids = 0x01020304
    ...[0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00, 0x00], // z_count = -1, 258
  ];
  assert.equal([...bytes], expected);
});

test('data section is 8-byte aligned whatever the name length', () => {
  for (let n = 1; n <= 16; n++) {
    const bytes = encodeSafetensors({ ['x'.repeat(n)]: { shape: [1], data: new Float32Array([n]) } });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.is((8 + headerLength) % 8, 0, `name length ${n}`);
    const json = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
    assert.ok(/^\{.*\} *$/.test(json), `header padded with spaces only: ${JSON.stringify(json)}`);
  }
});

test('reads unaligned data (unpadded header, buffer at an odd byteOffset) without RangeError', () => {
  const values = new Float32Array([1.5, -2.25, 3e-8]);
  const file = rawFile('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}', bytesOf(values), false);
  assert.is((8 + 55) % 4 !== 0, true, 'data really starts unaligned');
  const shifted = new Uint8Array(file.length + 1);
  shifted.set(file, 1);
  const decoded = decodeSafetensors(shifted.subarray(1), 'unaligned');
  assert.equal([...(decoded.tensors.get('w')!.data as Float32Array)], [...values]);
  // A small Node Buffer lives inside a shared pool: the result must be a copy of just our bytes.
  const pooled = decodeSafetensors(Buffer.from(file), 'pooled');
  assert.equal([...(pooled.tensors.get('w')!.data as Float32Array)], [...values]);
  assert.is(pooled.tensors.get('w')!.data.buffer.byteLength, 12);
});

test('F64 is read as Float32, I64 as Int32 when it fits, and an error when it does not', () => {
  const f64 = new Float64Array([0.1, -1e300, 2]);
  const i64 = new BigInt64Array([-5n, 2147483647n, -2147483648n]);
  const file = decodeSafetensors(
    rawFile(
      '{"d":{"dtype":"F64","shape":[3],"data_offsets":[0,24]},"i":{"dtype":"I64","shape":[3],"data_offsets":[24,48]}}',
      [...bytesOf(f64), ...bytesOf(i64)],
    ),
  );
  assert.equal([...(file.tensors.get('d')!.data as Float32Array)], [Math.fround(0.1), -Infinity, 2]);
  assert.instance(file.tensors.get('i')!.data, Int32Array);
  assert.equal([...file.tensors.get('i')!.data], [-5, 2147483647, -2147483648]);

  const big = new BigInt64Array([1n, 4294967296n]);
  const msg = errorOf(() =>
    decodeSafetensors(
      rawFile('{"step":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}', bytesOf(big)),
      'ck.safetensors',
    ),
  );
  assert.is(msg, 'checkpoint ck.safetensors: tensor step: I64 value 4294967296 at index 1 does not fit in int32');
});

// ---------------------------------------------------------------------------------------------
// Corrupt files: precise errors, never a RangeError

const goodBytes = () =>
  encodeSafetensors({
    'conv1.weight': { shape: [32, 1, 3, 3], data: new Float32Array(288).fill(0.5) },
    'conv1.bias': { shape: [32], data: new Float32Array(32) },
  });

test('truncated file', () => {
  const bytes = goodBytes();
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const cut = bytes.subarray(0, 8 + headerLength + 1000);
  assert.is(
    errorOf(() => decodeSafetensors(cut, 'runs/x/model.safetensors')),
    'checkpoint runs/x/model.safetensors is truncated: header says 1280 bytes of data, file has 1000',
  );
  // Cut inside the header, and cut inside the 8-byte length itself.
  assert.match(
    errorOf(() => decodeSafetensors(bytes.subarray(0, 40), 'm')),
    /^checkpoint m: header length \d+ exceeds file size \(40 bytes\)/,
  );
  assert.is(
    errorOf(() => decodeSafetensors(bytes.subarray(0, 5), 'm')),
    'checkpoint m: file is 5 bytes, too short to hold the 8-byte header length',
  );
});

test('trailing bytes after the data are rejected', () => {
  const bytes = goodBytes();
  const longer = new Uint8Array([...bytes, 1, 2, 3]);
  assert.is(
    errorOf(() => decodeSafetensors(longer, 'm')),
    'checkpoint m: 3 unexpected bytes after the last tensor (header describes 1280 bytes of data, file has 1283)',
  );
});

test('corrupted header length', () => {
  const bytes = goodBytes().slice();
  new DataView(bytes.buffer).setBigUint64(0, 9_000_000_000_000_000_000n, true);
  assert.is(
    errorOf(() => decodeSafetensors(bytes, 'm.safetensors')),
    `checkpoint m.safetensors: header length 9000000000000000000 exceeds file size (${bytes.length} bytes): ` +
      'the file is truncated or not a safetensors file',
  );
  new DataView(bytes.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
  assert.match(
    errorOf(() => decodeSafetensors(bytes, 'm')),
    'header length 18446744073709551615 exceeds file size',
  );
});

test('invalid JSON, invalid UTF-8, wrong top-level type', () => {
  assert.match(
    errorOf(() => decodeSafetensors(rawFile('{"w": {"dtype": '), 'm')),
    /^checkpoint m: invalid JSON header \(/,
  );
  assert.match(
    errorOf(() => decodeSafetensors(rawFile('[1, 2]'), 'm')),
    'invalid JSON header: expected an object',
  );
  const badUtf8 = rawFile('{"x":1}');
  badUtf8[9] = 0xff;
  assert.is(
    errorOf(() => decodeSafetensors(badUtf8, 'm')),
    'checkpoint m: header is not valid UTF-8',
  );
});

test('data_offsets that do not match shape × dtype size', () => {
  const header = '{"conv1.weight":{"dtype":"F32","shape":[32,1,3,3],"data_offsets":[0,100]}}';
  assert.is(
    errorOf(() => decodeSafetensors(rawFile(header, Array(100).fill(0)), 'm')),
    'checkpoint m: tensor conv1.weight: data_offsets [0, 100] do not match shape [32,1,3,3] of F32 (1152 bytes)',
  );
});

test('overlapping, gapped, reversed and malformed offsets', () => {
  const overlap =
    '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}';
  assert.is(
    errorOf(() => decodeSafetensors(rawFile(overlap, Array(16).fill(0)), 'm')),
    'checkpoint m: tensor b: data_offsets [8, 16] overlap tensor a [0, 16]',
  );
  const gap =
    '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}';
  assert.is(
    errorOf(() => decodeSafetensors(rawFile(gap, Array(12).fill(0)), 'm')),
    'checkpoint m: data bytes [4, 8) belong to no tensor (gap before tensor b)',
  );
  const lateStart = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
  assert.match(
    errorOf(() => decodeSafetensors(rawFile(lateStart, Array(8).fill(0)), 'm')),
    'data bytes [0, 4) belong to no tensor',
  );
  const reversed = '{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}';
  assert.match(
    errorOf(() => decodeSafetensors(rawFile(reversed), 'm')),
    'tensor a: data_offsets [8, 4] end before they begin',
  );
  const negative = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}';
  assert.match(
    errorOf(() => decodeSafetensors(rawFile(negative), 'm')),
    'tensor a: data_offsets [-4,0] must be [begin, end]',
  );
  const huge = '{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}';
  assert.match(
    errorOf(() => decodeSafetensors(rawFile(huge, [0, 0, 0, 0]), 'm')),
    'is impossibly large',
  );
});

test('unknown and unsupported dtypes, bad shapes, bad metadata', () => {
  const with_ = (dtype: string) => `{"w":{"dtype":"${dtype}","shape":[1],"data_offsets":[0,4]}}`;
  assert.is(
    errorOf(() => decodeSafetensors(rawFile(with_('Q7'), [0, 0, 0, 0]), 'm')),
    'checkpoint m: tensor w: unknown dtype "Q7"',
  );
  assert.is(
    errorOf(() => decodeSafetensors(rawFile(with_('BF16'), [0, 0, 0, 0]), 'm')),
    'checkpoint m: tensor w: dtype BF16 is not supported (supported: F32, F64, I32, I64)',
  );
  const badShape = '{"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,4]}}';
  assert.match(
    errorOf(() => decodeSafetensors(rawFile(badShape, [0, 0, 0, 0]), 'm')),
    'tensor w: shape [2,-1] must be a list of non-negative integers',
  );
  assert.match(
    errorOf(() => decodeSafetensors(rawFile('{"w":[1,2]}'), 'm')),
    'tensor w: expected {"dtype", "shape", "data_offsets"}',
  );
  assert.is(
    errorOf(() => decodeSafetensors(rawFile('{"__metadata__":{"epoch":3}}'), 'm')),
    'checkpoint m: __metadata__ "epoch" must be a string, got 3',
  );
});

test('encode rejects data that does not match its shape, and reserved names', () => {
  assert.throws(
    () => encodeSafetensors({ w: { shape: [2, 3], data: new Float32Array(5) } }),
    (e: Error) => e.message === 'encodeSafetensors: tensor "w": data has 5 elements but shape [2,3] needs 6',
  );
  assert.throws(() => encodeSafetensors({ __metadata__: { shape: [], data: new Float32Array(1) } }), /reserved/);
  assert.throws(
    () => encodeSafetensors({ w: { shape: [1], data: new Float64Array(1) as unknown as Float32Array } }),
    /must be a Float32Array or Int32Array/,
  );
});

// ---------------------------------------------------------------------------------------------
// checkTensors

test('checkTensors lists every problem in one error naming the file', () => {
  const file = decodeSafetensors(
    encodeSafetensors({
      'conv1.weight': { shape: [16, 1, 3, 3], data: new Float32Array(144) },
      'fc.weight': { shape: [10, 64], data: new Float32Array(640) },
      step: { shape: [], data: new Float32Array(1) },
      'head.weight': { shape: [1], data: new Float32Array(1) },
    }),
  );
  const expected = new Map<string, { shape: number[]; dtype: 'F32' | 'I32' }>([
    ['conv1.weight', { shape: [32, 1, 3, 3], dtype: 'F32' }],
    ['fc.weight', { shape: [10, 64], dtype: 'F32' }],
    ['fc.bias', { shape: [10], dtype: 'F32' }],
    ['bn.running_mean', { shape: [32], dtype: 'F32' }],
    ['step', { shape: [], dtype: 'I32' }],
  ]);
  assert.is(
    errorOf(() => checkTensors(file, expected, 'runs/x/model.safetensors')),
    'checkpoint runs/x/model.safetensors does not match the model:\n' +
      '  - missing tensors: fc.bias, bn.running_mean\n' +
      '  - unexpected tensors: head.weight\n' +
      '  - conv1.weight: wrong shape, expected [32,1,3,3], got [16,1,3,3]\n' +
      '  - step: wrong dtype, expected I32, got F32',
  );

  // A matching file passes silently.
  const ok = new Map([...expected].filter(([name]) => file.tensors.has(name)));
  ok.set('conv1.weight', { shape: [16, 1, 3, 3], dtype: 'F32' });
  ok.set('step', { shape: [], dtype: 'F32' });
  ok.set('head.weight', { shape: [1], dtype: 'F32' });
  checkTensors(file, ok, 'm');
});

// ---------------------------------------------------------------------------------------------
// Files and atomicity

const model = (v: number): Record<string, TensorData> => ({
  'fc.weight': { shape: [2, 2], data: new Float32Array([v, v + 1, v + 2, v + 3]) },
  step: { shape: [], data: new Int32Array([v]) },
});

test('save and load through the file system', async () => {
  const path = join(tempDir(), 'model.safetensors');
  await saveSafetensors(path, model(1), { epoch: '1' });
  const file = await loadSafetensors(path);
  assertSameTensors(file, model(1));
  assert.equal(file.metadata, { epoch: '1' });
  assert.equal(readdirSync(join(path, '..')), ['model.safetensors']);

  // Overwriting replaces the content; the sync variant writes the same bytes.
  saveSafetensorsSync(path, model(2));
  assert.equal([...readFileSync(path)], [...encodeSafetensors(model(2))]);

  // Errors from disk name the file.
  const short = join(tempDir(), 'short.safetensors');
  writeFileSync(short, readFileSync(path).subarray(0, readFileSync(path).length - 4));
  try {
    await loadSafetensors(short);
    assert.unreachable('truncated file loaded');
  } catch (err) {
    assert.is((err as Error).message, `checkpoint ${short} is truncated: header says 20 bytes of data, file has 16`);
  }
  try {
    await loadSafetensors(join(tempDir(), 'missing.safetensors'));
    assert.unreachable('missing file loaded');
  } catch (err) {
    assert.instance(err, SafetensorsError);
    assert.match((err as Error).message, /^cannot read checkpoint .*missing\.safetensors: ENOENT/);
  }
});

test('atomic write: a failure just before the rename leaves the old file byte-identical and no temp file', async () => {
  const dir = tempDir();
  const path = join(dir, 'model.safetensors');
  await saveSafetensors(path, model(1));
  const before = readFileSync(path);

  let seenTemp = '';
  const failing = writeFileAtomic(path, encodeSafetensors(model(2)), {
    beforeRename: (temp) => {
      seenTemp = temp;
      // The new bytes are complete in the temp file, next to the target, under a hidden unique name.
      assert.ok(readdirSync(dir).includes(temp.slice(dir.length + 1)));
      assert.equal([...readFileSync(temp)], [...encodeSafetensors(model(2))]);
      throw new Error('injected failure');
    },
  });
  await rejects(failing, /injected failure/);
  assert.match(seenTemp.slice(dir.length + 1), /^\.model\.safetensors\.tmp-\d+-[0-9a-f]{8}$/);
  assert.equal(readFileSync(path), before);
  assert.equal(readdirSync(dir), ['model.safetensors']);

  // Same for the synchronous variant.
  assert.throws(() =>
    writeFileAtomicSync(path, encodeSafetensors(model(3)), {
      beforeRename: () => {
        throw new Error('injected failure');
      },
    }),
  );
  assert.equal(readFileSync(path), before);
  assert.equal(readdirSync(dir), ['model.safetensors']);
});

test('atomic write: a failure while writing the temp file leaves the old file and no temp file', async () => {
  const dir = tempDir();
  const path = join(dir, 'model.safetensors');
  await saveSafetensors(path, model(1));
  const before = readFileSync(path);
  // Bytes that fail when read: the temp file is already open when the write fails.
  const exploding = {
    get byteLength(): number {
      throw new Error('disk on fire');
    },
  } as unknown as Uint8Array;
  await rejects(writeFileAtomic(path, exploding));
  assert.throws(() => writeFileAtomicSync(path, exploding), /disk on fire/);
  assert.equal(readFileSync(path), before);
  assert.equal(readdirSync(dir), ['model.safetensors']);

  // A tensor that cannot be encoded fails before anything touches the disk.
  await rejects(saveSafetensors(path, { w: { shape: [3], data: new Float32Array(2) } }), (e: Error) =>
    e.message.startsWith(`cannot save checkpoint ${path}: encodeSafetensors: tensor "w"`),
  );
  assert.equal(readFileSync(path), before);
});

test('atomic write: a real rename failure (target is a directory) cleans up and names the path', async () => {
  const dir = tempDir();
  const path = join(dir, 'model.safetensors');
  mkdirSync(path);
  writeFileSync(join(path, 'keep'), 'x');
  try {
    await saveSafetensors(path, model(1));
    assert.unreachable('saved over a directory');
  } catch (err) {
    assert.match((err as Error).message, `cannot save checkpoint ${path}: `);
    assert.ok(typeof (err as { code?: string }).code === 'string', 'errno code kept');
  }
  assert.equal(readdirSync(dir), ['model.safetensors']);
  assert.equal(readdirSync(path), ['keep']);
  // And a directory that does not exist at all.
  await rejects(saveSafetensors(join(dir, 'nope', 'model.safetensors'), model(1)), /ENOENT/);
});

test('atomic write: concurrent saves leave one complete version and no temp files', async () => {
  const dir = tempDir();
  const path = join(dir, 'model.safetensors');
  await Promise.all([1, 2, 3, 4, 5, 6].map((v) => saveSafetensors(path, model(v))));
  const step = (await loadSafetensors(path)).tensors.get('step')!.data[0];
  assertSameTensors(await loadSafetensors(path), model(step));
  assert.equal(readdirSync(dir), ['model.safetensors']);
});

test.run();
