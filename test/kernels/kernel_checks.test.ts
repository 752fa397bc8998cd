// The kernel checks of kernels/checks/ (GPU against the CPU reference, every kernel family) on Node's
// WebGPU: the very list test/web/browser.test.ts runs in Chromium. One test per family.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runChecks } from '../../kernels/checks/check.js';
import { loadChecks } from '../../kernels/checks/modules.js';
import { cpu, webgpu } from '../helpers.js';

for (const { module, checks } of await loadChecks()) {
  test(`${module}: ${checks.length} checks pass on Node's WebGPU`, async () => {
    assert.ok(checks.length > 0, `${module} exports no checks`);
    const reports = await runChecks(checks, { gpu: await webgpu(), cpu });
    const failed = reports.filter((r) => !r.ok).map((r) => `${r.name}: ${r.detail}`);
    assert.equal(failed, [], failed.join('\n'));
  });
}

test.run();
