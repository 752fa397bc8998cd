// The shipped models in a browser: fetched by URL (pretrained.ts has the names). By default from the
// package's pretrained/ folder beside dist/, as yopo's own page server serves it (/pretrained/).

import {
  type PretrainedModel,
  checkPretrainedName,
  pretrainedFromBytes,
  pretrainedRelativePath,
} from './pretrained.js';

/** Where the pretrained/ folder is by default: the package root as served (this file is dist/nn/pretrained_fetch.js). */
const DEFAULT_BASE = new URL('../../pretrained/', import.meta.url).href;

/** The URL of a shipped model's model.safetensors below `base` (a folder URL ending in '/'). */
export function pretrainedUrl(name: string, base: string = DEFAULT_BASE): string {
  return new URL(pretrainedRelativePath(checkPretrainedName(name)), base).href;
}

/** Fetches and loads a shipped model by name onto the current backend, in eval mode. `base` is the URL of a pretrained/ folder. */
export async function loadPretrained(name: string, options: { base?: string } = {}): Promise<PretrainedModel> {
  const url = pretrainedUrl(name, options.base);
  const response = await fetch(url);
  if (!response.ok)
    throw new Error(`could not fetch the pretrained model ${name} from ${url}: HTTP ${response.status}`);
  return pretrainedFromBytes(name, new Uint8Array(await response.arrayBuffer()), url);
}
