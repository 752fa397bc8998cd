// Writes docs/cli.md from the built CLI itself: `yopo --help` lists the commands (cli/main.ts's
// COMMANDS) and `yopo COMMAND --help` prints the text cli/args.ts's helpText derives from that
// command's option spec, so the page says exactly what the CLI accepts. test/cli/cli_docs.test.ts fails
// when docs/cli.md differs from what this writes.
//
//   npm run docs:cli                          (builds, then writes docs/cli.md)
//   node scripts/cli-docs.mjs --out FILE      (writes FILE instead; needs a build)
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'cli', 'main.js');

/** What `yopo ...args` prints; a failure stops the generator with the CLI's own message. */
function yopo(...args) {
  const run = spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  });
  if (run.status !== 0)
    throw new Error(
      `yopo ${args.join(' ')} exited ${run.status}: ${(run.stderr || run.stdout).trim().split('\n')[0]} (run \`npm run build\` first)`,
    );
  return run.stdout.replace(/[ \t]+$/gm, '').trimEnd();
}

/** The commands of `yopo --help`, in its order: [name, summary]. */
function commands() {
  const lines = yopo('--help').split('\n');
  return lines
    .slice(lines.indexOf('commands:') + 1)
    .map((line) => /^ {2}(\S+)\s+(.*)$/.exec(line))
    .filter(Boolean)
    .map((m) => [m[1], m[2]]);
}

/** One command's section: its heading, the one-line summary of its help, then the rest of the help. */
function section(name) {
  const [first, ...rest] = yopo(name, '--help').split('\n');
  const summary = first.replace(`yopo ${name}: `, '');
  return [
    `## yopo ${name}`,
    '',
    `${summary.charAt(0).toUpperCase()}${summary.slice(1)}.`,
    '',
    '```text',
    ...rest.join('\n').trim().split('\n'),
    '```',
  ].join('\n');
}

/** The whole page. */
function renderCliDocs() {
  const list = commands();
  if (list.length === 0) throw new Error("yopo --help listed no commands: has its 'commands:' list changed?");
  return [
    '# The yopo command line',
    '',
    "<!-- Generated from the commands' option specs by `npm run docs:cli`; edit cli/, not this file. -->",
    '',
    'Usage: `yopo COMMAND [options]`. `yopo COMMAND --help` prints the same text as each section below.',
    'An error prints one line and exits with status 1; a bad command line exits with status 2.',
    '',
    '| Command | What it does |',
    '| --- | --- |',
    ...list.map(([name, summary]) => `| [\`${name}\`](#yopo-${name}) | ${summary.replaceAll('|', '\\|')} |`),
    '',
    ...list.flatMap(([name]) => [section(name), '']),
  ].join('\n');
}

const { values } = parseArgs({ options: { out: { type: 'string', default: join(root, 'docs', 'cli.md') } } });
try {
  writeFileSync(values.out, renderCliDocs());
  console.log(`wrote ${values.out}`);
} catch (error) {
  console.error(`cli-docs: ${error.message}`);
  process.exit(1);
}
