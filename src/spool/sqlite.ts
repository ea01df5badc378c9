// The durable spool: better-sqlite3 in WAL mode. An acknowledged send is never
// lost: add() resolves only after its commit, and sends arriving together share one.
import type Database from 'better-sqlite3';
import { SpoolFullError } from '../errors.js';
import type { Message, MessageContent } from '../message.js';
import { InFlight } from './inflight.js';
import { openDatabase } from './schema.js';
import type { CanonicalReplacement, Delivery, QueueCounts, Settlement, Spool } from './spool.js';
import { type Place, prepareStatements, type SpoolStatements, type StoredAdd } from './statements.js';

export interface SqliteSpoolOptions {
  readonly sync: 'normal' | 'full';
  /** Most tokens the spool holds; add() beyond it rejects with SpoolFullError. */
  readonly spoolMax: number;
}

interface PendingAdd extends StoredAdd {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export class SqliteSpool implements Spool {
  private readonly db: Database.Database;
  private readonly sql: SpoolStatements;
  private readonly inflight = new InFlight<Place>();
  /** Committed tokens not yet final, kept in step with commits: pending() reads no rows. */
  private total: number;
  /** Of those, tried at least once and waiting (not in flight). */
  private waitingRetries: number;
  private batch: PendingAdd[] = [];
  private batchTokens = 0;
  private flushScheduled: NodeJS.Immediate | undefined;
  private closed = false;

  /** Opens (creating if need be) the spool at `path`; throws ConfigError when it cannot be used. */
  constructor(
    readonly path: string,
    private readonly options: SqliteSpoolOptions,
  ) {
    [this.db, this.sql] = openDatabase(path, options.sync, Date.now(), prepareStatements);
    const census = this.sql.census.get() as { total: number; retrying: number };
    this.total = census.total;
    this.waitingRetries = census.retrying;
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
      // Every add until the event loop comes round joins this one commit: one
      // transaction per send would cap us near 19,400 sends/s (FACTS.md).
      this.flushScheduled ??= setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    if (this.flushScheduled) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    const batch = this.batch;
    const tokens = this.batchTokens;
    this.batch = [];
    this.batchTokens = 0;
    if (batch.length === 0) return;
    try {
      this.sql.insert(batch, Date.now());
    } catch (error) {
      const failure = writeFailure(error);
      for (const add of batch) add.reject(failure);
      return;
    }
    this.total += tokens;
    for (const add of batch) add.resolve();
  }

  claim(limit: number, now: number): Delivery[] {
    if (limit <= 0) return [];
    const rows = this.sql.claim(now, limit);
    return rows.map((row) => {
      if (row.attempts > 0) this.waitingRetries--;
      // The first claimed token of a message parses it; the rest, in this claim
      // or later ones while it is in flight, share that object.
      const message = this.inflight.message(row.id) ?? this.load(row.message, row.id);
      return this.inflight.claim(message, row.token, row.attempts, { row: row.row, message: row.message });
    });
  }

  private load(row: number, id: string): Message {
    return { id, content: JSON.parse(this.sql.content.get(row) as string) as MessageContent };
  }

  settle(settlements: readonly Settlement[]): void {
    const settled = new Map<Place, Settlement>();
    for (const settlement of settlements) {
      const place = this.inflight.find(settlement.delivery);
      if (place && !settled.has(place)) settled.set(place, settlement);
    }
    if (settled.size === 0) return;
    const finals = this.sql.settle(settled);
    // Memory follows the file only once the commit is done.
    this.total -= finals;
    this.waitingRetries += settled.size - finals;
    for (const settlement of settled.values()) this.inflight.release(settlement.delivery);
  }

  nextDueAt(): number | undefined {
    return this.sql.nextDue.get() ?? undefined;
  }

  pending(): number {
    return this.total;
  }

  counts(): QueueCounts {
    const inflight = this.inflight.size;
    return {
      queued: this.total - inflight - this.waitingRetries,
      inflight,
      retrying: this.waitingRetries,
      oldestAcceptedAt: this.total === 0 ? undefined : this.sql.oldest.get(),
    };
  }

  takeCanonicals(keep: boolean): CanonicalReplacement[] {
    return keep ? this.sql.canonicals.all() : this.sql.takeCanonicals.immediate();
  }

  takeNotRegistered(keep: boolean): string[] {
    return keep ? this.sql.notRegistered.all() : this.sql.takeNotRegistered.immediate();
  }

  /** Commits the adds still waiting for their group, then releases the file. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.flush();
    this.db.close();
    return Promise.resolve();
  }
}

/** A failed commit: nothing of the batch was kept (the transaction rolled back). */
function writeFailure(error: unknown): Error {
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_FULL') return new SpoolFullError('the disk holding the spool is full; nothing was accepted');
  const detail = error instanceof Error ? error.message : String(error);
  return new Error(`the spool could not be written (${typeof code === 'string' ? code : 'error'}: ${detail}); nothing was accepted`, { cause: error });
}
