// Named instants where a test may kill the process, to prove that a crash there loses nothing.
//
// Production code calls faultPoint('name') between the steps of every durable write. Nothing happens
// unless the environment asks for it (read once, at the first call):
//   YOPO_FAULT_TRACE=FILE  append each point's name to FILE as it is reached (to count and list them);
//   YOPO_KILL_AT=N         SIGKILL this process at the N-th point reached (1-based), as a power cut would;
//   YOPO_STOP_AT=N         SIGINT this process at the N-th point reached, as a Ctrl-C there would.

import { appendFileSync } from 'node:fs';

let config: { trace?: string; killAt?: number; stopAt?: number } | null = null;
let reached = 0;

/** Marks a named instant in a durable write: appends the name to $YOPO_FAULT_TRACE, SIGKILLs the process at the $YOPO_KILL_AT-th point reached, SIGINTs it at the $YOPO_STOP_AT-th; does nothing when none is set. */
export function faultPoint(name: string): void {
  const env = process.env;
  config ??= {
    trace: env.YOPO_FAULT_TRACE || undefined,
    killAt: env.YOPO_KILL_AT ? Number(env.YOPO_KILL_AT) : undefined,
    stopAt: env.YOPO_STOP_AT ? Number(env.YOPO_STOP_AT) : undefined,
  };
  if (config.trace === undefined && config.killAt === undefined && config.stopAt === undefined) return;
  reached++;
  if (config.trace) appendFileSync(config.trace, `${name}\n`);
  if (reached === config.killAt) process.kill(process.pid, 'SIGKILL');
  if (reached === config.stopAt) process.kill(process.pid, 'SIGINT');
}
