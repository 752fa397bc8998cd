// Runs check modules in the page: each module (compiled, Node-free) exports `checks`; the reports come
// back to the caller (the browser tests, through page.evaluate) and are listed on the page.

import { CpuBackend, useWebGPU } from '../browser.js';
import { type Check, type CheckReport, runChecks } from '../kernels/checks/check.js';

async function run(moduleUrls: string[]): Promise<CheckReport[]> {
  const env = { gpu: await useWebGPU(), cpu: new CpuBackend() };
  const reports: CheckReport[] = [];
  for (const url of moduleUrls) {
    const module = (await import(new URL(url, location.href).href)) as { checks: Check[] };
    reports.push(...(await runChecks(module.checks, env)));
  }
  document.getElementById('out')!.textContent = reports
    .map((r) => `${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.ms.toFixed(0)} ms)${r.detail ? `: ${r.detail}` : ''}`)
    .join('\n');
  return reports;
}

Object.assign(window, { yopoChecks: { run } });
