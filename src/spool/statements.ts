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

/** Where a claimed token lives in the file: its row and its message's row. */
export interface Place {
  readonly row: number;
  readonly message: number;
}

// Rows go in 100 to a statement: adding 1M tokens in sends of 1,000 took 4.1 s
// of CPU one row a statement, 2.6 s this way (json_each: 2.7 s); 200,000 sends
// of one token, 1,000 a commit, 2.1 s before messages went this way too, 1.75 s after.
const ROWS_PER_INSERT = 100;

/** `INSERT INTO table (columns) VALUES (?, …)`, `rows` times over. */
function insertSql(table: string, columns: readonly string[], rows: number): string {
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array(rows).fill(tuple).join(', ')}`;
}

/** Collects rows and writes them ROWS_PER_INSERT to a statement, the rest one by one at `finish`. */
class RowWriter {
  private readonly values: unknown[] = [];

  constructor(
    private readonly one: Database.Statement<unknown[]>,
    private readonly many: Database.Statement<unknown[]>,
    private readonly width: number,
  ) {}

  push(...row: unknown[]): void {
    for (const value of row) this.values.push(value);
    if (this.values.length === this.width * ROWS_PER_INSERT) {
      this.many.run(this.values);
      this.values.length = 0;
    }
  }

  finish(): void {
    for (let i = 0; i < this.values.length; i += this.width) this.one.run(this.values.slice(i, i + this.width));
    this.values.length = 0;
  }
}

const MESSAGE_COLUMNS = ['row', 'id', 'accepted_at', 'remaining', 'content'];
const TOKEN_COLUMNS = ['message', 'token', 'due_at'];

export type SpoolStatements = ReturnType<typeof prepareStatements>;

export function prepareStatements(db: Database.Database) {
  const s = {
    lastMessage: db.prepare<[], number>('SELECT COALESCE(MAX(row), 0) FROM messages').pluck(),
    insertMessage: db.prepare<unknown[]>(insertSql('messages', MESSAGE_COLUMNS, 1)),
    insertMessages: db.prepare<unknown[]>(insertSql('messages', MESSAGE_COLUMNS, ROWS_PER_INSERT)),
    insertToken: db.prepare<unknown[]>(insertSql('tokens', TOKEN_COLUMNS, 1)),
    insertTokens: db.prepare<unknown[]>(insertSql('tokens', TOKEN_COLUMNS, ROWS_PER_INSERT)),
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
    nextDue: db.prepare<[], number | null>('SELECT MIN(due_at) FROM tokens WHERE inflight = 0').pluck(),
    // Rowid order is accept order (schema.ts), so the oldest message is the first row.
    oldest: db.prepare<[], number>('SELECT accepted_at FROM messages ORDER BY row LIMIT 1').pluck(),
    census: db.prepare<[], { total: number; retrying: number }>('SELECT COUNT(*) AS total, COALESCE(SUM(attempts > 0), 0) AS retrying FROM tokens'),
  };
  return {
    ...s,
    insert: db.transaction((batch: readonly StoredAdd[], now: number) => {
      // Message rows are numbered here, so that small sends too go in by the hundred;
      // MAX + 1 keeps rowid order the accept order.
      let row = s.lastMessage.get() as number;
      const messages = new RowWriter(s.insertMessage, s.insertMessages, MESSAGE_COLUMNS.length);
      const tokens = new RowWriter(s.insertToken, s.insertTokens, TOKEN_COLUMNS.length);
      for (const add of batch) {
        messages.push(++row, add.id, now, add.tokens.length, add.content);
        for (const token of add.tokens) tokens.push(row, token, now);
      }
      messages.finish();
      tokens.finish();
    }),
    claim: db.transaction((now: number, limit: number) => {
      const rows = s.due.all(now, limit);
      if (rows.length > 0) s.markInflight.run(JSON.stringify(rows.map((r) => r.row)));
      return rows;
    }),
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
    }),
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
