// The SQL of the SQLite spool: every statement prepared once, and each state
// change (add a batch, claim, settle, take a list) as one transaction, built once.
import type Database from 'better-sqlite3';
import { reasonLabel } from '../providers/provider.js';
import { MAX_STATUS_FAILURES, type Settlement } from './spool.js';

/** One add of a group commit, its content already serialised and its app numbered. */
export interface StoredAdd {
  readonly id: string;
  readonly app: number;
  readonly acceptedAt: number;
  readonly expiresAt: number | null;
  readonly dueAt: number;
  readonly content: string;
  readonly tokens: readonly string[];
}

interface ClaimedRow {
  readonly row: number;
  readonly message: number;
  readonly id: string;
  readonly token: string;
  readonly attempts: number;
}

/** A message row as claim() needs it to build the Message. */
interface MessageRow {
  readonly content: string;
  readonly app: number;
  readonly accepted_at: number;
  readonly expires_at: number | null;
}

interface StatusRow {
  readonly app: number;
  readonly token_count: number;
  readonly remaining: number;
  readonly delivered: number;
  readonly failed: number;
  readonly finished_at: number | null;
}

interface ListRow {
  readonly app: number;
}

/** Where a claimed token lives in the file: its row and its message's row; and the tries it had when claimed. */
export interface Place {
  readonly row: number;
  readonly message: number;
  readonly attempts: number;
}

// Rows go in 100 to a statement: 1M tokens in sends of 1,000 took 4.1 s of CPU
// one row a statement, 2.6 s this way (test/bench/spool-commit.ts).
const ROWS_PER_INSERT = 100;

/** `INSERT INTO table (columns) VALUES (?, …)`, `rows` times over. */
function insertSql(table: string, columns: readonly string[], rows: number): string {
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array(rows).fill(tuple).join(', ')}`;
}

/**
 * Inserts rows ROWS_PER_INSERT to a statement and the rest in one more, with
 * an INSERT for each number of rows up to ROWS_PER_INSERT, prepared the first
 * time that number comes: at most 100 statements a table, 4.9 MiB of RSS for
 * all 200 of both tables.
 */
class MultiRowInsert {
  private readonly statements: Array<Database.Statement<unknown[]> | undefined> = [];

  constructor(
    private readonly db: Database.Database,
    private readonly table: string,
    private readonly columns: readonly string[],
  ) {}

  /** `values`: the rows' values one after another, `columns.length` a row. */
  run(values: readonly unknown[]): void {
    const width = this.columns.length;
    const chunk = width * ROWS_PER_INSERT;
    if (values.length <= chunk) {
      if (values.length > 0) this.statement(values.length / width).run(values);
      return;
    }
    for (let i = 0; i < values.length; i += chunk) {
      const part = values.slice(i, i + chunk);
      this.statement(part.length / width).run(part);
    }
  }

  private statement(rows: number): Database.Statement<unknown[]> {
    return (this.statements[rows] ??= this.db.prepare<unknown[]>(insertSql(this.table, this.columns, rows)));
  }
}

const MESSAGE_COLUMNS = ['row', 'id', 'app', 'accepted_at', 'expires_at', 'token_count', 'remaining', 'content'];
const TOKEN_COLUMNS = ['message', 'app', 'token', 'due_at'];

export type SpoolStatements = ReturnType<typeof prepareStatements>;

/** What a settle changed: messages finished, and per app. */
export interface SettleResult {
  readonly finished: number;
  /** app id → [tokens final, retries scheduled]. */
  readonly byApp: ReadonlyMap<number, readonly [number, number]>;
}

/** A message's outcomes of one settle batch. */
interface Finished {
  delivered: number;
  failed: number;
  failures: Array<[string, string]>;
  readonly id: string;
}

export function prepareStatements(db: Database.Database) {
  const s = {
    lastMessage: db.prepare<[], number>('SELECT COALESCE(MAX(row), 0) FROM messages').pluck(),
    apps: db.prepare<[], { id: number; name: string }>('SELECT id, name FROM apps'),
    addApp: db.prepare<[number, string]>('INSERT INTO apps (id, name) VALUES (?, ?)'),
    insertMessages: new MultiRowInsert(db, 'messages', MESSAGE_COLUMNS),
    insertTokens: new MultiRowInsert(db, 'tokens', TOKEN_COLUMNS),
    // Served by the partial index tokens_due, in its order: no sort, no scan of what is in flight.
    due: db.prepare<[number, number, number], ClaimedRow>(
      `SELECT t.row, t.message, m.id, t.token, t.attempts FROM tokens t JOIN messages m ON m.row = t.message
       WHERE t.inflight = 0 AND t.app = ? AND t.due_at <= ? ORDER BY t.due_at, t.message, t.row LIMIT ?`,
    ),
    // Rows by the thousand go as one JSON array of row ids: marking 1,000 rows
    // took 5.1 ms one statement a row and 3.3–4.5 ms this way (deleting: 5.2 → 3.5 ms).
    markInflight: db.prepare<[string]>('UPDATE tokens SET inflight = 1 WHERE row IN (SELECT value FROM json_each(?))'),
    message: db.prepare<[number], MessageRow>('SELECT content, app, accepted_at, expires_at FROM messages WHERE row = ?'),
    deleteTokens: db.prepare<[string]>('DELETE FROM tokens WHERE row IN (SELECT value FROM json_each(?))'),
    releaseTokens: db.prepare<[string]>('UPDATE tokens SET inflight = 0 WHERE row IN (SELECT value FROM json_each(?))'),
    retryToken: db.prepare<[number, number]>('UPDATE tokens SET attempts = attempts + 1, due_at = ?, inflight = 0 WHERE row = ?'),
    finishTokens: db.prepare<[number, number, number, number], { remaining: number; failed: number }>(
      'UPDATE messages SET remaining = remaining - ?, delivered = delivered + ?, failed = failed + ? WHERE row = ? RETURNING remaining, failed',
    ),
    // A finished message leaves the hot table for `statuses`, where `status` finds it until its retention ends.
    keepStatus: db.prepare<[number, number]>(
      'INSERT OR REPLACE INTO statuses (id, app, token_count, delivered, failed, finished_at) SELECT id, app, token_count, delivered, failed, ? FROM messages WHERE row = ?',
    ),
    deleteMessage: db.prepare<[number]>('DELETE FROM messages WHERE row = ?'),
    addFailure: db.prepare<[string, string, string]>('INSERT INTO failures (message, token, reason) VALUES (?, ?, ?)'),
    // A token replaced twice keeps its latest canonical, in its first place.
    addCanonical: db.prepare<[number, string, string]>(
      'INSERT INTO canonicals (app, original, canonical) VALUES (?, ?, ?) ON CONFLICT (app, original) DO UPDATE SET canonical = excluded.canonical',
    ),
    addNotRegistered: db.prepare<[number, string]>('INSERT OR IGNORE INTO notregistered (app, token) VALUES (?, ?)'),
    // A null app is every app.
    canonicals: db.prepare<[number | null, number | null], ListRow & { original: string; canonical: string }>(
      'SELECT app, original, canonical FROM canonicals WHERE ? IS NULL OR app = ? ORDER BY rowid',
    ),
    clearCanonicals: db.prepare<[number | null, number | null]>('DELETE FROM canonicals WHERE ? IS NULL OR app = ?'),
    clearSomeCanonicals: db.prepare<[number | null, number | null, string]>(
      'DELETE FROM canonicals WHERE (? IS NULL OR app = ?) AND original IN (SELECT value FROM json_each(?))',
    ),
    notRegistered: db.prepare<[number | null, number | null], ListRow & { token: string }>(
      'SELECT app, token FROM notregistered WHERE ? IS NULL OR app = ? ORDER BY rowid',
    ),
    clearNotRegistered: db.prepare<[number | null, number | null]>('DELETE FROM notregistered WHERE ? IS NULL OR app = ?'),
    clearSomeNotRegistered: db.prepare<[number | null, number | null, string]>(
      'DELETE FROM notregistered WHERE (? IS NULL OR app = ?) AND token IN (SELECT value FROM json_each(?))',
    ),
    nextDue: db.prepare<[number], number | null>('SELECT MIN(due_at) FROM tokens WHERE inflight = 0 AND app = ?').pluck(),
    // Never tried and due later: only what waits past `now` is walked, in the index.
    scheduled: db.prepare<[number, number], number>('SELECT COUNT(*) FROM tokens WHERE inflight = 0 AND app = ? AND due_at > ? AND attempts = 0').pluck(),
    // Rowid order is accept order (schema.ts), so the oldest message is the first row.
    oldest: db.prepare<[], number>('SELECT accepted_at FROM messages ORDER BY row LIMIT 1').pluck(),
    oldestOf: db.prepare<[number], number>('SELECT accepted_at FROM messages WHERE app = ? ORDER BY row LIMIT 1').pluck(),
    census: db.prepare<[], { app: number; total: number; retrying: number }>(
      'SELECT app, COUNT(*) AS total, COALESCE(SUM(attempts > 0), 0) AS retrying FROM tokens GROUP BY app',
    ),
    statusCount: db.prepare<[], number>('SELECT COUNT(*) FROM statuses').pluck(),
    pendingStatus: db.prepare<[string], StatusRow>(
      'SELECT app, token_count, remaining, delivered, failed, NULL AS finished_at FROM messages WHERE id = ?',
    ),
    finishedStatus: db.prepare<[string], StatusRow>(
      'SELECT app, token_count, 0 AS remaining, delivered, failed, finished_at FROM statuses WHERE id = ?',
    ),
    failures: db.prepare<[string, number], { token: string; reason: string }>('SELECT token, reason FROM failures WHERE message = ? ORDER BY rowid LIMIT ?'),
    // Oldest first, a batch at a time: a long prune never holds the write lock for long.
    expiredStatuses: db.prepare<[number, number], string>('SELECT id FROM statuses WHERE finished_at < ? ORDER BY finished_at LIMIT ?').pluck(),
    oldestStatuses: db.prepare<[number, number], string>('SELECT id FROM statuses ORDER BY finished_at LIMIT ? OFFSET ?').pluck(),
    forgetStatuses: db.prepare<[string]>('DELETE FROM statuses WHERE id IN (SELECT value FROM json_each(?))'),
    forgetFailures: db.prepare<[string]>('DELETE FROM failures WHERE message IN (SELECT value FROM json_each(?))'),
  };
  return {
    ...s,
    // Every write begins IMMEDIATE, now that the file is shared (lock.ts): a
    // transaction that read first and then found the write lock taken (by a
    // tool writing into the file) fails at once with SQLITE_BUSY, its busy
    // timeout unused; one that asks for the lock first waits its turn.
    /** `apps`: apps this batch is the first to send for, numbered by the caller, written in the same commit. */
    insert: db.transaction((batch: readonly StoredAdd[], apps: ReadonlyMap<string, number>) => {
      for (const [name, id] of apps) s.addApp.run(id, name);
      // Message rows are numbered here, so that small sends too go in by the hundred;
      // MAX + 1 keeps rowid order the accept order.
      let row = s.lastMessage.get() as number;
      const messages: unknown[] = [];
      const tokens: unknown[] = [];
      for (const add of batch) {
        messages.push(++row, add.id, add.app, add.acceptedAt, add.expiresAt, add.tokens.length, add.tokens.length, add.content);
        for (const token of add.tokens) tokens.push(row, add.app, token, add.dueAt);
      }
      s.insertMessages.run(messages);
      s.insertTokens.run(tokens);
    }).immediate,
    claim: db.transaction((app: number, now: number, limit: number) => {
      const rows = s.due.all(app, now, limit);
      if (rows.length > 0) s.markInflight.run(JSON.stringify(rows.map((r) => r.row)));
      return rows;
    }).immediate,
    settle: db.transaction((settled: ReadonlyMap<Place, Settlement>, apps: ReadonlyMap<string, number>, now: number): SettleResult => {
      const finished = new Map<number, Finished>();
      const final: number[] = [];
      const byApp = new Map<number, [number, number]>();
      for (const [place, settlement] of settled) {
        const message = settlement.delivery.message;
        const app = apps.get(message.app) as number;
        const counts = byApp.get(app) ?? byApp.set(app, [0, 0]).get(app) as [number, number];
        if (settlement.result === 'retry') {
          s.retryToken.run(settlement.dueAt, place.row);
          counts[1]++;
          continue;
        }
        counts[0]++;
        final.push(place.row);
        let outcomes = finished.get(place.message);
        if (!outcomes) finished.set(place.message, (outcomes = { delivered: 0, failed: 0, failures: [], id: message.id }));
        const token = settlement.delivery.token;
        if (settlement.result === 'delivered') {
          outcomes.delivered++;
          if (settlement.canonical !== undefined) s.addCanonical.run(app, token, settlement.canonical);
        } else {
          outcomes.failed++;
          outcomes.failures.push([token, reasonLabel(settlement.reason)]);
          if (settlement.notRegistered) s.addNotRegistered.run(app, token);
        }
      }
      if (final.length > 0) s.deleteTokens.run(JSON.stringify(final));
      let done = 0;
      for (const [row, outcomes] of finished) {
        const counted = s.finishTokens.get(outcomes.delivered + outcomes.failed, outcomes.delivered, outcomes.failed, row);
        if (!counted) continue;
        // The first MAX_STATUS_FAILURES failures of a message are kept, for `status`.
        const room = MAX_STATUS_FAILURES - (counted.failed - outcomes.failed);
        for (const [token, reason] of outcomes.failures.slice(0, Math.max(0, room))) s.addFailure.run(outcomes.id, token, reason);
        if (counted.remaining === 0) {
          s.keepStatus.run(now, row);
          s.deleteMessage.run(row);
          done++;
        }
      }
      return { finished: done, byApp };
    }).immediate,
    // Read and clear in one transaction: nothing added in between can be lost.
    takeCanonicals: db.transaction((app: number | null) => {
      const list = s.canonicals.all(app, app);
      s.clearCanonicals.run(app, app);
      return list;
    }).immediate,
    takeNotRegistered: db.transaction((app: number | null) => {
      const list = s.notRegistered.all(app, app);
      s.clearNotRegistered.run(app, app);
      return list;
    }).immediate,
    /** A write that changes nothing: it asks for the write lock and appends to the WAL, as a commit does. */
    probe: db.transaction(() => {
      db.pragma(`user_version = ${db.pragma('user_version', { simple: true }) as number}`);
    }).immediate,
    /** Forget statuses finished before `before`, then the oldest past `keep`; at most `batch`; how many went. */
    forget: db.transaction((before: number, keep: number, total: number, batch: number) => {
      const ids = s.expiredStatuses.all(before, batch);
      if (ids.length < batch && total - ids.length > keep) ids.push(...s.oldestStatuses.all(Math.min(batch - ids.length, total - ids.length - keep), ids.length));
      if (ids.length === 0) return 0;
      const list = JSON.stringify(ids);
      s.forgetFailures.run(list);
      s.forgetStatuses.run(list);
      return ids.length;
    }).immediate,
  };
}
