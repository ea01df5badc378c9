// Linux process facts read from /proc, for test helpers that must find,
// freeze and kill the processes of a server they did not fork themselves.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** The one-letter state of `pid` (R, S, D, T, Z, …) from /proc/<pid>/stat; undefined once it is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * Gone for our purposes: no longer runs. A zombie counts, because an orphan
 * is reaped by PID 1, and on some machines (this one) PID 1 reaps lazily,
 * about a second later.
 */
export function isGone(pid: number): boolean {
  const state = processState(pid);
  return state === undefined || state === 'Z' || state === 'X';
}

/** Stopped by SIGSTOP (or by a tracer), or gone. */
export function isStopped(pid: number): boolean {
  const state = processState(pid);
  return state === 'T' || state === 't' || isGone(pid);
}

/**
 * Every live process whose working directory is `dir`. PostgreSQL's server
 * processes all change into the data directory, so this finds them even
 * once the postmaster is gone and they were handed to PID 1.
 */
export function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cwd: string;
    try {
      cwd = readlinkSync(`/proc/${entry}/cwd`);
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    if (cwd === dir || cwd === `${dir} (deleted)`) pids.push(Number(entry));
  }
  return pids.filter((pid) => !isGone(pid));
}

/** Send `signal` to each pid, ignoring those that exited meanwhile. */
export function signalAll(pids: Iterable<number>, signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
}

/** Poll `condition` until it holds; reject naming `what` after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000, everyMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
