// Scoped memory: tidy(fn) disposes every tensor created while fn runs, except those it returns (found
// anywhere in the returned value: a tensor, an array, an object) and those passed to keep(). Tensors
// created outside any scope live until disposed by hand (model parameters, optimiser state).

import type { Tensor } from './tensor.js';

const scopes: Set<Tensor>[] = [];

/** Called by every new tensor. */
export function trackTensor(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Lets a tensor outlive every enclosing scope. */
export function keep<T extends Tensor>(t: T): T {
  for (const scope of scopes) scope.delete(t);
  return t;
}

/** Runs fn and disposes every tensor it created except those in its result (and those passed to keep()); fn must be synchronous. */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise)
      throw new Error(
        'tidy: the function returned a Promise; tidy only works with synchronous functions (await outside it)',
      );
  } catch (error) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw error;
  }
  scopes.pop();
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

function collectTensors(value: unknown, out: Set<Tensor>): void {
  if (value === null || typeof value !== 'object') return;
  if (isTensor(value)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, out);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, out);
  }
}

function isTensor(value: object): value is Tensor {
  return 'storage' in value && 'shape' in value && 'dtype' in value && typeof (value as Tensor).dispose === 'function';
}
