// Opening the SQLite spool: the file, its pragmas, its checks and its versioned
// schema. Anything wrong is a ConfigError naming the path, never an empty queue.
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError } from '../errors.js';
import { lockPath, lockSpool, type SpoolLock } from './lock.js';
import { errorCode } from '../guards.js';

/** Bumped with every change below; older files are migrated, newer ones refused. */
const SCHEMA_VERSION = 2;

/** "gcm1": marks the file as ours, so that another program's database is refused, not written into. */
const APPLICATION_ID = 0x67636d31;

// A message's content is stored once, however many tokens it has; `remaining`
// counts its tokens not yet final, so a settle can finish it without an index
// on tokens(message). New messages take the next rowid, so rowid order is
// accept order; their ids are UUIDv7, so messages_id is appended to. A
// finished message leaves this hot table for `statuses` (kept for `status`
// until its retention ends). tokens_due serves claim (per app, due order, a
// message's tokens together) and nextDueAt; being partial, it holds only what
// waits, not what is in flight. Apps are numbered in `apps`.
const SCHEMA = `
CREATE TABLE apps (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT;
CREATE TABLE messages (
  row INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  app INTEGER NOT NULL,
  accepted_at INTEGER NOT NULL,
  expires_at INTEGER,
  token_count INTEGER NOT NULL,
  remaining INTEGER NOT NULL,
  delivered INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  content TEXT NOT NULL
) STRICT;
CREATE INDEX messages_id ON messages (id);
CREATE TABLE tokens (
  row INTEGER PRIMARY KEY,
  message INTEGER NOT NULL,
  app INTEGER NOT NULL,
  token TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  due_at INTEGER NOT NULL,
  inflight INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX tokens_due ON tokens (app, due_at, message) WHERE inflight = 0;
CREATE TABLE statuses (
  id TEXT PRIMARY KEY,
  app INTEGER NOT NULL,
  token_count INTEGER NOT NULL,
  delivered INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  finished_at INTEGER NOT NULL
) STRICT;
CREATE INDEX statuses_finished ON statuses (finished_at);
CREATE TABLE failures (message TEXT NOT NULL, token TEXT NOT NULL, reason TEXT NOT NULL) STRICT;
CREATE INDEX failures_message ON failures (message);
CREATE TABLE canonicals (app INTEGER NOT NULL, original TEXT NOT NULL, canonical TEXT NOT NULL, PRIMARY KEY (app, original)) STRICT;
CREATE TABLE notregistered (app INTEGER NOT NULL, token TEXT NOT NULL, PRIMARY KEY (app, token)) STRICT;
`;

/**
 * Version 1 (one app, no statuses) → 2: everything it held belongs to the app
 * `default`; the lists move to tables keyed by app, in their order.
 */
const MIGRATE_1_TO_2 = `
CREATE TABLE apps (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT;
INSERT INTO apps (id, name) VALUES (1, 'default');
ALTER TABLE messages ADD COLUMN app INTEGER NOT NULL DEFAULT 1;
ALTER TABLE messages ADD COLUMN expires_at INTEGER;
ALTER TABLE messages ADD COLUMN token_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN delivered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET token_count = remaining;
CREATE INDEX messages_id ON messages (id);
ALTER TABLE tokens ADD COLUMN app INTEGER NOT NULL DEFAULT 1;
DROP INDEX tokens_due;
CREATE INDEX tokens_due ON tokens (app, due_at, message) WHERE inflight = 0;
CREATE TABLE statuses (
  id TEXT PRIMARY KEY,
  app INTEGER NOT NULL,
  token_count INTEGER NOT NULL,
  delivered INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  finished_at INTEGER NOT NULL
) STRICT;
CREATE INDEX statuses_finished ON statuses (finished_at);
CREATE TABLE failures (message TEXT NOT NULL, token TEXT NOT NULL, reason TEXT NOT NULL) STRICT;
CREATE INDEX failures_message ON failures (message);
CREATE TABLE canonicals_v2 (app INTEGER NOT NULL, original TEXT NOT NULL, canonical TEXT NOT NULL, PRIMARY KEY (app, original)) STRICT;
INSERT INTO canonicals_v2 (app, original, canonical) SELECT 1, original, canonical FROM canonicals ORDER BY rowid;
DROP TABLE canonicals;
ALTER TABLE canonicals_v2 RENAME TO canonicals;
CREATE TABLE notregistered_v2 (app INTEGER NOT NULL, token TEXT NOT NULL, PRIMARY KEY (app, token)) STRICT;
INSERT INTO notregistered_v2 (app, token) SELECT 1, token FROM notregistered ORDER BY rowid;
DROP TABLE notregistered;
ALTER TABLE notregistered_v2 RENAME TO notregistered;
`;

// SQLite's usual 2 MiB of page cache, set here so the bound is ours: with 1M
// tokens pending, 16 and 64 MiB made no difference we could measure to adding
// them or draining them (CPU time), and cost their size in RSS.
const CACHE_KIB = 2048;

const FILE_ERRORS: Record<string, string> = {
  EEXIST: 'a part of it is not a directory',
  ENOTDIR: 'a part of it is not a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
};

/** The spool's connection, what `prepare` made of it, and the connection holding its lock (lock.ts). */
export interface OpenedSpool<T> {
  readonly db: Database.Database;
  readonly prepared: T;
  readonly lock: SpoolLock;
}

/**
 * Lock (lock.ts), then open (creating if need be) the spool at `path`,
 * checked, migrated and recovered, and hand it to `prepare`. Throws ConfigError.
 */
export function openDatabase<T>(path: string, sync: 'normal' | 'full', now: number, prepare: (db: Database.Database) => T): OpenedSpool<T> {
  const directory = dirname(path);
  try {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
  } catch (error) {
    const code = errorCode(error) ?? String(error);
    throw new ConfigError(`--spool: cannot create the directory ${directory}: ${FILE_ERRORS[code] ?? 'failed'} (${code})`);
  }
  checkAccess(path, directory);
  checkFile(lockPath(path));
  let lock: SpoolLock;
  try {
    lock = lockSpool(path);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') throw new ConfigError(inUse(path));
    if (code === 'SQLITE_NOTADB' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT'))) {
      // Only a power cut as it was first written could do it: it holds nothing but a lock.
      throw new ConfigError(`--spool: the lock file ${lockPath(path)} is damaged; with no gocmd running, remove it and start again`);
    }
    throw new ConfigError(explain(lockPath(path), error));
  }
  let db: Database.Database | undefined;
  try {
    // A short busy wait: only a tool looking into the file could hold a lock
    // we need, for a moment (the checkpointer never takes the write lock).
    db = new Database(path, { timeout: 500 });
    configure(db, sync, path);
    check(db, path);
    migrate(db, path);
    recover(db, now);
    return { db, prepared: prepare(db), lock };
  } catch (error) {
    db?.close();
    lock.release();
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(explain(path, error));
  }
}

// SQLite would open a file it may not write read-only, then fail later with an
// obscure "disk I/O error"; the WAL file needs the directory writable too.
function checkAccess(path: string, directory: string): void {
  const fail = (what: string, error: unknown): never => {
    const code = errorCode(error) ?? String(error);
    throw new ConfigError(`--spool: ${what}: ${FILE_ERRORS[code] ?? 'failed'} (${code})`);
  };
  try {
    accessSync(directory, constants.W_OK | constants.X_OK);
  } catch (error) {
    fail(`cannot write in the directory ${directory}`, error);
  }
  checkFile(path);
}

function checkFile(path: string): void {
  if (!existsSync(path)) return;
  if (statSync(path).isDirectory()) throw new ConfigError(`--spool: ${path} is a directory; give the path of a file in it`);
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
  } catch (error) {
    const code = errorCode(error) ?? String(error);
    throw new ConfigError(`--spool: cannot read and write ${path}: ${FILE_ERRORS[code] ?? 'failed'} (${code})`);
  }
}

function configure(db: Database.Database, sync: 'normal' | 'full', path: string): void {
  // locking_mode stays NORMAL, so that the checkpointer's connection can share
  // the file (it costs a -shm file); the lock file keeps other daemons out.
  if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') throw new ConfigError(`--spool: ${path} cannot be put in WAL mode`);
  // NORMAL: a commit survives a crash of the process; FULL: also a power loss.
  db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma(`cache_size = -${CACHE_KIB}`);
  // No commit checkpoints: the checkpointer does, on its own thread (checkpointer.ts).
  db.pragma('wal_autocheckpoint = 0');
  // After a burst, give the disk back: the WAL is cut back to 64 MiB when it starts over.
  db.pragma('journal_size_limit = 67108864');
}

function check(db: Database.Database, path: string): void {
  const verdict = db.pragma('quick_check', { simple: true });
  if (verdict === 'ok') return;
  const finding = String(verdict).replace(/\s*\n\s*/g, ' ');
  throw new ConfigError(`--spool: ${path} is corrupt (${finding}); move it aside to start an empty spool`);
}

function migrate(db: Database.Database, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  const objects = db.prepare('SELECT COUNT(*) FROM sqlite_schema').pluck().get() as number;
  if (version === 0 && objects === 0) {
    db.transaction(() => {
      db.exec(SCHEMA);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
    return;
  }
  if (db.pragma('application_id', { simple: true }) !== APPLICATION_ID) {
    throw new ConfigError(`--spool: ${path} is an SQLite database but not a gocm spool; choose another path`);
  }
  if (version > SCHEMA_VERSION) {
    throw new ConfigError(`--spool: ${path} has schema version ${version}, newer than this gocm's ${SCHEMA_VERSION}; run a newer gocm or move the file aside`);
  }
  if (version < 2) {
    db.transaction(() => {
      db.exec(MIGRATE_1_TO_2);
      db.pragma('user_version = 2');
    }).immediate();
  }
}

/** Tokens that were in flight when the last daemon stopped go back to the queue, due now. */
function recover(db: Database.Database, now: number): void {
  db.prepare('UPDATE tokens SET inflight = 0, due_at = MIN(due_at, ?) WHERE inflight = 1').run(now);
}

function inUse(path: string): string {
  return `--spool: ${path} is in use by another process (another gocmd?)`;
}

function explain(path: string, error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code !== 'string') return `--spool: cannot open ${path}: ${message}`;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return `--spool: ${path} is not a gocm spool or is corrupt (${message}); move it aside to start an empty spool`;
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return inUse(path);
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM') return `--spool: ${path} is read-only`;
  return `--spool: cannot open ${path}: ${message} (${code})`;
}
