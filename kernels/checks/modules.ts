// The check modules of kernels/checks/, one per kernel family: test/kernels/kernel_checks.test.ts runs them on
// Node's WebGPU, test/web/browser.test.ts in Chromium (loaded by URL from /dist/kernels/checks/).

import type { Check } from './check.js';

// Literal import()s, so the import graph (test/import_graph.test.ts) sees every check module.
const LOADERS: Record<string, () => Promise<{ checks: Check[] }>> = {
  'elementwise_checks.js': () => import('./elementwise_checks.js'),
  'matmul_checks.js': () => import('./matmul_checks.js'),
  'conv_checks.js': () => import('./conv_checks.js'),
  'pool_bn_checks.js': () => import('./pool_bn_checks.js'),
  'reduce_checks.js': () => import('./reduce_checks.js'),
  'softmax_checks.js': () => import('./softmax_checks.js'),
};

/** The check modules' file names, in order. */
export const CHECK_MODULES = Object.keys(LOADERS);

/** Every module's checks, in order. */
export async function loadChecks(): Promise<{ module: string; checks: Check[] }[]> {
  return Promise.all(
    Object.entries(LOADERS).map(async ([module, load]) => ({ module, checks: (await load()).checks })),
  );
}
