// The step report (bench/suites/step_report.ts) on the WebGPU adapter: a natural SmallCNN step's
// counts are whole numbers that agree with each other, no readback happens inside a step, the kernel
// shares add up, and the report renders in the table and in docs/benchmarks-latest.md. Nothing here
// judges a time: performance claims live in the bench.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { SuiteContext } from '../../bench/context.js';
import { renderResultsMarkdown } from '../../bench/markdown.js';
import { BUDGETS } from '../../bench/measure.js';
import { type BenchReport, REPORT_KERNELS, type StepReport, formatTable } from '../../bench/report.js';
import { stepReportSuite } from '../../bench/suites/step_report.js';
import { setBackend } from '../../engine/index.js';
import { webgpu } from '../helpers.js';

let natural: StepReport;

test('a natural SmallCNN step: its work per step, with no readback, and kernel shares that add up', async () => {
  const backend = await webgpu();
  setBackend(backend);
  const ctx = {
    backend,
    budget: BUDGETS.quick,
    quick: true,
    wants: (name: string) => name === 'report/smallcnn/natural',
    log: () => {},
    // PyTorch's side of the report is checked in bench.test.ts (the peer) and below (rendering).
    torchProfile: () => null,
  } as unknown as SuiteContext;
  const reports = await stepReportSuite(ctx);
  assert.equal(
    reports.map((r) => r.name),
    ['report/smallcnn/natural'],
    'only the selected method runs',
  );
  natural = reports[0]!;
  const c = natural.counts;
  // The same step records the same work every time, on the same pooled buffers and uniform slots, so
  // after the warm-up it creates no bind group.
  for (const [key, value] of Object.entries(c)) assert.ok(Number.isInteger(value), `${key} per step: ${value}`);
  assert.is(c.bindGroups, 0, 'after the warm-up every bind group comes from the cache');
  // SmallCNN's 7 layers: at least a forward and a weight gradient each, and 14 parameter updates.
  assert.ok(c.dispatches >= 28, `${c.dispatches} dispatches`);
  assert.ok(c.submits >= 1 && c.encoders >= c.submits, `${c.submits} submits, ${c.encoders} encoders`);
  assert.is(c.readbacks, 0, 'nothing is read back inside a training step');
  assert.is(c.pipelines, 0, 'after the warm-up a step compiles nothing');
  assert.ok(natural.record_ms > 0 && natural.step_ms >= natural.record_ms);
  assert.ok(
    Math.abs(natural.record_us_per_dispatch - (1000 * natural.record_ms) / c.dispatches) <
      0.01 * natural.record_us_per_dispatch + 0.01,
  );
  if (backend.gpu.canProfile) {
    assert.is(
      natural.kernels.reduce((n, k) => n + k.dispatches, 0),
      c.dispatches,
      'the profiled step ran the same dispatches',
    );
    const shares = natural.kernels.reduce((s, k) => s + k.share, 0);
    assert.ok(Math.abs(shares - 1) < 0.01, `shares add up to ${shares}`);
    assert.ok(
      natural.kernels.some((k) => k.name.startsWith('conv2d')),
      'the convs are among the kernels',
    );
  } else {
    console.log("  no kernel shares: this adapter has no 'timestamp-query'");
  }
});

test('the report renders in the table and the results page, its long tail on one line', () => {
  const report: BenchReport = {
    date: '2026-12-07T00:00:00.000Z',
    adapter: 'test adapter',
    software: true,
    commit: 'abc1234',
    command: 'yopo bench --filter report',
    quick: false,
    results: [],
    step_reports: [
      {
        ...natural,
        torch: {
          step_ms: 70.5,
          op_ms: 66,
          ops: [
            { name: 'aten::convolution_backward', calls: 4, ms: 40, share: 40 / 66 },
            { name: 'aten::mkldnn_convolution', calls: 4, ms: 26, share: 26 / 66 },
          ],
        },
      },
    ],
  };
  const table = formatTable(report);
  assert.match(table, "Where a step's time goes: report/smallcnn/natural");
  assert.match(table, `${natural.counts.dispatches} dispatches`);
  const md = renderResultsMarkdown(report);
  assert.match(md, "## Where a step's time goes: report/smallcnn/natural (batch 128)");
  const rows = md.split('\n').filter((l) => (l.startsWith('| `') && !l.includes('aten::')) || / others \|/.test(l));
  assert.is(rows.length, Math.min(natural.kernels.length, REPORT_KERNELS + 1));
  assert.match(md, 'PyTorch CPU, the same step: 70.5 ms');
  assert.match(md, '| `aten::convolution_backward` | 4 | 40.0 | 60.6% |');
});

test.run();
