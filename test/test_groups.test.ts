// Every test file is in exactly one group of scripts/test-groups.mjs (what it needs: `npm run
// test:fast` runs the `fast` group), and every name there is a test file: a new file cannot be
// silently left out of the fast run or the classification.

import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const groupsFile = join(repoRoot, 'scripts', 'test-groups.mjs');
const { TEST_GROUPS } = (await import(pathToFileURL(groupsFile).href)) as { TEST_GROUPS: Record<string, string[]> };

/** What is wrong with a classification of `files`: one line per unclassified, twice-classified or unknown name. */
function classificationProblems(files: readonly string[], groups: Record<string, readonly string[]>): string[] {
  const problems: string[] = [];
  for (const file of files) {
    const holders = Object.keys(groups).filter((g) => groups[g].includes(file));
    if (holders.length === 0)
      problems.push(
        `test/${file}.test.ts is in no group of scripts/test-groups.mjs (add it to the one for what it needs)`,
      );
    if (holders.length > 1) problems.push(`test/${file}.test.ts is in several groups: ${holders.join(', ')}`);
  }
  for (const [group, names] of Object.entries(groups)) {
    for (const name of names)
      if (!files.includes(name)) problems.push(`${group} lists '${name}', but there is no test/${name}.test.ts`);
  }
  return problems;
}

test('the check names unclassified, twice-classified and unknown files', () => {
  assert.equal(classificationProblems(['a', 'b', 'c'], { fast: ['a', 'b'], slow: ['b', 'd'] }), [
    'test/b.test.ts is in several groups: fast, slow',
    'test/c.test.ts is in no group of scripts/test-groups.mjs (add it to the one for what it needs)',
    "slow lists 'd', but there is no test/d.test.ts",
  ]);
});

test('every test file is in exactly one group, and every group names test files', () => {
  const files = readdirSync(join(repoRoot, 'test'), { recursive: true })
    .map((f) => String(f))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => f.replace(/\.test\.ts$/, ''));
  assert.ok(files.length > 40, `only ${files.length} test files found in test/`);
  assert.ok(TEST_GROUPS.fast.length > 10, 'the fast group is (nearly) empty');
  const problems = classificationProblems(files, TEST_GROUPS);
  assert.equal(problems, [], problems.join('\n'));
});

test.run();
