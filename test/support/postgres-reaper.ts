// What a throw-away PostgreSQL cluster must not leave behind, however its
// test process ends: server processes (frozen ones too), the System V
// segment a killed postmaster keeps, its directory.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGone, processesIn, signalAll } from './processes.js';

/** A cluster's directory is PREFIX + the owning process's pid + '-' + random. */
export const PREFIX = 'gocm-pg-';
/** The data directory's name inside a cluster's directory. */
export const DATA = 'data';

/** Remove the System V segment a killed postmaster leaves behind (a clean stop removes it itself). */
function removeSharedMemory(dataDir: string): void {
  let pidFile: string;
  try {
    pidFile = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return; // stopped cleanly, or never started
  }
  // Line 7 of postmaster.pid: the segment's key and id.
  const [key, id] = (pidFile.split('\n')[6] ?? '').trim().split(/\s+/);
  if (key === undefined || id === undefined) return;
  const ours = readFileSync('/proc/sysvipc/shm', 'utf8')
    .split('\n')
    .some((line) => {
      const [lineKey, lineId] = line.trim().split(/\s+/);
      return lineKey === key && lineId === id;
    });
  if (ours) spawnSync('ipcrm', ['-m', id], { stdio: 'ignore' });
}

/** Kill whatever of a cluster still runs and remove its directory; synchronous, for exit handlers too. */
function reap(dir: string): void {
  const dataDir = join(dir, DATA);
  // SIGKILL ends stopped (frozen) processes too. The postmaster runs in `dir` until it changes into the data directory.
  signalAll(new Set([...processesIn(dataDir), ...processesIn(dir)]), 'SIGKILL');
  removeSharedMemory(dataDir);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Directories of clusters whose test process died without closing them (a
 * SIGKILL, say): their server died with it (--pdeathsig), their files go now.
 */
export function sweepAbandoned(): void {
  for (const entry of readdirSync(tmpdir())) {
    const owner = new RegExp(`^${PREFIX}(\\d+)-`).exec(entry)?.[1];
    if (owner !== undefined && isGone(Number(owner))) reap(join(tmpdir(), entry));
  }
}

const open = new Set<string>();
let hooksInstalled = false;

function reapOpen(): void {
  for (const dir of open) reap(dir);
  open.clear();
}

function onFatalSignal(signal: NodeJS.Signals): void {
  reapOpen();
  // Die of the signal as we would have without this handler, unless someone else handles it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

/** A test that throws past its clean-up, or a run stopped by Ctrl-C or the runner, still leaves nothing behind. */
export function reapAtExit(dir: string): void {
  open.add(dir);
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', reapOpen);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, onFatalSignal);
}

/** Reap the cluster in `dir` now, and forget it. */
export function discard(dir: string): void {
  reap(dir);
  open.delete(dir);
}
