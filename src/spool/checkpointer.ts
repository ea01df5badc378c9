// WAL checkpoints off the event loop. A checkpoint inside a commit syncs the
// database file: with SQLite's auto-checkpoints, 33 of 6,000 commits took
// 9–11 ms (test/bench/ingest.ts, p99 9 ms; 1.2–1.4 ms without). So the main
// connection never checkpoints (schema.ts) and a worker thread with its own
// connection (checkpoint-worker.ts) runs PASSIVE ones, which never block a
// commit. Under steady load a PASSIVE checkpoint never finds the WAL wholly
// copied, so the WAL would grow without bound: once it is long the worker
// closes a gate that group commits wait on without blocking (a few ms), copies
// the last frames, and the next commit starts the WAL over. If the thread
// cannot run, commits checkpoint on the main thread again: slower, never stopped.
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** When the worker checkpoints; defaults below, smaller values for tests. */
export interface CheckpointPolicy {
  /** Checkpoint at most this long after a write (ms). */
  readonly intervalMs: number;
  /** …or as soon as about this many bytes were written to the WAL since the last checkpoint. */
  readonly thresholdBytes: number;
  /** Have the WAL started over once it holds this many frames (pages), all of them checkpointed. */
  readonly restartFrames: number;
}

// 100 ms and 4 MiB: at the ingest benchmark's 10,000 sends a second, 600–700
// frames (2.5–2.8 MiB) a checkpoint. 4,096 frames (16 MiB): at that rate, in groups
// of ~10 sends, the WAL grows ~5,000 frames a second (each commit rewrites the
// same few pages), so the gate closes about once a second.
export const DEFAULT_CHECKPOINT_POLICY: CheckpointPolicy = { intervalMs: 100, thresholdBytes: 4 * 2 ** 20, restartFrames: 4096 };

/** The Int32 slots of the memory both threads share. */
export const Shared = {
  /** Bytes the main connection has written to the WAL, as wrote() estimates them, modulo 2^32. */
  Written: 0,
  /** 1 while the main connection is in a write transaction. */
  Writing: 1,
  /** 1 while the worker copies the last frames of a long WAL: group commits wait. */
  Gate: 2,
  Slots: 3,
} as const;

/** What the worker gets: see checkpoint-worker.ts. */
export interface CheckpointWorkerData extends CheckpointPolicy {
  readonly path: string;
  /** The spool's --sync: a checkpoint syncs as its own connection is told to. */
  readonly sync: 'normal' | 'full';
  /** Shared.Slots Int32s. */
  readonly shared: SharedArrayBuffer;
  /** How long the worker waits for SQLite's locks, or for a write in progress to end (ms). */
  readonly busyMs: number;
}

/** main → worker: stop; worker → main: the gate is open again. */
export type CheckpointMessage = 'stop' | 'open';

/** Where the spool reports trouble it survives; pino's Logger fits. */
export interface SpoolLog {
  warn(details: object, message: string): void;
}

/** How long stop() waits for the worker to finish a checkpoint and close before it is terminated. */
const STOP_WAIT_MS = 10_000;

/** Longest a group commit waits for the gate before it goes anyway, SQLite's locks deciding. */
const GATE_WAIT_MS = 1000;

/** SQLite's default auto-checkpoint, for the main connection when the worker is gone. */
const FALLBACK_AUTOCHECKPOINT = 1000;

export class Checkpointer {
  /** The memory both threads share (Shared's slots); a test may close the gate as the thread does. */
  readonly shared = new Int32Array(new SharedArrayBuffer(Shared.Slots * 4));
  private worker: Worker | undefined;
  /** Whether the thread has begun running its code: until then, stop() need not wait for it. */
  private isOnline = false;
  private stopping: Promise<void> | undefined;
  private gateWaiters: Array<() => void> = [];
  private gateTimer: NodeJS.Timeout | undefined;

  /** Starts the worker on the spool at `path`; `db` is the main connection, for the fallback. */
  constructor(
    path: string,
    sync: 'normal' | 'full',
    private readonly db: Database.Database,
    private readonly log: SpoolLog,
    policy: CheckpointPolicy = DEFAULT_CHECKPOINT_POLICY,
  ) {
    const workerData: CheckpointWorkerData = { ...policy, path, sync, shared: this.shared.buffer as SharedArrayBuffer, busyMs: GATE_WAIT_MS };
    try {
      // None of the process's node flags: some (--input-type, --eval…) are refused in a worker.
      this.worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData, execArgv: [] });
    } catch (error) {
      this.fallBack(error);
      return;
    }
    const worker = this.worker;
    worker.once('online', () => (this.isOnline = true));
    worker.on('message', (message: CheckpointMessage) => {
      if (message === 'open') this.gateOpened();
    });
    worker.on('error', (error) => {
      if (this.worker === worker) this.fallBack(error);
    });
    worker.on('exit', (code) => {
      if (this.worker === worker && this.stopping === undefined) this.fallBack(new Error(`the checkpoint thread exited with code ${code}`));
    });
  }

  /** True while the worker does the checkpoints. */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** The checkpoint thread, while it runs. */
  get thread(): Worker | undefined {
    return this.worker;
  }

  /** Whether the thread has begun running its code. */
  get online(): boolean {
    return this.isOnline;
  }

  /** Count `bytes` more written to the WAL: past the threshold, the worker checkpoints without waiting for its interval. */
  wrote(bytes: number): void {
    Atomics.add(this.shared, Shared.Written, bytes | 0);
  }

  /**
   * Before a group commit: true if it may go now (then call leave() after it),
   * false while the gate is closed (then wait for whenOpen()).
   */
  tryEnter(): boolean {
    // Writing first, then the gate; the worker does the reverse: one of the two sees the other.
    Atomics.store(this.shared, Shared.Writing, 1);
    if (Atomics.load(this.shared, Shared.Gate) === 0) return true;
    this.leave();
    return false;
  }

  /** Before a write that cannot wait (claim, settle): the worker waits for it to end. Then call leave(). */
  enter(): void {
    Atomics.store(this.shared, Shared.Writing, 1);
  }

  leave(): void {
    Atomics.store(this.shared, Shared.Writing, 0);
    if (Atomics.load(this.shared, Shared.Gate) !== 0) Atomics.notify(this.shared, Shared.Writing);
  }

  /** Resolves when the gate opens, or after GATE_WAIT_MS. */
  whenOpen(): Promise<void> {
    if (Atomics.load(this.shared, Shared.Gate) === 0) return Promise.resolve();
    this.gateTimer ??= setTimeout(() => this.gateOpened(), GATE_WAIT_MS);
    return new Promise((resolve) => this.gateWaiters.push(resolve));
  }

  /** Stop the worker and wait until its thread is gone; the gate is left open. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.join();
    return this.stopping;
  }

  private async join(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    try {
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      if (!this.isOnline) {
        // A spool closed as soon as opened: no need to wait for the thread to start
        // only to stop it. Ending it anywhere is safe: it writes no rows, and a
        // checkpoint cut short is only done again.
        await worker.terminate();
        return;
      }
      worker.postMessage('stop' satisfies CheckpointMessage);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), STOP_WAIT_MS)));
      try {
        if ((await Promise.race([exited, late])) === 'late') {
          this.log.warn({ waitedMs: STOP_WAIT_MS }, 'the spool checkpoint thread did not stop in time; terminating it');
          await worker.terminate();
        }
      } finally {
        clearTimeout(timer);
      }
    } finally {
      this.worker = undefined;
      this.gateOpened();
    }
  }

  /** The gate is open again (the thread said so, or it is gone): group commits waiting for it go. */
  gateOpened(): void {
    clearTimeout(this.gateTimer);
    this.gateTimer = undefined;
    // Only the worker closes the gate; once it is gone, nothing must keep it closed.
    if (!this.worker) Atomics.store(this.shared, Shared.Gate, 0);
    const waiters = this.gateWaiters;
    this.gateWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private fallBack(error: unknown): void {
    this.worker = undefined;
    this.gateOpened();
    // Stopping anyway: the main connection checkpoints as it closes.
    if (this.stopping) return;
    this.log.warn({ err: error }, 'the spool checkpoint thread failed; commits checkpoint on the main thread from now on');
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT}`);
  }
}
