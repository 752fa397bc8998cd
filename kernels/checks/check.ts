// A check: one GPU-versus-CPU-reference comparison that runs unchanged in Node (Dawn) and in a browser
// page (navigator.gpu). Check modules import only browser-safe modules (engine/, its reference harness,
// the WebGPU backend; no Node built-ins), export `checks`, and throw on failure; the runners
// (test/kernels/kernel_checks.test.ts in Node, web/checks.ts in the page) collect one report per check.

import { type Backend, CpuBackend } from '../../engine/index.js';
import { type OpCheck, checkOp, formatReport } from '../../engine/reference/index.js';

export interface CheckEnv {
  gpu: Backend;
  cpu: Backend;
}

export interface Check {
  name: string;
  run(env: CheckEnv): Promise<void>;
}

export interface CheckReport {
  name: string;
  ok: boolean;
  /** The failure message, or '' when the check passed. */
  detail: string;
  ms: number;
}

/**
 * An op check of the reference harness (engine/reference: the same seeded random inputs on the GPU and
 * on the CPU reference, every output compared) as a check; the reference stores float64 unless
 * `reference` is 'float32'. Fails with the harness's report (worst element, seed).
 */
export function opCheck(op: OpCheck, seed: number, reference: 'float64' | 'float32' = 'float64'): Check {
  return {
    name: op.name,
    async run(env) {
      const report = await checkOp(env.gpu, op, {
        seed,
        reference: reference === 'float64' ? new CpuBackend({ float64: true }) : env.cpu,
      });
      if (!report.ok) throw new Error(formatReport(report));
    },
  };
}

/** Runs checks one after another; a failing check is reported, never thrown. */
export async function runChecks(checks: readonly Check[], env: CheckEnv): Promise<CheckReport[]> {
  const reports: CheckReport[] = [];
  for (const check of checks) {
    const started = performance.now();
    try {
      await check.run(env);
      reports.push({ name: check.name, ok: true, detail: '', ms: performance.now() - started });
    } catch (error) {
      reports.push({ name: check.name, ok: false, detail: (error as Error).message, ms: performance.now() - started });
    }
  }
  return reports;
}

/** |a − b| ≤ atol + rtol·|b| elementwise; throws naming the worst element. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  rtol = 1e-4,
  atol = 1e-5,
): void {
  if (actual.length !== expected.length)
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= worstExcess)) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0)
    throw new Error(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`,
    );
}
