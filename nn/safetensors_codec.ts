// safetensors checkpoints (https://github.com/huggingface/safetensors), readable by PyTorch with
// `safetensors.torch.load_file`.
//
// Layout: 8-byte little-endian header length N, then N bytes of UTF-8 JSON
//   {"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
// padded with spaces so the data section starts 8-byte aligned, then the data section: every
// tensor's little-endian bytes, back to back. data_offsets are relative to the data section start
// and must tile it exactly (no gaps, no overlaps, nothing left over).
//
// Pure typed-array code (bytes in, bytes out): no file system, no engine, so it also runs in a browser.
// safetensors.ts adds reading and writing files in Node.

/** One tensor as stored: its shape and its values (f32 or i32), row-major. */
export type TensorData = { shape: number[]; data: Float32Array | Int32Array };

/** A decoded safetensors file: tensors by name and the string metadata of its header. */
export interface SafetensorsFile {
  tensors: Map<string, TensorData>;
  metadata: Record<string, string>;
}

/** Every error from reading or checking a checkpoint; `source` is the file (or label) it concerns. */
export class SafetensorsError extends Error {
  constructor(
    message: string,
    readonly source: string,
  ) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

// Bytes per element of the dtypes we read. We write only F32 and I32.
const DTYPE_BYTES = { F32: 4, F64: 8, I32: 4, I64: 8 } as const;
type ReadDtype = keyof typeof DTYPE_BYTES;

// The other dtypes of the format: named separately so the error can say "unsupported" rather than "unknown".
const OTHER_DTYPES = new Set(['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'U32', 'U64']);

// The Python library refuses headers above 100 MB; so do we, rather than try to parse garbage.
const MAX_HEADER_BYTES = 100_000_000;

// Typed arrays use the host byte order; the format is little-endian. Every current JS host is
// little-endian, but a big-endian one takes the slow DataView path instead of producing garbage.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Serializes tensors to safetensors bytes. Float32Array data is written as F32, Int32Array as I32.
 * Tensors are laid out in the order the Python library uses (larger dtype alignment first, i.e.
 * F32 before I32, then by name), and `__metadata__` keys are sorted, so the output is deterministic.
 * Throws if a tensor's data length does not match its shape, or a name is unusable.
 */
export function encodeSafetensors(
  tensors: Map<string, TensorData> | Record<string, TensorData>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const prepared = entries.map(([name, t]) => ({
    name,
    dtype: checkTensorForWrite(name, t),
    shape: t.shape,
    data: t.data,
  }));
  prepared.sort((a, b) => (a.dtype === b.dtype ? compareCodePoints(a.name, b.name) : a.dtype === 'F32' ? -1 : 1));

  // The JSON is built by hand so key order is exactly ours: a JS object would move
  // integer-like names ("0", "12") to the front.
  const parts: string[] = [];
  const metaKeys = Object.keys(metadata).sort(compareCodePoints);
  if (metaKeys.length > 0) {
    const fields = metaKeys.map((k) => {
      if (typeof metadata[k] !== 'string') {
        throw new Error(`encodeSafetensors: metadata "${k}" must be a string, got ${typeof metadata[k]}`);
      }
      return `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`;
    });
    parts.push(`"__metadata__":{${fields.join(',')}}`);
  }
  let offset = 0;
  for (const t of prepared) {
    const end = offset + t.data.byteLength;
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);

  // Pad the header with spaces so the data section starts at a multiple of 8.
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLength);

  let pos = 8 + headerLength;
  for (const { data } of prepared) {
    if (HOST_IS_LITTLE_ENDIAN) {
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
    } else {
      for (let i = 0; i < data.length; i++) {
        if (data instanceof Float32Array) view.setFloat32(pos + 4 * i, data[i], true);
        else view.setInt32(pos + 4 * i, data[i], true);
      }
    }
    pos += data.byteLength;
  }
  return out;
}

/** Validates one tensor before writing; returns the dtype it will be stored as. */
function checkTensorForWrite(name: string, t: TensorData): 'F32' | 'I32' {
  const what = `encodeSafetensors: tensor ${JSON.stringify(name)}`;
  if (name === '' || name === '__metadata__') throw new Error(`${what}: this name is reserved or empty`);
  // JSON would carry a lone surrogate as "\ud800", which Rust's JSON parser (Python's reader) rejects.
  if (/[\ud800-\udfff]/u.test(name)) throw new Error(`${what}: name contains an unpaired UTF-16 surrogate`);
  const isF32 = t.data instanceof Float32Array;
  if (!isF32 && !(t.data instanceof Int32Array)) throw new Error(`${what}: data must be a Float32Array or Int32Array`);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${what}: shape ${JSON.stringify(t.shape)} must be a list of non-negative integers`);
  }
  const size = t.shape.reduce((a, b) => a * b, 1);
  if (size !== t.data.length) {
    throw new Error(`${what}: data has ${t.data.length} elements but shape ${JSON.stringify(t.shape)} needs ${size}`);
  }
  return isF32 ? 'F32' : 'I32';
}

/** Orders strings by Unicode code point, i.e. by UTF-8 bytes, as Rust (and so Python's writer) does. */
function compareCodePoints(a: string, b: string): number {
  for (let i = 0; i < a.length && i < b.length; ) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

// ---------------------------------------------------------------------------------------------
// Reading

interface HeaderEntry {
  name: string;
  dtype: ReadDtype;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses safetensors bytes, validating everything before touching the data: header length,
 * UTF-8, JSON, dtypes, shapes, that data_offsets match shape × dtype size, and that the tensors
 * tile the data section exactly. Errors are SafetensorsError naming `source` and the problem.
 *
 * dtypes: F32 → Float32Array, I32 → Int32Array. F64 is converted to Float32Array (values lose
 * precision, and magnitudes beyond float32 range become ±Infinity). I64 is read into Int32Array
 * when every value fits in int32, and is an error otherwise. Other dtypes are errors.
 */
export function decodeSafetensors(bytes: Uint8Array, source = '<in-memory bytes>'): SafetensorsFile {
  const fail = (problem: string) => new SafetensorsError(`checkpoint ${source}: ${problem}`, source);

  if (bytes.byteLength < 8) {
    throw fail(`file is ${bytes.byteLength} bytes, too short to hold the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength64 = view.getBigUint64(0, true);
  if (headerLength64 > BigInt(bytes.byteLength - 8)) {
    throw fail(
      `header length ${headerLength64} exceeds file size (${bytes.byteLength} bytes): ` +
        `the file is truncated or not a safetensors file`,
    );
  }
  const headerLength = Number(headerLength64);
  if (headerLength > MAX_HEADER_BYTES) {
    throw fail(`header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }

  let headerText: string;
  try {
    // fatal: reject invalid UTF-8 instead of silently inserting U+FFFD.
    headerText = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    throw fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (err) {
    throw fail(`invalid JSON header (${(err as Error).message})`);
  }
  if (!isPlainObject(header)) throw fail('invalid JSON header: expected an object at the top level');

  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') metadata = parseMetadata(info, fail);
    else entries.push(parseEntry(name, info, fail));
  }

  // The tensors must tile the data section: sorted by offset, each starts where the last ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: HeaderEntry | undefined;
  for (const e of entries) {
    if (e.begin > covered) {
      throw fail(`data bytes [${covered}, ${e.begin}) belong to no tensor (gap before tensor ${e.name})`);
    }
    if (e.begin < covered && previous) {
      throw fail(
        `tensor ${e.name}: data_offsets [${e.begin}, ${e.end}] overlap tensor ${previous.name} ` +
          `[${previous.begin}, ${previous.end}]`,
      );
    }
    covered = e.end;
    previous = e;
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  if (covered > dataLength) {
    throw new SafetensorsError(
      `checkpoint ${source} is truncated: header says ${covered} bytes of data, file has ${dataLength}`,
      source,
    );
  }
  if (covered < dataLength) {
    throw fail(
      `${dataLength - covered} unexpected bytes after the last tensor (header describes ${covered} bytes of data, file has ${dataLength})`,
    );
  }

  const tensors = new Map<string, TensorData>();
  for (const e of entries) {
    tensors.set(e.name, { shape: e.shape, data: readData(bytes, dataStart + e.begin, e, fail) });
  }
  return { tensors, metadata };
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

type Fail = (problem: string) => SafetensorsError;

function parseMetadata(info: unknown, fail: Fail): Record<string, string> {
  if (!isPlainObject(info)) throw fail('__metadata__ must be an object of strings');
  for (const [k, v] of Object.entries(info)) {
    if (typeof v !== 'string')
      throw fail(`__metadata__ ${JSON.stringify(k)} must be a string, got ${JSON.stringify(v)}`);
  }
  // fromEntries defines own properties, so even a "__proto__" key stays plain data.
  return Object.fromEntries(Object.entries(info)) as Record<string, string>;
}

function parseEntry(name: string, info: unknown, fail: Fail): HeaderEntry {
  const where = `tensor ${name}`;
  if (!isPlainObject(info))
    throw fail(`${where}: expected {"dtype", "shape", "data_offsets"}, got ${JSON.stringify(info)}`);
  const { dtype, shape, data_offsets: offsets } = info;

  if (typeof dtype !== 'string') throw fail(`${where}: missing or non-string dtype`);
  if (!(dtype in DTYPE_BYTES)) {
    throw fail(
      OTHER_DTYPES.has(dtype)
        ? `${where}: dtype ${dtype} is not supported (supported: F32, F64, I32, I64)`
        : `${where}: unknown dtype ${JSON.stringify(dtype)}`,
    );
  }
  const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw fail(`${where}: shape ${JSON.stringify(shape)} must be a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw fail(`${where}: data_offsets ${JSON.stringify(offsets)} must be [begin, end] byte offsets`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);

  const bytesPerElement = DTYPE_BYTES[dtype as ReadDtype];
  const nbytes = (shape as number[]).reduce((a, b) => a * b, bytesPerElement);
  if (!Number.isSafeInteger(nbytes)) throw fail(`${where}: shape ${JSON.stringify(shape)} is impossibly large`);
  if (end - begin !== nbytes) {
    throw fail(
      `${where}: data_offsets [${begin}, ${end}] do not match shape ${JSON.stringify(shape)} of ${dtype} (${nbytes} bytes)`,
    );
  }
  return { name, dtype: dtype as ReadDtype, shape: shape as number[], begin, end };
}

/** Reads one tensor's elements starting at byte `start` (already validated to be in bounds). */
function readData(bytes: Uint8Array, start: number, e: HeaderEntry, fail: Fail): Float32Array | Int32Array {
  const length = e.end - e.begin;
  const count = length / DTYPE_BYTES[e.dtype];
  // Copy into a fresh buffer so the typed-array view is aligned even when `start` is not a
  // multiple of 4 (headers written by other tools need not pad). Not bytes.slice(): on a Node
  // Buffer that is a view into the shared pool, not a copy.
  const raw = () => {
    const copy = new Uint8Array(length);
    copy.set(bytes.subarray(start, start + length));
    return copy.buffer;
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, length);

  switch (e.dtype) {
    case 'F32': {
      if (HOST_IS_LITTLE_ENDIAN) return new Float32Array(raw());
      return Float32Array.from({ length: count }, (_, i) => view.getFloat32(4 * i, true));
    }
    case 'I32': {
      if (HOST_IS_LITTLE_ENDIAN) return new Int32Array(raw());
      return Int32Array.from({ length: count }, (_, i) => view.getInt32(4 * i, true));
    }
    case 'F64': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v < -2147483648n || v > 2147483647n) {
          throw fail(`tensor ${e.name}: I64 value ${v} at index ${i} does not fit in int32`);
        }
        out[i] = Number(v);
      }
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Checking against a model

/**
 * Checks a loaded file against what a model expects and throws one SafetensorsError listing
 * every problem (missing tensors, unexpected tensors, wrong shapes, wrong dtypes), naming the file.
 * The dtype compared is the loaded one: F64 files load as F32, I64 as I32.
 */
export function checkTensors(
  file: SafetensorsFile,
  expected: Map<string, { shape: number[]; dtype: 'F32' | 'I32' }>,
  source: string,
): void {
  const problems: string[] = [];
  const missing = [...expected.keys()].filter((name) => !file.tensors.has(name));
  const unexpected = [...file.tensors.keys()].filter((name) => !expected.has(name));
  if (missing.length > 0) problems.push(`missing tensors: ${missing.join(', ')}`);
  if (unexpected.length > 0) problems.push(`unexpected tensors: ${unexpected.join(', ')}`);

  for (const [name, want] of expected) {
    const got = file.tensors.get(name);
    if (!got) continue;
    if (got.shape.length !== want.shape.length || got.shape.some((d, i) => d !== want.shape[i])) {
      problems.push(`${name}: wrong shape, expected ${JSON.stringify(want.shape)}, got ${JSON.stringify(got.shape)}`);
    }
    const dtype = got.data instanceof Float32Array ? 'F32' : 'I32';
    if (dtype !== want.dtype) problems.push(`${name}: wrong dtype, expected ${want.dtype}, got ${dtype}`);
  }

  if (problems.length > 0) {
    throw new SafetensorsError(
      `checkpoint ${source} does not match the model:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      source,
    );
  }
}
