// docs/cli.md is generated from the commands' option specs (scripts/cli-docs.mjs runs `yopo --help`
// and `yopo COMMAND --help`): this test regenerates it and fails when the committed page differs.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The first line where two texts differ, as 'line N: have … / want …', or null when they are equal. */
function firstDifference(have: string, want: string): string | null {
  const [a, b] = [have.split('\n'), want.split('\n')];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i])
      return `line ${i + 1}: the page has ${JSON.stringify(a[i] ?? '(end of file)')}, the CLI gives ${JSON.stringify(b[i] ?? '(end of file)')}`;
  }
  return null;
}

test('firstDifference names the first differing line, and null for equal texts', () => {
  assert.is(firstDifference('a\nb\nc', 'a\nb\nc'), null);
  assert.is(firstDifference('a\nb', 'a\nB\nc'), 'line 2: the page has "b", the CLI gives "B"');
  assert.is(firstDifference('a', 'a\nc'), 'line 2: the page has "(end of file)", the CLI gives "c"');
});

test("docs/cli.md is what `npm run docs:cli` writes from the commands' option specs", () => {
  const dir = mkdtempSync(join(tmpdir(), 'yopo-cli-docs-'));
  try {
    const out = join(dir, 'cli.md');
    const run = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'cli-docs.mjs'), '--out', out], {
      encoding: 'utf8',
    });
    assert.is(run.status, 0, `scripts/cli-docs.mjs failed: ${run.stderr.trim()}`);
    const generated = readFileSync(out, 'utf8');
    assert.ok(
      generated.includes('## yopo train') && generated.includes('--method METHOD'),
      'the generated page lacks yopo train and its --method',
    );
    const difference = firstDifference(readFileSync(join(repoRoot, 'docs', 'cli.md'), 'utf8'), generated);
    assert.is(difference, null, `docs/cli.md is stale (${difference}); regenerate it with \`npm run docs:cli\``);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
