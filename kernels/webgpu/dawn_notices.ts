// Dawn's start-up notices (Node only). When Dawn first looks for adapters it may print informational
// lines such as "Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000
// to 16 to fit dynamic offset allocation limit." from native code straight to file descriptor 2.
// Dawn has no run-time switch for them (its log level is fixed when it is compiled, and neither
// create()'s flags nor its toggles reach its log), so the first adapter request runs with file
// descriptor 2 pointed at a temporary file: the known notices are kept for `yopo doctor`, which
// shows them with what they mean, and anything else written meanwhile goes on to the real stderr.

import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The notices Dawn prints when it lowers an adapter's limit to its own maximum. */
const LIMIT_NOTICE =
  /^Warning: (maxDynamic(?:Uniform|Storage)BuffersPerPipelineLayout) artificially reduced from (\d+) to (\d+) to fit dynamic offset allocation limit\.$/;

const notices: string[] = [];

/** The notices Dawn printed at start-up in this process (kept from the terminal), in order. */
export function dawnNotices(): readonly string[] {
  return notices;
}

/** What a notice means for yopo, or null for a line this module does not know. */
export function explainDawnNotice(line: string): string | null {
  const m = LIMIT_NOTICE.exec(line);
  if (!m) return null;
  return `the driver allows ${m[2]} buffers with dynamic offsets per pipeline layout; Dawn offers ${m[3]}, its own maximum. yopo binds no buffer with a dynamic offset, so this changes nothing for it.`;
}

/** Splits what Dawn wrote into the notices it knows (kept) and the rest (returned, for stderr). */
export function sortDawnOutput(text: string): string {
  const rest: string[] = [];
  for (const line of text.split('\n')) {
    if (LIMIT_NOTICE.test(line)) notices.push(line);
    else if (line !== '') rest.push(line);
  }
  return rest.length ? `${rest.join('\n')}\n` : '';
}

/** Where this system shows a process's own file descriptors by number (null: not here, e.g. Windows). */
function descriptorFolder(): string | null {
  return process.platform === 'linux' ? '/proc/self/fd' : process.platform === 'darwin' ? '/dev/fd' : null;
}

/**
 * Runs `job` with file descriptor 2 writing to a temporary file, then restores it and sorts what was
 * written (sortDawnOutput). Node has no dup2, so the descriptor is moved the POSIX way: closing 2
 * makes it the lowest free number, which the next open() takes, and stderr comes back by opening it
 * again by its path. That is the same stream only for a terminal or a pipe (a file opened again
 * would have its own write position, and `2>&1 > log` would write over itself), so elsewhere
 * (a file, a socket, Windows) the job runs as is and the notices go where stderr goes.
 */
export async function withDawnNoticesKept<T>(job: () => Promise<T>): Promise<T> {
  const folder = descriptorFolder();
  if (!folder) return job();
  let original: number;
  try {
    const kind = fstatSync(2);
    if (!kind.isCharacterDevice() && !kind.isFIFO()) return job();
    original = openSync(`${folder}/2`, 'a'); // a second descriptor on the same terminal or pipe
  } catch {
    return job();
  }
  const dir = mkdtempSync(join(tmpdir(), 'yopo-dawn-'));
  const file = join(dir, 'stderr');
  const restore = () => {
    const back = openSync(`${folder}/${original}`, 'a');
    if (back !== 2) closeSync(back); // 2 was not free: it is still whatever took it
    closeSync(original);
  };
  closeSync(2);
  const captured = openSync(file, 'w');
  if (captured !== 2) {
    // Another thread opened a file in between and took 2: put stderr back and run as is.
    closeSync(captured);
    restore();
    rmSync(dir, { recursive: true, force: true });
    return job();
  }
  try {
    return await job();
  } finally {
    closeSync(2);
    restore();
    const rest = sortDawnOutput(readFileSync(file, 'utf8'));
    rmSync(dir, { recursive: true, force: true });
    if (rest) process.stderr.write(rest);
  }
}
