// The pretrained models shipped in the package's pretrained/ folder: SmallCNN on MNIST, trained
// naturally and with YOPO-5-10 by yopo's own CLI (pretrained/README.md has the commands and the cards).
// This is the part both hosts share: the names, each file's SHA-256, and loading the bytes into a
// model. Node reads the files (pretrained_files.ts), a browser fetches them (pretrained_fetch.ts).

import { Random } from '../engine/index.js';
import { decodeModel } from './model_bytes.js';
import { SmallCNN } from './models/index.js';

/** What a shipped model is: its network, data, training method, threat model and file hash. */
export interface PretrainedInfo {
  readonly model: 'smallcnn';
  readonly data: 'mnist';
  readonly method: string;
  /** The L∞ radius it was trained and evaluated at. */
  readonly eps: number;
  /** SHA-256 of model.safetensors, as its model cards record it. */
  readonly sha256: string;
}

/** The shipped models by name; each lives in pretrained/<name>/model.safetensors. */
export const PRETRAINED = {
  'smallcnn-mnist-natural': {
    model: 'smallcnn',
    data: 'mnist',
    method: 'natural',
    eps: 0.3,
    sha256: '0fa22eefc112cd2d4051bf8ddca3779e9f0483128a7c4f6cead12a21e1b7d281',
  },
  'smallcnn-mnist-yopo': {
    model: 'smallcnn',
    data: 'mnist',
    method: 'yopo-5-10',
    eps: 0.3,
    sha256: '440730866462f0dde0920bc0fefc485a3c9e7bc0e1660907b86098a49d34228f',
  },
} as const satisfies Record<string, PretrainedInfo>;

/** A name of PRETRAINED. */
export type PretrainedName = keyof typeof PRETRAINED;

/** The names loadPretrained takes. */
export const PRETRAINED_NAMES = Object.keys(PRETRAINED) as PretrainedName[];

/** A shipped model, loaded. */
export interface PretrainedModel {
  name: PretrainedName;
  model: SmallCNN;
  info: PretrainedInfo;
  /** The checkpoint's safetensors metadata (method, step, ...). */
  metadata: Record<string, string>;
}

/** Whether `name` names a shipped model. */
export function isPretrainedName(name: string): name is PretrainedName {
  return Object.hasOwn(PRETRAINED, name);
}

/** The model's file below the pretrained/ folder. */
export function pretrainedRelativePath(name: PretrainedName): string {
  return `${name}/model.safetensors`;
}

/** Checks a name, with the known names in the error. */
export function checkPretrainedName(name: string): PretrainedName {
  if (!isPretrainedName(name))
    throw new Error(`unknown pretrained model '${name}'; the shipped ones are ${PRETRAINED_NAMES.join(', ')}`);
  return name;
}

async function sha256Hex(bytes: Uint8Array): Promise<string | null> {
  // Web Crypto: Node ≥ 20 and browsers in a secure context (https, localhost). Without it the decode's
  // own checks (every tensor's name, shape and dtype, finite values) still stand.
  const subtle = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  if (!subtle) return null;
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** A shipped model from its file's bytes, after checking their SHA-256 against the one recorded here. */
export async function pretrainedFromBytes(
  name: string,
  bytes: Uint8Array,
  source: string = name,
): Promise<PretrainedModel> {
  const known = checkPretrainedName(name);
  const info: PretrainedInfo = PRETRAINED[known];
  const hash = await sha256Hex(bytes);
  if (hash !== null && hash !== info.sha256)
    throw new Error(`${source} is not the shipped ${known} model: its SHA-256 is ${hash}, expected ${info.sha256}`);
  // The seed only fills the weights the checkpoint then replaces.
  const model = new SmallCNN(new Random(0));
  try {
    const metadata = decodeModel(bytes, model, source);
    model.eval();
    return { name: known, model, info, metadata };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
