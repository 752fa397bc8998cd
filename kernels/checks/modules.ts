// The check modules of kernels/checks/, one per kernel family: test/kernel_checks.test.ts runs them on
// Node's WebGPU, test/browser.test.ts in Chromium (loaded by URL from /dist/kernels/checks/).

import type { Check } from './check.js';

export const CHECK_MODULES = ['elementwise', 'matmul', 'conv', 'pool_bn', 'reduce', 'softmax'].map((family) => `${family}_checks.js`);

/** Every module's checks, in order (the import is relative to this file, in Node and in a page). */
export async function loadChecks(): Promise<{ module: string; checks: Check[] }[]> {
  return Promise.all(CHECK_MODULES.map(async (module) => ({ module, checks: ((await import(`./${module}`)) as { checks: Check[] }).checks })));
}
