// The durable spool: better-sqlite3 in WAL mode. An acknowledged send is never
// lost: add() resolves only after its commit, and sends arriving together share one.
import type Database from 'better-sqlite3';
import { type Clock, systemClock } from '../clock.js';
import { SpoolFullError, SpoolUnavailableError } from '../errors.js';
import { errorCode } from '../guards.js';
import type { Message, MessageContent } from '../message.js';
import { type CheckpointPolicy, Checkpointer, type SpoolLog } from './checkpointer.js';
import { InFlight } from './inflight.js';
import type { SpoolLock } from './lock.js';
import { openDatabase } from './schema.js';
import type { CanonicalReplacement, Delivery, QueueCounts, Settlement, Spool } from './spool.js';
import { type Place, prepareStatements, type SpoolStatements, type StoredAdd } from './statements.js';

export interface SqliteSpoolOptions {
  readonly sync: 'normal' | 'full';
  /** Most tokens the spool holds; add() beyond it rejects with SpoolFullError. */
  readonly spoolMax: number;
  /** Where trouble the spool survives is told (the checkpoint thread failing); else process warnings. */
  readonly log?: SpoolLog;
  /** When the checkpoint thread checkpoints: DEFAULT_CHECKPOINT_POLICY unless a test says otherwise. */
  readonly checkpoints?: CheckpointPolicy;
  /** The time sends are accepted at; the system clock unless a test turns its own. */
  readonly clock?: Clock;
}

/** Warnings on stderr, for a spool given no logger. */
const processWarnings: SpoolLog = {
  warn(details, message) {
    const cause = (details as { err?: unknown }).err;
    process.emitWarning(cause instanceof Error ? `${message}: ${cause.message}` : message, 'SpoolWarning');
  },
};

// What a commit adds to the WAL, roughly, for the checkpointer's threshold:
// the pages a commit always rewrites (a leaf of each table and of the index),
// and about what each row takes in them.
const COMMIT_PAGES_BYTES = 3 * 4096;
const ROW_BYTES = 48;

interface PendingAdd extends StoredAdd {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export class SqliteSpool implements Spool {
  private readonly db: Database.Database;
  private readonly sql: SpoolStatements;
  /** The spool's lock (lock.ts), released last. */
  private readonly lock: SpoolLock;
  /** The checkpoint thread's keeper: whether it runs is worth a look (diagnostics, tests). */
  readonly checkpointer: Checkpointer;
  private readonly clock: Clock;
  private readonly inflight = new InFlight<Place>();
  /** Committed tokens not yet final, kept in step with commits: pending() reads no rows. */
  private total: number;
  /** Of those, tried at least once and waiting (not in flight). */
  private waitingRetries: number;
  private batch: PendingAdd[] = [];
  private batchTokens = 0;
  private batchBytes = 0;
  private flushScheduled: NodeJS.Immediate | undefined;
  /** Set while a group waits for the checkpointer's gate (checkpointer.ts). */
  private waitingForGate: Promise<void> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  readonly recovered: number;

  /** Opens (creating if need be) the spool at `path`; throws ConfigError when it cannot be used. */
  constructor(
    readonly path: string,
    private readonly options: SqliteSpoolOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    ({ db: this.db, prepared: this.sql, lock: this.lock } = openDatabase(path, options.sync, this.clock.now(), prepareStatements));
    const census = this.sql.census.get() as { total: number; retrying: number };
    this.total = census.total;
    this.recovered = census.total;
    this.waitingRetries = census.retrying;
    this.checkpointer = new Checkpointer(path, options.sync, this.db, options.log ?? processWarnings, options.checkpoints);
  }

  add(message: Message, tokens: readonly string[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the spool is closed'));
    if (tokens.length === 0) return Promise.resolve();
    const held = this.total + this.batchTokens;
    if (held + tokens.length > this.options.spoolMax) {
      return Promise.reject(new SpoolFullError(`the spool holds ${held} tokens; ${tokens.length} more would pass --spool-max ${this.options.spoolMax}`));
    }
    let content: string;
    try {
      // Serialised here, so that content that cannot be stored fails this add alone, not its batch.
      content = JSON.stringify(message.content);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return new Promise((resolve, reject) => {
      this.batch.push({ id: message.id, content, tokens, resolve, reject });
      this.batchTokens += tokens.length;
      this.batchBytes += content.length + message.id.length + ROW_BYTES * (1 + tokens.length) + (tokens[0]?.length ?? 0) * tokens.length;
      // Every add until the event loop comes round joins this one commit: one
      // transaction per send would cap us near 19,400 sends/s (FACTS.md).
      this.flushScheduled ??= setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    if (this.flushScheduled) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    if (this.batch.length === 0) return;
    if (!this.checkpointer.tryEnter()) {
      // The checkpointer copies the last frames of a long WAL, for a few ms: the
      // group waits without stopping the event loop, and grows meanwhile.
      this.waitingForGate ??= this.checkpointer.whenOpen().then(() => {
        this.waitingForGate = undefined;
        this.flush();
      });
      return;
    }
    const batch = this.batch;
    const tokens = this.batchTokens;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchTokens = 0;
    this.batchBytes = 0;
    try {
      this.sql.insert(batch, this.clock.now());
    } catch (error) {
      const failure = writeFailure(error);
      for (const add of batch) add.reject(failure);
      return;
    } finally {
      this.checkpointer.leave();
    }
    this.checkpointer.wrote(COMMIT_PAGES_BYTES + bytes);
    this.total += tokens;
    for (const add of batch) add.resolve();
  }

  claim(limit: number, now: number): Promise<Delivery[]> {
    return attempt(() => {
      if (limit <= 0) return [];
      const rows = this.writing(() => this.sql.claim(now, limit));
      if (rows.length > 0) this.checkpointer.wrote(COMMIT_PAGES_BYTES + ROW_BYTES * rows.length);
      return rows.map((row) => {
        if (row.attempts > 0) this.waitingRetries--;
        // The first claimed token of a message parses it; the rest, in this claim
        // or later ones while it is in flight, share that object.
        const message = this.inflight.message(row.id) ?? this.load(row.message, row.id);
        return this.inflight.claim(message, row.token, row.attempts, { row: row.row, message: row.message, attempts: row.attempts });
      });
    });
  }

  release(deliveries: readonly Delivery[]): Promise<void> {
    return attempt(() => {
      const places = new Map<Place, Delivery>();
      for (const delivery of deliveries) {
        const place = this.inflight.find(delivery);
        if (place) places.set(place, delivery);
      }
      if (places.size === 0) return;
      this.writing(() => this.sql.releaseTokens.run(JSON.stringify([...places.keys()].map((place) => place.row))));
      for (const [place, delivery] of places) {
        if (place.attempts > 0) this.waitingRetries++;
        this.inflight.release(delivery);
      }
    });
  }

  private load(row: number, id: string): Message {
    return { id, content: JSON.parse(this.sql.content.get(row) as string) as MessageContent };
  }

  settle(settlements: readonly Settlement[]): Promise<void> {
    return attempt(() => {
      const settled = new Map<Place, Settlement>();
      for (const settlement of settlements) {
        const place = this.inflight.find(settlement.delivery);
        if (place && !settled.has(place)) settled.set(place, settlement);
      }
      if (settled.size === 0) return;
      const finals = this.writing(() => this.sql.settle(settled));
      this.checkpointer.wrote(COMMIT_PAGES_BYTES + ROW_BYTES * settled.size);
      // Memory follows the file only once the commit is done: a failed one leaves both as they were.
      this.total -= finals;
      this.waitingRetries += settled.size - finals;
      for (const settlement of settled.values()) this.inflight.release(settlement.delivery);
    });
  }

  /** A write that cannot wait for the checkpointer's gate; the checkpointer waits for it instead. */
  private writing<T>(write: () => T): T {
    this.checkpointer.enter();
    try {
      return write();
    } finally {
      this.checkpointer.leave();
    }
  }

  /** Run a PRAGMA on the spool's connection, e.g. to read `synchronous` (diagnostics, tests). */
  pragma(source: string): unknown {
    return this.db.pragma(source, { simple: true });
  }

  nextDueAt(): Promise<number | undefined> {
    return attempt(() => this.sql.nextDue.get() ?? undefined);
  }

  counts(): Promise<QueueCounts> {
    return attempt(() => {
      const inflight = this.inflight.size;
      return {
        pending: this.total,
        queued: this.total - inflight - this.waitingRetries,
        inflight,
        retrying: this.waitingRetries,
        oldestAcceptedAt: this.total === 0 ? undefined : this.sql.oldest.get(),
      };
    });
  }

  takeCanonicals(keep: boolean): Promise<CanonicalReplacement[]> {
    return attempt(() => (keep ? this.sql.canonicals.all() : this.writing(() => this.sql.takeCanonicals.immediate())));
  }

  clearCanonicals(originals: readonly string[]): Promise<number> {
    return attempt(() => this.writing(() => this.sql.clearSomeCanonicals.run(JSON.stringify(originals)).changes));
  }

  takeNotRegistered(keep: boolean): Promise<string[]> {
    return attempt(() => (keep ? this.sql.notRegistered.all() : this.writing(() => this.sql.takeNotRegistered.immediate())));
  }

  clearNotRegistered(tokens: readonly string[]): Promise<number> {
    return attempt(() => this.writing(() => this.sql.clearSomeNotRegistered.run(JSON.stringify(tokens)).changes));
  }

  /**
   * Commits the adds still waiting for their group, stops the checkpoint
   * thread (and waits until it is gone), then releases the file and its lock.
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.flush();
      this.closing = this.checkpointer.stop().finally(() => {
        // A group that waited for the gate goes now: with the thread gone, it is open.
        this.flush();
        // The last connection to close checkpoints the whole WAL and removes it.
        this.db.close();
        this.lock.release();
      });
    }
    return this.closing;
  }
}

/** A synchronous spool call as a promise: a failed statement rejects (its transaction rolled back), never throws. */
function attempt<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

/** A failed commit: nothing of the batch was kept (the transaction rolled back); the client may try again. */
function writeFailure(error: unknown): Error {
  const code = errorCode(error) ?? 'error';
  if (code === 'SQLITE_FULL') return new SpoolFullError('the disk holding the spool is full; nothing was accepted');
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return new SpoolUnavailableError('the spool is locked by another process; nothing was accepted', error);
  const detail = error instanceof Error ? error.message : String(error);
  return new SpoolUnavailableError(`the spool could not be written (${code}: ${detail}); nothing was accepted`, error);
}
