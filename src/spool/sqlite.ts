// The durable spool: better-sqlite3 in WAL mode. An acknowledged send is never
// lost: add() resolves only after its commit, and sends arriving together share one.
import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { type Clock, systemClock } from '../clock.js';
import { SpoolFullError, SpoolUnavailableError } from '../errors.js';
import { errorCode } from '../guards.js';
import type { Message, MessageContent, NewMessage } from '../message.js';
import { type CheckpointPolicy, Checkpointer, type SpoolLog } from './checkpointer.js';
import { InFlight } from './inflight.js';
import type { SpoolLock } from './lock.js';
import { openDatabase } from './schema.js';
import {
  type AppFilter,
  type CanonicalReplacement,
  DEFAULT_STATUS_POLICY,
  type Delivery,
  MAX_STATUS_FAILURES,
  type MessageStatus,
  type NotRegisteredToken,
  type QueueCounts,
  type Settlement,
  type Spool,
  type StatusPolicy,
} from './spool.js';
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
  readonly statuses?: StatusPolicy;
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
/** Statuses past their time are forgotten this often, this many a transaction. */
const FORGET_INTERVAL_MS = 10_000;
const FORGET_BATCH = 1000;
/** Less free space than this on the spool's disk, and the spool is not writable for /healthz: a commit of 100 sends takes about this much. */
const MIN_FREE_BYTES = 256 * 1024;

interface PendingAdd extends StoredAdd {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** An app's committed tokens not yet final, kept in step with commits: counts() reads few rows. */
interface AppTally {
  total: number;
  /** Tried at least once and waiting (not in flight). */
  retrying: number;
}

export class SqliteSpool implements Spool {
  private readonly db: Database.Database;
  private readonly sql: SpoolStatements;
  /** The spool's lock (lock.ts), released last. */
  private readonly lock: SpoolLock;
  /** The checkpoint thread's keeper: whether it runs is worth a look (diagnostics, tests). */
  readonly checkpointer: Checkpointer;
  private readonly clock: Clock;
  private readonly statusPolicy: StatusPolicy;
  private readonly inflight = new InFlight<Place>();
  private readonly appIds = new Map<string, number>();
  private readonly appNames = new Map<number, string>();
  private readonly tallies = new Map<number, AppTally>();
  /** Apps numbered for the group commit under way, written with it (or forgotten if it fails). */
  private newApps = new Map<string, number>();
  private statusCount: number;
  private readonly forgetTimer: NodeJS.Timeout;
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
    this.statusPolicy = options.statuses ?? DEFAULT_STATUS_POLICY;
    ({ db: this.db, prepared: this.sql, lock: this.lock } = openDatabase(path, options.sync, this.clock.now(), prepareStatements));
    for (const { id, name } of this.sql.apps.all()) this.nameApp(id, name);
    let recovered = 0;
    for (const { app, total, retrying } of this.sql.census.all()) {
      this.tallies.set(app, { total, retrying });
      recovered += total;
    }
    this.recovered = recovered;
    this.statusCount = this.sql.statusCount.get() as number;
    this.checkpointer = new Checkpointer(path, options.sync, this.db, options.log ?? processWarnings, options.checkpoints);
    this.forgetTimer = setInterval(() => this.forget(), FORGET_INTERVAL_MS).unref();
  }

  private nameApp(id: number, name: string): void {
    this.appIds.set(name, id);
    this.appNames.set(id, name);
  }

  private tally(app: number): AppTally {
    let tally = this.tallies.get(app);
    if (!tally) this.tallies.set(app, (tally = { total: 0, retrying: 0 }));
    return tally;
  }

  /** The app's number; the first time it sends, a new one, written with that send's commit. */
  private appId(name: string): number {
    const known = this.appIds.get(name);
    if (known !== undefined) return known;
    const id = Math.max(0, ...this.appIds.values()) + 1;
    this.nameApp(id, name);
    this.newApps.set(name, id);
    return id;
  }

  add(message: NewMessage, tokens: readonly string[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the spool is closed'));
    if (tokens.length === 0) return Promise.resolve();
    const held = this.pendingTotal() + this.batchTokens;
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
    const app = this.appId(message.app);
    const dueAt = message.sendAt ?? message.acceptedAt;
    return new Promise((resolve, reject) => {
      this.batch.push({ id: message.id, app, acceptedAt: message.acceptedAt, expiresAt: message.expiresAt ?? null, dueAt, content, tokens, resolve, reject });
      this.batchTokens += tokens.length;
      this.batchBytes += content.length + message.id.length + ROW_BYTES * (1 + tokens.length) + (tokens[0]?.length ?? 0) * tokens.length;
      // Every add until the event loop comes round joins this one commit: one
      // transaction per send would cap us near 19,400 sends/s (FACTS.md).
      this.flushScheduled ??= setImmediate(() => this.flush());
    });
  }

  private pendingTotal(): number {
    let total = 0;
    for (const tally of this.tallies.values()) total += tally.total;
    return total;
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
    const bytes = this.batchBytes;
    const apps = this.newApps;
    this.batch = [];
    this.batchTokens = 0;
    this.batchBytes = 0;
    this.newApps = new Map();
    try {
      this.sql.insert(batch, apps);
    } catch (error) {
      for (const [name, id] of apps) {
        this.appIds.delete(name);
        this.appNames.delete(id);
      }
      const failure = writeFailure(error);
      for (const add of batch) add.reject(failure);
      return;
    } finally {
      this.checkpointer.leave();
    }
    this.checkpointer.wrote(COMMIT_PAGES_BYTES + bytes);
    for (const add of batch) this.tally(add.app).total += add.tokens.length;
    for (const add of batch) add.resolve();
  }

  claim(app: string, limit: number, now: number): Promise<Delivery[]> {
    return attempt(() => {
      const id = this.appIds.get(app);
      if (limit <= 0 || id === undefined) return [];
      const rows = this.writing(() => this.sql.claim(id, now, limit));
      if (rows.length > 0) this.checkpointer.wrote(COMMIT_PAGES_BYTES + ROW_BYTES * rows.length);
      const tally = this.tally(id);
      return rows.map((row) => {
        if (row.attempts > 0) tally.retrying--;
        // The first claimed token of a message parses it; the rest, in this claim
        // or later ones while it is in flight, share that object.
        const message = this.inflight.message(row.id) ?? this.load(row.message, row.id);
        return this.inflight.claim(message, row.token, row.attempts, { row: row.row, message: row.message, attempts: row.attempts });
      });
    });
  }

  private load(row: number, id: string): Message {
    const stored = this.sql.message.get(row);
    if (!stored) throw new Error(`message row ${row} is missing`);
    const message = {
      id,
      app: this.appNames.get(stored.app) ?? String(stored.app),
      acceptedAt: stored.accepted_at,
      content: JSON.parse(stored.content) as MessageContent,
    };
    return stored.expires_at === null ? message : { ...message, expiresAt: stored.expires_at };
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
        if (place.attempts > 0) this.tally(this.appIds.get(delivery.message.app) as number).retrying++;
        this.inflight.release(delivery);
      }
    });
  }

  settle(settlements: readonly Settlement[], now: number): Promise<void> {
    return attempt(() => {
      const settled = new Map<Place, Settlement>();
      for (const settlement of settlements) {
        const place = this.inflight.find(settlement.delivery);
        if (place && !settled.has(place)) settled.set(place, settlement);
      }
      if (settled.size === 0) return;
      const { byApp, finished } = this.writing(() => this.sql.settle(settled, this.appIds, now));
      this.statusCount += finished;
      if (this.statusCount > this.statusPolicy.maxFinished) this.forget();
      this.checkpointer.wrote(COMMIT_PAGES_BYTES + ROW_BYTES * settled.size);
      // Memory follows the file only once the commit is done: a failed one leaves both as they were.
      for (const [app, [finals, retries]] of byApp) {
        const tally = this.tally(app);
        tally.total -= finals;
        tally.retrying += retries;
      }
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

  nextDueAt(app: string): Promise<number | undefined> {
    return attempt(() => {
      const id = this.appIds.get(app);
      return id === undefined ? undefined : (this.sql.nextDue.get(id) ?? undefined);
    });
  }

  counts(app: AppFilter, now: number): Promise<QueueCounts> {
    return attempt(() => {
      const ids = app === undefined ? [...this.tallies.keys()] : [this.appIds.get(app)].filter((id) => id !== undefined);
      let total = 0;
      let retrying = 0;
      let scheduled = 0;
      for (const id of ids) {
        const tally = this.tally(id);
        total += tally.total;
        retrying += tally.retrying;
        if (tally.total > 0) scheduled += this.sql.scheduled.get(id, now) as number;
      }
      const inflight = app === undefined ? this.inflight.size : this.inflight.countOf((message) => message.app === app);
      const oldest = total === 0 ? undefined : app === undefined ? this.sql.oldest.get() : this.sql.oldestOf.get(ids[0] as number);
      return { pending: total, queued: total - inflight - retrying - scheduled, scheduled, inflight, retrying, oldestAcceptedAt: oldest };
    });
  }

  status(id: string): Promise<MessageStatus | undefined> {
    return attempt(() => {
      const row = this.sql.pendingStatus.get(id) ?? this.sql.finishedStatus.get(id);
      if (!row) return undefined;
      // Past its retention it is gone, whether or not it has been pruned yet.
      if (row.finished_at !== null && this.clock.now() - row.finished_at >= this.statusPolicy.retentionMs) return undefined;
      return {
        id,
        app: this.appNames.get(row.app) ?? String(row.app),
        tokens: row.token_count,
        pending: row.remaining,
        delivered: row.delivered,
        failed: row.failed,
        failures: this.sql.failures.all(id, MAX_STATUS_FAILURES),
        finishedAt: row.finished_at ?? undefined,
      };
    });
  }

  /** Forget statuses past their retention or the most kept, a batch a transaction; trouble waits for the next round. */
  private forget(): void {
    if (this.closed) return;
    const { retentionMs, maxFinished } = this.statusPolicy;
    try {
      for (let round = 0; round < 10; round++) {
        const gone = this.writing(() => this.sql.forget(this.clock.now() - retentionMs, maxFinished, this.statusCount, FORGET_BATCH));
        this.statusCount -= gone;
        if (gone < FORGET_BATCH) return;
      }
    } catch {
      // Busy or full: statuses are kept a little longer, nothing else depends on it.
    }
  }

  private appFilter(app: AppFilter): number | null | undefined {
    if (app === undefined) return null;
    return this.appIds.get(app);
  }

  takeCanonicals(app: AppFilter, keep: boolean): Promise<CanonicalReplacement[]> {
    return attempt(() => {
      const id = this.appFilter(app);
      if (id === undefined) return [];
      const rows = keep ? this.sql.canonicals.all(id, id) : this.writing(() => this.sql.takeCanonicals(id));
      return rows.map((row) => ({ app: this.appNames.get(row.app) ?? String(row.app), original: row.original, canonical: row.canonical }));
    });
  }

  clearCanonicals(app: AppFilter, originals: readonly string[]): Promise<number> {
    return attempt(() => {
      const id = this.appFilter(app);
      if (id === undefined) return 0;
      return this.writing(() => this.sql.clearSomeCanonicals.run(id, id, JSON.stringify(originals)).changes);
    });
  }

  takeNotRegistered(app: AppFilter, keep: boolean): Promise<NotRegisteredToken[]> {
    return attempt(() => {
      const id = this.appFilter(app);
      if (id === undefined) return [];
      const rows = keep ? this.sql.notRegistered.all(id, id) : this.writing(() => this.sql.takeNotRegistered(id));
      return rows.map((row) => ({ app: this.appNames.get(row.app) ?? String(row.app), token: row.token }));
    });
  }

  clearNotRegistered(app: AppFilter, tokens: readonly string[]): Promise<number> {
    return attempt(() => {
      const id = this.appFilter(app);
      if (id === undefined) return 0;
      return this.writing(() => this.sql.clearSomeNotRegistered.run(id, id, JSON.stringify(tokens)).changes);
    });
  }

  probe(): Promise<void> {
    return attempt(() => {
      if (this.closed) throw new Error('the spool is closed');
      const disk = statfsSync(dirname(this.path));
      if (disk.bavail * disk.bsize < MIN_FREE_BYTES) throw new SpoolFullError(`the disk holding the spool has ${disk.bavail * disk.bsize} bytes free`);
      try {
        this.writing(() => this.sql.probe());
      } catch (error) {
        throw writeFailure(error);
      }
    });
  }

  /**
   * Commits the adds still waiting for their group, stops the checkpoint
   * thread (and waits until it is gone), then releases the file and its lock.
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      clearInterval(this.forgetTimer);
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
