// The checkpoint thread (started and stopped by checkpointer.ts, which tells
// why): its own connection to the spool, used for PASSIVE checkpoints only.
// It never writes a row nor takes the write lock.
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { type CheckpointMessage, type CheckpointWorkerData, Shared } from './checkpointer.js';
import { errorCode } from '../guards.js';

/** The row of PRAGMA wal_checkpoint: frames in the WAL and frames copied to the database. */
interface CheckpointResult {
  readonly busy: number;
  readonly log: number;
  readonly checkpointed: number;
}

/**
 * How often the thread looks at what the main connection has written (ms): a
 * counter read, no system call; less often while nothing is written (an idle
 * spool's process used 34 ms of CPU in 5 s looking every 20 ms, 7 ms every 200 ms).
 */
const POLL_MS = 20;
const IDLE_POLL_MS = 200;

const data = workerData as CheckpointWorkerData;
const port = parentPort;
if (!port) throw new Error('checkpoint-worker.js runs as a worker thread');
const shared = new Int32Array(data.shared);
const db = new Database(data.path, { fileMustExist: true, timeout: data.busyMs });
if (db.pragma('journal_mode', { simple: true }) !== 'wal') throw new Error(`${data.path} is not in WAL mode`);
// A checkpoint syncs the WAL before it copies and the database after, unless told not to sync at all.
db.pragma(`synchronous = ${data.sync === 'full' ? 'FULL' : 'NORMAL'}`);

let seen = Atomics.load(shared, Shared.Written);
/** Bytes written since the last checkpoint. */
let pending = 0;
/** When the oldest write not yet checkpointed was seen; the open's own writes count from the start. */
let dirtySince: number | undefined = performance.now();
let timer: NodeJS.Timeout | undefined = setTimeout(poll, POLL_MS);

port.on('message', (message: CheckpointMessage) => {
  if (message !== 'stop') return;
  clearTimeout(timer);
  timer = undefined;
  db.close();
  port.close();
});

function poll(): void {
  const now = Atomics.load(shared, Shared.Written);
  // The counter wraps at 2^32; the difference does not, short of 2 GiB between two looks.
  const grown = (now - seen) | 0;
  seen = now;
  if (grown > 0) {
    pending += grown;
    dirtySince ??= performance.now();
  }
  if (dirtySince !== undefined && (pending >= data.thresholdBytes || performance.now() - dirtySince >= data.intervalMs)) {
    pending = 0;
    dirtySince = undefined;
    if (!checkpoint()) dirtySince = performance.now();
  }
  if (timer) timer = setTimeout(poll, grown > 0 || dirtySince !== undefined ? POLL_MS : IDLE_POLL_MS);
}

/** False when SQLite was busy and the WAL should be looked at again. */
function checkpoint(): boolean {
  const passive = run();
  if (!passive || passive.busy !== 0) return false;
  if (passive.log < data.restartFrames || passive.checkpointed !== passive.log) return true;
  // Catch up first with what was committed during that checkpoint, so that
  // little is left to copy and sync behind the gate.
  run();
  return startOver();
}

/**
 * Once the WAL is long, one more PASSIVE checkpoint behind the closed gate:
 * once the write in progress (if any) ends, no group commit starts, so it
 * copies every frame left (the few committed since the last one) and syncs;
 * the next commit then finds the whole WAL copied and writes it from its start
 * again (and trims the file to journal_size_limit). A write that does not wait
 * for the gate (a claim, a settle) can still come in between: then the WAL is
 * started over at a later try.
 */
function startOver(): boolean {
  // Gate first, then writing; the main thread does the reverse: one of the two sees the other.
  Atomics.store(shared, Shared.Gate, 1);
  try {
    const deadline = performance.now() + data.busyMs;
    for (;;) {
      const left = deadline - performance.now();
      if (Atomics.load(shared, Shared.Writing) === 0 || left <= 0) break;
      Atomics.wait(shared, Shared.Writing, 1, left);
    }
    const result = run();
    return result !== undefined && result.busy === 0;
  } finally {
    Atomics.store(shared, Shared.Gate, 0);
    port?.postMessage('open' satisfies CheckpointMessage);
  }
}

/** A PASSIVE checkpoint: it copies what it can and never waits for a lock. */
function run(): CheckpointResult | undefined {
  try {
    return (db.pragma('wal_checkpoint(PASSIVE)') as CheckpointResult[])[0];
  } catch (error) {
    // Busy: try again later. Anything else ends the thread; the spool then checkpoints itself.
    const code = errorCode(error);
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return undefined;
    throw error;
  }
}
