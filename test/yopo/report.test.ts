// Tests for yopo/report: the metrics log, SVG charts and progress output. No GPU needed.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { MetricsLog, type MetricRecord } from '../../yopo/report/metrics.js';
import {
  comparisonTable,
  escapeXml,
  niceTicks,
  renderComparison,
  renderCurves,
  renderRunCurve,
  timeUnit,
} from '../../yopo/report/svg.js';
import { bestRobust, firstTimeAtLeast, timeToReachTable } from '../../yopo/report/time_to_reach.js';
import { Progress, formatDuration } from '../../yopo/report/progress.js';

const dirs: string[] = [];
function tempFile(name = 'metrics.jsonl'): string {
  const dir = mkdtempSync(join(tmpdir(), 'yopo-report-'));
  dirs.push(dir);
  return join(dir, name);
}
test.after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const rec = (step: number, extra: Partial<MetricRecord> = {}): MetricRecord => ({
  epoch: Math.floor(step / 10) + 1,
  step,
  elapsed_s: step * 1.5,
  ...extra,
});

// ---------------------------------------------------------------------------------------------
// metrics.jsonl

test('metrics: append then read round-trips records, one line each', () => {
  const path = tempFile();
  const log = new MetricsLog(path);
  const records = [
    rec(1, { loss: 2.3, lr: 0.1 }),
    rec(2, { loss: 1.9, train_accuracy: 0.41 }),
    rec(10, { clean_accuracy: 0.9812, robust_accuracy: 0.9231, attack: 'PGD-40', eps: 0.3, n: 10000 }),
  ];
  records.forEach((r) => log.append(r));
  assert.equal(readFileSync(path, 'utf8').split('\n').length, 4); // three lines + final newline
  assert.equal(MetricsLog.read(path), records);
  assert.equal(MetricsLog.load(path).warning, undefined);
});

test('metrics: append rejects a record without finite epoch/step/elapsed_s', () => {
  const log = new MetricsLog(tempFile());
  assert.throws(() => log.append({ epoch: 1, step: NaN, elapsed_s: 0 }), /"step" must be a finite number/);
});

test('metrics: a corrupt line is an error naming file and line number', () => {
  const path = tempFile();
  writeFileSync(path, [JSON.stringify(rec(1)), '{"epoch":1,"step":2,oops}', JSON.stringify(rec(3)), ''].join('\n'));
  try {
    MetricsLog.read(path);
    assert.unreachable('should have thrown');
  } catch (err) {
    const message = (err as Error).message;
    assert.ok(message.includes(`${path}:2:`), message);
    assert.match(message, /corrupt/);
  }
  writeFileSync(path, '[1,2,3]\n');
  assert.throws(() => MetricsLog.read(path), /:1: metrics line is not a JSON object/);
  writeFileSync(path, '{"epoch":1,"elapsed_s":0}\n');
  assert.throws(() => MetricsLog.read(path), /:1: metrics record has no numeric "step"/);
});

test('metrics: a partial last line (crash mid-write) is dropped with a warning', () => {
  const path = tempFile();
  const log = new MetricsLog(path);
  log.append(rec(1));
  log.append(rec(2));
  appendFileSync(path, '{"epoch":1,"step":3,"elapsed_s":4.'); // no newline: the write was cut off
  const { records, warning } = MetricsLog.load(path);
  assert.equal(
    records.map((r) => r.step),
    [1, 2],
  );
  assert.ok(warning?.includes(`${path}:3:`) && warning.includes('partial'), warning);
  assert.equal(MetricsLog.read(path).length, 2);

  // An unterminated last line that is complete JSON is kept.
  writeFileSync(path, `${JSON.stringify(rec(1))}\n${JSON.stringify(rec(2))}`);
  assert.equal(MetricsLog.load(path), { records: [rec(1), rec(2)] });
});

test('metrics: truncateAfterStep keeps steps <= checkpoint, drops the partial tail, rewrites atomically', () => {
  const path = tempFile();
  const log = new MetricsLog(path);
  for (const step of [1, 5, 10, 11, 20]) log.append(rec(step, { loss: step / 10 }));
  appendFileSync(path, '{"epoch":3,"st');
  const before = readFileSync(path, 'utf8').split('\n');

  assert.is(MetricsLog.truncateAfterStep(path, 10), 2);
  assert.equal(
    MetricsLog.read(path).map((r) => r.step),
    [1, 5, 10],
  );
  assert.equal(MetricsLog.load(path).warning, undefined);
  // Kept lines are byte-for-byte the originals, and no temp file is left behind.
  assert.equal(readFileSync(path, 'utf8'), `${before.slice(0, 3).join('\n')}\n`);
  assert.equal(readdirSync(join(path, '..')), ['metrics.jsonl']);

  // Resuming appends after a clean history.
  log.append(rec(11, { loss: 0.5 }));
  assert.equal(
    MetricsLog.read(path).map((r) => r.step),
    [1, 5, 10, 11],
  );
  assert.is(MetricsLog.truncateAfterStep(join(path, '..', 'missing.jsonl'), 3), 0);
});

// ---------------------------------------------------------------------------------------------
// SVG

/**
 * A small well-formedness check: every tag is closed in order, attributes are quoted, and text
 * has no raw '<' or stray '&'. Returns the element names in document order.
 */
function checkXml(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->|([^<]+)|(<)/g;
  let m: RegExpExecArray | null;
  while ((m = token.exec(body))) {
    const [, closing, name, , selfClosing, text, strayLt] = m;
    if (strayLt) throw new Error(`malformed tag near: ${body.slice(m.index, m.index + 40)}`);
    if (text !== undefined) {
      if (!stack.length && text.trim()) throw new Error(`text outside the root: ${text}`);
      const badAmp = text.match(/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);)/i);
      if (badAmp) throw new Error(`unescaped & in: ${text}`);
      if (text.includes('>')) throw new Error(`raw > in text: ${text}`);
      continue;
    }
    if (!name) continue; // comment
    if (closing) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else {
      names.push(name);
      if (!stack.length && names.length > 1) throw new Error('more than one root element');
      if (!selfClosing) stack.push(name);
    }
  }
  if (stack.length) throw new Error(`unclosed: ${stack.join(', ')}`);
  return names;
}

test('svg: the XML checker itself catches broken documents', () => {
  assert.equal(checkXml('<a><b x="1"/>t</a>'), ['a', 'b']);
  assert.throws(() => checkXml('<a><b></a></b>'));
  assert.throws(() => checkXml('<a>x & y</a>'));
  assert.throws(() => checkXml('<a><b x=1/></a>'));
  assert.throws(() => checkXml('<a>'));
});

test('svg: renderCurves gives a standalone, well-formed SVG with axes, legend and one path per series', () => {
  const svg = renderCurves({
    title: 'YOPO & PGD <MNIST>',
    xLabel: 'time (s)',
    yLabel: 'accuracy (%)',
    yRange: [0, 100],
    series: [
      {
        label: 'clean "yopo"',
        points: [
          { x: 0, y: 10 },
          { x: 30, y: 80 },
          { x: 60, y: 95 },
        ],
      },
      {
        label: "robust 'yopo'",
        dashed: true,
        points: [
          { x: 0, y: 5 },
          { x: 30, y: 60 },
          { x: 60, y: 88 },
        ],
      },
    ],
  });
  const names = checkXml(svg);
  assert.ok(svg.startsWith('<?xml version="1.0"'));
  assert.match(
    svg,
    /<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" version="1\.1" width="800" height="480" viewBox="0 0 800 480"/,
  );
  assert.match(svg, /<rect x="0" y="0" width="800" height="480" fill="#ffffff"\/>/);
  assert.is(names.filter((n) => n === 'path').length, 3); // two curves + the axes
  assert.is((svg.match(/stroke-dasharray/g) ?? []).length, 2); // the dashed curve and its legend sample
  // Text is escaped, never raw.
  assert.ok(svg.includes('YOPO &amp; PGD &lt;MNIST&gt;'));
  assert.ok(svg.includes('clean &quot;yopo&quot;'));
  assert.ok(svg.includes('robust &apos;yopo&apos;'));
  assert.not.ok(svg.includes('<MNIST>'));
  for (const label of ['time (s)', 'accuracy (%)']) assert.ok(svg.includes(`>${label}</text>`), label);
  // y ticks on the fixed 0..100 range.
  for (const tick of ['0', '20', '40', '60', '80', '100']) assert.ok(svg.includes(`>${tick}</text>`), tick);
});

test('svg: edge cases: empty and one-point series, equal x values, NaN and missing values', () => {
  const svg = renderCurves({
    title: 'edges',
    xLabel: 'x',
    yLabel: 'y',
    series: [
      { label: 'empty', points: [] },
      { label: 'single', points: [{ x: 3, y: 7 }] },
      {
        label: 'same x',
        points: [
          { x: 3, y: 1 },
          { x: 3, y: 9 },
        ],
      },
      {
        label: 'holes',
        points: [
          { x: 1, y: NaN },
          { x: 2, y: 4 },
          { x: NaN, y: 2 },
          { x: 4, y: undefined as unknown as number },
          { x: 5, y: 5 },
        ],
      },
    ],
  });
  checkXml(svg);
  assert.not.match(svg, /NaN|undefined|Infinity/);
  assert.ok(svg.includes('empty (no data)'));
  assert.match(svg, /<circle [^>]*r="4"/); // the one-point series gets a marker
  assert.is((svg.match(/<path d="M[^"]*"/g) ?? []).length, 3); // 'same x', 'holes', axes
  // No series at all still makes a chart.
  checkXml(renderCurves({ title: 't', xLabel: 'x', yLabel: 'y', series: [] }));
  assert.is(escapeXml('a\u0001b&'), 'ab&amp;');
});

test('svg: nice ticks', () => {
  assert.equal(niceTicks(0, 100).values, [0, 20, 40, 60, 80, 100]);
  assert.equal(niceTicks(0, 7.3).values, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const t = niceTicks(0.12, 0.93);
  assert.equal(t.values, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.is(t.decimals, 1);
  assert.equal(niceTicks(13, 1234).values, [0, 200, 400, 600, 800, 1000, 1200, 1400]);
  assert.equal(niceTicks(-3, 3).values, [-3, -2, -1, 0, 1, 2, 3]);
  // An empty range is widened around the value.
  const flat = niceTicks(5, 5);
  assert.ok(flat.min < 5 && flat.max > 5 && flat.values.length >= 2, JSON.stringify(flat));
  assert.equal(niceTicks(0, 0).values.length >= 2, true);
  // Every value is a whole multiple of the step, with no float noise.
  for (const v of niceTicks(0.1, 0.7).values) assert.is(String(v).length <= 4, true, String(v));
});

test('svg: time unit by range', () => {
  assert.is(timeUnit(90).unit, 's');
  assert.is(timeUnit(1800).unit, 'min');
  assert.is(timeUnit(5 * 3600).unit, 'h');
});

function fakeRun(seconds: number, finalClean: number, finalRobust: number): MetricRecord[] {
  const records: MetricRecord[] = [];
  for (let epoch = 1; epoch <= 5; epoch++) {
    const t = (seconds * epoch) / 5;
    records.push({ epoch, step: epoch * 100 - 50, elapsed_s: t - 1, loss: 1 / epoch }); // a training record
    records.push({
      epoch,
      step: epoch * 100,
      elapsed_s: t,
      clean_accuracy: (finalClean * epoch) / 5,
      robust_accuracy: (finalRobust * epoch) / 5,
      attack: 'PGD-20',
      eps: 0.3,
    });
  }
  return records;
}

test('svg: renderRunCurve draws clean and robust (dashed) curves in percent against time', () => {
  const svg = renderRunCurve(fakeRun(600, 0.98, 0.9), 'YOPO-5-3 on MNIST');
  checkXml(svg);
  assert.ok(svg.includes('>wall-clock time (min)</text>'));
  assert.ok(svg.includes('>clean</text>'));
  assert.ok(svg.includes('>robust (PGD-20, eps 0.3)</text>'));
  assert.is((svg.match(/<path d="M[^"]*" stroke="#/g) ?? []).length, 2);
  assert.is((svg.match(/<path [^>]*stroke-dasharray/g) ?? []).length, 1);
});

test('svg: renderComparison and comparisonTable', () => {
  const runs = [
    { name: 'yopo', records: fakeRun(300, 0.97, 0.93) },
    { name: 'pgd', records: fakeRun(1500, 0.99, 0.95) },
  ];
  const svg = renderComparison(runs);
  checkXml(svg);
  const curves = svg.match(/<path d="M[^"]*" stroke="(#[0-9a-f]{6})"[^>]*>/g) ?? [];
  assert.is(curves.length, 4);
  // Same color for a run's clean and robust curves, different colors across runs.
  const colors = curves.map((c) => c.match(/stroke="(#[0-9a-f]{6})"/)![1]);
  assert.is(colors[0], colors[1]);
  assert.is(colors[2], colors[3]);
  assert.is.not(colors[0], colors[2]);
  for (const label of ['yopo clean', 'yopo robust (PGD-20, eps 0.3)', 'pgd clean'])
    assert.ok(svg.includes(`>${label}</text>`), label);

  const table = comparisonTable([...runs, { name: 'empty', records: [] }]);
  const lines = table.trimEnd().split('\n');
  assert.is(lines.length, 5);
  assert.match(lines[0], /^run\s+clean %\s+robust %\s+wall time\s+epochs\s+steps$/);
  assert.match(lines[2], /^yopo\s+97\.00\s+93\.00\s+5m00s\s+5\s+500$/);
  assert.match(lines[3], /^pgd\s+99\.00\s+95\.00\s+25m00s\s+5\s+500$/);
  assert.match(lines[4], /^empty\s+-\s+-\s+-\s+-\s+-$/);
  // Columns are aligned: right-aligned cells end at the same offset on every line.
  const ends = lines.map((l) => l.length);
  assert.ok(
    ends.every((e) => e === ends[0]),
    JSON.stringify(ends),
  );
});

test('time to reach: each run against the best of the other, robust accuracy, final test records left out', () => {
  const evaluation = (elapsed_s: number, robust: number, extra: Partial<MetricRecord> = {}): MetricRecord => ({
    epoch: 1,
    step: elapsed_s,
    elapsed_s,
    clean_accuracy: 0.9,
    robust_accuracy: robust,
    attack: 'pgd-40',
    norm: 'linf',
    eps: 0.3,
    n: 200,
    ...extra,
  });
  const yopo = [
    evaluation(60, 0.1),
    evaluation(120, 0.3),
    evaluation(180, 0.5),
    evaluation(180, 0.99, { final: 'last', split: 'test' }),
  ];
  const pgd = [evaluation(300, 0.2), evaluation(600, 0.35), evaluation(900, 0.3)];
  assert.equal(bestRobust(pgd), { accuracy: 0.35, elapsedS: 600, record: pgd[1] });
  assert.equal(bestRobust(yopo), { accuracy: 0.5, elapsedS: 180, record: yopo[2] }); // not the final test record's 0.99
  assert.is(firstTimeAtLeast(yopo, 0.35), 180);
  assert.is(firstTimeAtLeast(pgd, 0.5), undefined);
  const lines = timeToReachTable([
    { name: 'yopo', records: yopo },
    { name: 'pgd', records: pgd },
  ])
    .trimEnd()
    .split('\n');
  assert.equal(lines, [
    "pgd did not reach yopo's best robust accuracy (50.00%, pgd-40, linf ε=0.3, n=200, at 3m00s) in its 15m00s of training",
    "yopo reached pgd's best robust accuracy (35.00%, pgd-40, linf ε=0.3, n=200) at 3m00s; pgd took 10m00s (0.30×)",
  ]);
  assert.is(
    timeToReachTable([
      { name: 'empty', records: [] },
      { name: 'pgd', records: pgd },
    ]),
    '',
  );
});

// ---------------------------------------------------------------------------------------------
// Progress

class FakeStream {
  chunks: string[] = [];
  constructor(readonly isTTY: boolean) {}
  write(s: string) {
    this.chunks.push(s);
    return true;
  }
  get text() {
    return this.chunks.join('');
  }
}

test('progress: formatDuration', () => {
  assert.is(formatDuration(0), '0s');
  assert.is(formatDuration(42.4), '42s');
  assert.is(formatDuration(59.6), '1m00s');
  assert.is(formatDuration(83), '1m23s');
  assert.is(formatDuration(362), '6m02s');
  assert.is(formatDuration(7509), '2h05m09s');
  assert.is(formatDuration(NaN), '--');
  assert.is(formatDuration(-5), '0s');
});

test('progress: TTY redraws one line with \\r, throttled to 10/s, and log() keeps the bar', () => {
  let t = 0;
  const stream = new FakeStream(true);
  const p = new Progress({ total: 100, label: 'epoch 1/40', stream, now: () => t, barWidth: 10 });
  for (let done = 1; done <= 100; done++) {
    t += 20; // 50 updates a second
    p.update(done, { 'img/s': 312.4, loss: 0.41234 });
  }
  const draws = stream.chunks.filter((c) => c.startsWith('\r'));
  assert.ok(draws.every((c) => c.endsWith('\x1b[K') && !c.includes('\n')));
  // 2 s of updates at most 10 redraws a second: about 20 plus the final one, not 100.
  assert.ok(draws.length >= 19 && draws.length <= 22, String(draws.length));
  assert.is(draws[draws.length - 1], '\repoch 1/40 [##########] 100/100 312 img/s loss 0.4123 eta 0s\x1b[K');
  // Halfway: 1.02 s spent on 51 items, so about 1 s to go.
  assert.ok(draws.includes('\repoch 1/40 [#####.....] 51/100 312 img/s loss 0.4123 eta 1s\x1b[K'), draws.join('|'));

  stream.chunks = [];
  p.log('checkpoint saved');
  assert.is(stream.chunks[0], '\r\x1b[Kcheckpoint saved\n');
  assert.ok(stream.chunks[1].startsWith('\repoch 1/40 [##########]'));
  p.finish();
  assert.ok(stream.text.endsWith('\x1b[K\n'));
  p.update(100, {}); // ignored after finish
  assert.ok(stream.text.endsWith('\x1b[K\n'));
});

test('progress: not a TTY: plain lines, first, then at most one per interval, then last', () => {
  let t = 0;
  const stream = new FakeStream(false);
  const p = new Progress({ total: 235, label: 'epoch 1/40', stream, now: () => t, intervalS: 10 });
  for (let done = 1; done <= 235; done++) {
    t += 500; // one batch every 0.5 s: 117.5 s in all
    p.update(done, { 'img/s': 312, loss: 0.4123 });
  }
  p.finish('epoch 1 done');
  const lines = stream.text.split('\n').filter(Boolean);
  assert.not.ok(stream.text.includes('\r') || stream.text.includes('\x1b'));
  assert.is(lines[0], 'epoch 1/40 batch 1/235 312 img/s loss 0.4123 eta 1m57s');
  // One line every 10 s of 117.5 s (first at 0.5 s, then 10.5, 20.5, ...), the last, the summary.
  assert.is(lines.length, 12 + 1 + 1, lines.join('\n'));
  assert.ok(lines.includes('epoch 1/40 batch 21/235 312 img/s loss 0.4123 eta 1m47s'), lines.join('\n'));
  assert.is(lines[lines.length - 2], 'epoch 1/40 batch 235/235 312 img/s loss 0.4123 eta 0s');
  assert.is(lines[lines.length - 1], 'epoch 1 done');

  // finish() prints a state the throttle held back.
  const s2 = new FakeStream(false);
  const q = new Progress({ total: 10, stream: s2, now: () => t, intervalS: 10, unit: 'image' });
  q.update(0);
  q.update(5);
  q.finish();
  assert.equal(s2.text.split('\n').filter(Boolean), ['image 0/10 eta --', 'image 5/10 eta 0s']);
});

test('progress: a time limit caps the ETA (a training time budget ends the run before the epoch)', () => {
  let t = 0;
  const stream = new FakeStream(false);
  const p = new Progress({ total: 938, label: 'epoch 1/40', stream, now: () => t, intervalS: 0 });
  p.update(0, {}, 480);
  t += 5000; // 5 s per batch: the epoch would take 78 minutes, but 8 minutes of budget are left
  p.update(1, {}, 475);
  t += 5000;
  p.update(2, {}, Infinity); // no limit: the rate decides
  t += 5000;
  p.update(3, {}, -2); // a step past the budget: nothing left
  assert.equal(stream.text.split('\n').filter(Boolean), [
    'epoch 1/40 batch 0/938 eta 8m00s',
    'epoch 1/40 batch 1/938 eta 7m55s',
    'epoch 1/40 batch 2/938 eta 1h18m00s',
    'epoch 1/40 batch 3/938 eta 0s',
  ]);
});

test.run();
