// The SQL of the SQLite spool: every statement prepared once, and each state
// change (add a batch, claim, settle, take a list) as one transaction, built once.
import type Database from 'better-sqlite3';
import type { CanonicalReplacement, Settlement } from './spool.js';

/** One add of a group commit, its content already serialised. */
export interface StoredAdd {
  readonly id: string;
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

const MESSAGE_COLUMNS = ['row', 'id', 'accepted_at', 'remaining', 'content'];
const TOKEN_COLUMNS = ['message', 'token', 'due_at'];

export type SpoolStatements = ReturnType<typeof prepareStatements>;

export function prepareStatements(db: Database.Database) {
  const s = {
    lastMessage: db.prepare<[], number>('SELECT COALESCE(MAX(row), 0) FROM messages').pluck(),
    insertMessages: new MultiRowInsert(db, 'messages', MESSAGE_COLUMNS),
    insertTokens: new MultiRowInsert(db, 'tokens', TOKEN_COLUMNS),
    // Served by the partial index tokens_due, in its order: no sort, no scan of what is in flight.
    due: db.prepare<[number, number], ClaimedRow>(
      `SELECT t.row, t.message, m.id, t.token, t.attempts FROM tokens t JOIN messages m ON m.row = t.message
       WHERE t.inflight = 0 AND t.due_at <= ? ORDER BY t.due_at, t.message, t.row LIMIT ?`,
    ),
    // Rows by the thousand go as one JSON array of row ids: marking 1,000 rows
    // took 5.1 ms one statement a row and 3.3–4.5 ms this way (deleting: 5.2 → 3.5 ms).
    markInflight: db.prepare<[string]>('UPDATE tokens SET inflight = 1 WHERE row IN (SELECT value FROM json_each(?))'),
    content: db.prepare<[number], string>('SELECT content FROM messages WHERE row = ?').pluck(),
    deleteTokens: db.prepare<[string]>('DELETE FROM tokens WHERE row IN (SELECT value FROM json_each(?))'),
    releaseTokens: db.prepare<[string]>('UPDATE tokens SET inflight = 0 WHERE row IN (SELECT value FROM json_each(?))'),
    retryToken: db.prepare<[number, number]>('UPDATE tokens SET attempts = attempts + 1, due_at = ?, inflight = 0 WHERE row = ?'),
    finishTokens: db.prepare<[number, number], number>('UPDATE messages SET remaining = remaining - ? WHERE row = ? RETURNING remaining').pluck(),
    deleteMessage: db.prepare<[number]>('DELETE FROM messages WHERE row = ?'),
    // A token replaced twice keeps its latest canonical, in its first place.
    addCanonical: db.prepare<[string, string]>(
      'INSERT INTO canonicals (original, canonical) VALUES (?, ?) ON CONFLICT (original) DO UPDATE SET canonical = excluded.canonical',
    ),
    addNotRegistered: db.prepare<[string]>('INSERT OR IGNORE INTO notregistered (token) VALUES (?)'),
    canonicals: db.prepare<[], CanonicalReplacement>('SELECT original, canonical FROM canonicals ORDER BY rowid'),
    clearCanonicals: db.prepare('DELETE FROM canonicals'),
    notRegistered: db.prepare<[], string>('SELECT token FROM notregistered ORDER BY rowid').pluck(),
    clearNotRegistered: db.prepare('DELETE FROM notregistered'),
    clearSomeCanonicals: db.prepare<[string]>('DELETE FROM canonicals WHERE original IN (SELECT value FROM json_each(?))'),
    clearSomeNotRegistered: db.prepare<[string]>('DELETE FROM notregistered WHERE token IN (SELECT value FROM json_each(?))'),
    nextDue: db.prepare<[], number | null>('SELECT MIN(due_at) FROM tokens WHERE inflight = 0').pluck(),
    // Rowid order is accept order (schema.ts), so the oldest message is the first row.
    oldest: db.prepare<[], number>('SELECT accepted_at FROM messages ORDER BY row LIMIT 1').pluck(),
    census: db.prepare<[], { total: number; retrying: number }>('SELECT COUNT(*) AS total, COALESCE(SUM(attempts > 0), 0) AS retrying FROM tokens'),
  };
  return {
    ...s,
    // Every write begins IMMEDIATE, now that the file is shared (lock.ts): a
    // transaction that read first and then found the write lock taken (by a
    // tool writing into the file) fails at once with SQLITE_BUSY, its busy
    // timeout unused (seen: after 1 ms, against a 300 ms timeout); one that
    // asks for the lock first waits its turn.
    insert: db.transaction((batch: readonly StoredAdd[], now: number) => {
      // Message rows are numbered here, so that small sends too go in by the hundred;
      // MAX + 1 keeps rowid order the accept order.
      let row = s.lastMessage.get() as number;
      const messages: unknown[] = [];
      const tokens: unknown[] = [];
      for (const add of batch) {
        messages.push(++row, add.id, now, add.tokens.length, add.content);
        for (const token of add.tokens) tokens.push(row, token, now);
      }
      s.insertMessages.run(messages);
      s.insertTokens.run(tokens);
    }).immediate,
    claim: db.transaction((now: number, limit: number) => {
      const rows = s.due.all(now, limit);
      if (rows.length > 0) s.markInflight.run(JSON.stringify(rows.map((r) => r.row)));
      return rows;
    }).immediate,
    /** Returns how many tokens became final. */
    settle: db.transaction((settled: ReadonlyMap<Place, Settlement>) => {
      const finished = new Map<number, number>();
      const final: number[] = [];
      for (const [place, settlement] of settled) {
        if (settlement.result === 'retry') {
          s.retryToken.run(settlement.dueAt, place.row);
          continue;
        }
        final.push(place.row);
        finished.set(place.message, (finished.get(place.message) ?? 0) + 1);
        if (settlement.result === 'delivered' && settlement.canonical !== undefined) s.addCanonical.run(settlement.delivery.token, settlement.canonical);
        if (settlement.result === 'failed' && settlement.notRegistered) s.addNotRegistered.run(settlement.delivery.token);
      }
      if (final.length > 0) s.deleteTokens.run(JSON.stringify(final));
      for (const [message, count] of finished) {
        // A message with no token left goes, so the file does not grow without bound.
        if (s.finishTokens.get(count, message) === 0) s.deleteMessage.run(message);
      }
      return final.length;
    }).immediate,
    // Read and clear in one transaction: nothing added in between can be lost.
    takeCanonicals: db.transaction(() => {
      const list = s.canonicals.all();
      s.clearCanonicals.run();
      return list;
    }),
    takeNotRegistered: db.transaction(() => {
      const list = s.notRegistered.all();
      s.clearNotRegistered.run();
      return list;
    }),
  };
}
