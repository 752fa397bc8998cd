// Dawn's start-up notices ("maxDynamic...BuffersPerPipelineLayout artificially reduced ...") stay out
// of a command's output (kernels/webgpu/dawn_notices.ts) and `yopo doctor` shows each once with
// what it means. The commands run as a user runs them, with output to a pipe (through sh: Node's own
// child pipes are sockets, which dawn_notices.ts cannot reopen and so leaves alone).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dawnNotices, explainDawnNotice, sortDawnOutput } from '../../kernels/webgpu/dawn_notices.js';

const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const NOTICE =
  'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';
const ANY_NOTICE = /artificially reduced from/;

/** stdout and stderr of `yopo ARGS 2>&1 | cat`. */
const yopo = (...args: string[]) => {
  const r = spawnSync('sh', ['-c', '"$0" "$@" 2>&1 | cat', process.execPath, CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp/yopo-runtime' },
  });
  assert.is(r.status, 0, `yopo ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
};

test('the known notices are kept, anything else Dawn writes is passed on', () => {
  const before = dawnNotices().length;
  const rest = sortDawnOutput(`${NOTICE}\nWarning: something Dawn has not said before\n\n`);
  assert.is(rest, 'Warning: something Dawn has not said before\n');
  assert.equal(dawnNotices().slice(before), [NOTICE]);
  assert.match(explainDawnNotice(NOTICE) ?? '', /driver allows 1000000 .*Dawn offers 16.*changes nothing/);
  assert.is(explainDawnNotice('Warning: something else'), null);
});

test('yopo doctor shows each notice once, with what it means', () => {
  const out = yopo('doctor');
  const shown = out.split('\n').filter((line) => ANY_NOTICE.test(line));
  // A driver whose limits fit Dawn's (no notice) shows none; lavapipe gets two.
  assert.is(new Set(shown).size, shown.length, `a notice shown twice:\n${out}`);
  for (const line of shown) assert.match(line, /^Dawn said at start-up: Warning: /);
  assert.is(out.split('\n').filter((line) => line.includes('changes nothing for it')).length, shown.length);
});

test('a short WebGPU command prints no Dawn notice', () => {
  const checkpoint = fileURLToPath(
    new URL('../../../pretrained/smallcnn-mnist-natural/model.safetensors', import.meta.url),
  );
  const card = join(mkdtempSync(join(tmpdir(), 'yopo-dawn-notices-')), 'card');
  const out = yopo(
    'eval',
    '--checkpoint',
    checkpoint,
    '--attack',
    'none',
    '--limit',
    '20',
    '--no-sanity',
    '--card',
    card,
  );
  assert.not.match(out, ANY_NOTICE);
  assert.match(out, /clean accuracy .* \(n=20 test images/);
  rmSync(dirname(card), { recursive: true, force: true });
});

test.run();
