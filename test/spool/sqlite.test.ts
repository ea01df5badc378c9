// The SQLite spool: the Spool contract, and what only a file can promise —
// surviving a crash and a reopen, group commit, refusing a file it cannot trust.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { ConfigError, SpoolFullError } from '../../src/errors.js';
import { type CheckpointPolicy, Shared, type SpoolLog } from '../../src/spool/checkpointer.js';
import { openSpool } from '../../src/spool/open.js';
import type { Delivery } from '../../src/spool/spool.js';
import { SqliteSpool, type SqliteSpoolOptions } from '../../src/spool/sqlite.js';
import { testConfig } from '../support/config.js';
import { message, spoolConformance } from './conformance.js';

const MINUTE = 60_000;

/** A checkpoint policy that never fires in a test's time. */
const NEVER: CheckpointPolicy = { intervalMs: 10 * MINUTE, thresholdBytes: 2 ** 30, restartFrames: 2 ** 30 };

function freshDirectory(): string {
  return mkdtempSync(join(tmpdir(), 'gocm-spool-'));
}

/** A directory removed when the test ends. */
function directory(t: TestContext): string {
  const dir = freshDirectory();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A spool closed when the test ends (closing twice is harmless). */
function open(t: TestContext, path: string, options: Partial<SqliteSpoolOptions> = {}): SqliteSpool {
  const spool = new SqliteSpool(path, { sync: 'normal', spoolMax: 1_000_000, ...options });
  t.after(() => spool.close());
  return spool;
}

/** Reads the file behind the spool's back, once it is closed. */
function inspect<T>(path: string, read: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

const count = (table: string) => (db: Database.Database) => db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;

/**
 * Commits in the WAL file, counted from outside: commit frames (a non-zero
 * "database size" field) whose salts match the header's, i.e. written since the last reset.
 */
function walCommits(path: string): number {
  const wal = readFileSync(`${path}-wal`);
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  let commits = 0;
  for (let offset = 32; offset + 24 + pageSize <= wal.length; offset += 24 + pageSize) {
    const current = wal.readUInt32BE(offset + 8) === wal.readUInt32BE(16) && wal.readUInt32BE(offset + 12) === wal.readUInt32BE(20);
    if (current && wal.readUInt32BE(offset + 4) !== 0) commits++;
  }
  return commits;
}

/** Resolves once the spool's checkpoint thread runs its code. */
async function threadStarted(spool: SqliteSpool): Promise<Worker> {
  const worker = spool.checkpointer.thread;
  assert.ok(worker, 'the spool started a checkpoint thread');
  if (!spool.checkpointer.online) await once(worker, 'online');
  return worker;
}

/** A child process running `code` (an ES module, with gc() exposed) with the spool module imported as `SqliteSpool`. */
function child(code: string, ...args: string[]) {
  return spawn(
    process.execPath,
    ['--expose-gc', '--input-type=module', '-e', `import { SqliteSpool } from ${JSON.stringify(new URL('../../src/spool/sqlite.js', import.meta.url).href)};\n${code}`, ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
}

spoolConformance('SQLite', ({ spoolMax, clock, statuses }) => {
  const dir = freshDirectory();
  const spool = new SqliteSpool(join(dir, 'spool.db'), { sync: 'normal', spoolMax, ...(clock && { clock }), ...(statuses && { statuses }) });
  return {
    spool,
    dispose: async () => {
      await spool.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

void test('queued, retrying and in-flight tokens all come back as pending after a reopen', async (t) => {
  const path = join(directory(t), 'spool.db');
  const first = open(t, path);
  await first.add(message('m1'), ['inflight', 'retrying']);
  await first.add(message('m2'), ['queued']);
  const [, retrying] = (await first.claim('default', 2, Date.now())) as [Delivery, Delivery];
  const dueAt = Date.now() + MINUTE;
  await first.settle([{ delivery: retrying, result: 'retry', reason: { source: 'http', code: '503' }, dueAt }], Date.now());
  await first.close();

  const second = open(t, path);
  assert.equal((await second.counts(undefined, Date.now())).pending, 3);
  assert.deepEqual({ ...(await second.counts(undefined, Date.now())), oldestAcceptedAt: 0 }, { pending: 3, queued: 2, scheduled: 0, inflight: 0, retrying: 1, oldestAcceptedAt: 0 });
  assert.equal(second.recovered, 3);
  const due = await second.claim('default', 10, Date.now());
  assert.deepEqual(
    due.map((d) => [d.token, d.attempts, d.message.id, d.message.content]),
    [
      ['inflight', 0, 'm1', message('m1').content],
      ['queued', 0, 'm2', message('m2').content],
    ],
  );
  assert.equal(await second.nextDueAt('default'), dueAt);
  assert.deepEqual(
    (await second.claim('default', 10, dueAt)).map((d) => [d.token, d.attempts]),
    [['retrying', 1]],
  );
});

void test('an acknowledged send survives the process being killed', async (t) => {
  const path = join(directory(t), 'spool.db');
  // The child acknowledges three tokens, delivers one and has one in flight when it is killed.
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { SqliteSpool } from ${JSON.stringify(new URL('../../src/spool/sqlite.js', import.meta.url).href)};
       const spool = new SqliteSpool(process.argv[1], { sync: 'normal', spoolMax: 100 });
       await spool.add({ id: 'm1', app: 'default', acceptedAt: Date.now(), content: { payload: { n: 1 } } }, ['a', 'b', 'c']);
       const [a] = await spool.claim('default', 2, Date.now());
       await spool.settle([{ delivery: a, result: 'delivered' }], Date.now());
       process.stdout.write('acknowledged\\n');
       setInterval(() => {}, 60_000);`,
      path,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => child.kill('SIGKILL'));
  const exited = once(child, 'exit');
  await Promise.race([once(child.stdout, 'data'), exited.then(() => assert.fail('the child stopped before acknowledging'))]);
  child.kill('SIGKILL');
  await exited;

  const spool = open(t, path);
  assert.equal((await spool.counts(undefined, Date.now())).pending, 2);
  assert.deepEqual(
    (await spool.claim('default', 10, Date.now())).map((d) => [d.token, d.message.content.payload]),
    [
      ['b', { n: 1 }],
      ['c', { n: 1 }],
    ],
  );
});

void test('the canonical and not-registered lists survive a reopen until they are read', async (t) => {
  const path = join(directory(t), 'spool.db');
  const first = open(t, path);
  await first.add(message('m1'), ['old', 'gone']);
  const [old, gone] = (await first.claim('default', 2, Date.now())) as [Delivery, Delivery];
  await first.settle([
    { delivery: old, result: 'delivered', canonical: 'new' },
    { delivery: gone, result: 'failed', reason: { source: 'fcm', code: 'UNREGISTERED' }, notRegistered: true },
  ], Date.now());
  await first.close();

  const second = open(t, path);
  assert.deepEqual(await second.takeCanonicals(undefined, true), [{ app: 'default', original: 'old', canonical: 'new' }]);
  assert.deepEqual(await second.takeNotRegistered(undefined, false), [{ app: 'default', token: 'gone' }]);
  await second.close();

  const third = open(t, path);
  assert.equal((await third.counts(undefined, Date.now())).pending, 0);
  assert.deepEqual(await third.takeCanonicals(undefined, false), [{ app: 'default', original: 'old', canonical: 'new' }], 'keep left it in place');
  assert.deepEqual(await third.takeNotRegistered(undefined, false), [], 'a read list stays read');
});

void test('sends arriving together share one commit; each resolves after it', async (t) => {
  const path = join(directory(t), 'spool.db');
  // No checkpoint meanwhile: the commit after one starts the WAL over, and the count with it.
  const spool = open(t, path, { checkpoints: NEVER });
  const before = walCommits(path);
  const sends = Array.from({ length: 50 }, (_, i) => spool.add(message(`m${i}`), ['a', 'b']));
  assert.equal((await spool.counts(undefined, Date.now())).pending, 0, 'nothing is acknowledged before its commit');
  await Promise.all(sends);
  assert.equal(walCommits(path), before + 1);
  assert.equal((await spool.counts(undefined, Date.now())).pending, 100);
  await spool.add(message('later'), ['c']);
  assert.equal(walCommits(path), before + 2, 'a send in a later turn of the event loop gets its own commit');
});

void test('a message is stored once for all its tokens, and pruned when its last token is final', async (t) => {
  const path = join(directory(t), 'spool.db');
  const tokens = Array.from({ length: 1000 }, (_, i) => `token-${i}`);
  const first = open(t, path);
  await first.add(message('m1'), tokens);
  await first.add(message('m2'), ['x']);
  await first.close();
  assert.deepEqual(inspect(path, (db) => [count('messages')(db), count('tokens')(db)]), [2, 1001]);

  const second = open(t, path);
  const claimed = await second.claim('default', 2000, Date.now());
  assert.equal(new Set(claimed.map((d) => d.message)).size, 2, 'one parsed Message per message');
  await second.settle(claimed.map((delivery, i) => (i % 2 ? { delivery, result: 'delivered' } : { delivery, result: 'failed', reason: { source: 'http', code: '400' }, notRegistered: false })), Date.now());
  await second.close();
  assert.deepEqual(inspect(path, (db) => [count('messages')(db), count('tokens')(db)]), [0, 0]);
});

void test('a full disk refuses the whole group of sends and keeps nothing of it', async (t) => {
  const path = join(directory(t), 'spool.db');
  const spool = open(t, path);
  await spool.add(message('kept'), ['a']);
  // SQLite answers SQLITE_FULL, as for a full disk, when the file would pass max_page_count.
  spool.pragma(`max_page_count = ${spool.pragma('page_count') as number}`);
  const big = Array.from({ length: 2000 }, (_, i) => `token-${i}`.padEnd(160, '-'));
  const refused = await Promise.allSettled([spool.add(message('m1'), ['b']), spool.add(message('m2'), big)]);
  for (const result of refused) {
    assert.ok(result.status === 'rejected' && result.reason instanceof SpoolFullError, 'every send of the group is refused as busy');
  }
  assert.equal((await spool.counts(undefined, Date.now())).pending, 1);
  spool.pragma('max_page_count = 1073741823');
  await spool.add(message('after'), ['c']);
  await spool.close();
  assert.deepEqual(
    inspect(path, (d) => d.prepare('SELECT token FROM tokens ORDER BY row').pluck().all()),
    ['a', 'c'],
  );
});

void test('a file that is not a database is refused, naming it', (t) => {
  const path = join(directory(t), 'spool.db');
  writeFileSync(path, 'these are not the pages you are looking for\n'.repeat(200));
  assert.throws(() => open(t, path), (error) => error instanceof ConfigError && error.message.includes(path) && /not a gocm spool or is corrupt/.test(error.message));
});

void test('a spool with a damaged page is refused at open, not read as empty', async (t) => {
  const path = join(directory(t), 'spool.db');
  const spool = open(t, path);
  await spool.add(message('m1'), Array.from({ length: 2000 }, (_, i) => `token-${i}`.padEnd(160, '-')));
  await spool.close();
  const pageSize = 4096;
  assert.ok(statSync(path).size > 10 * pageSize);
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(pageSize, 0x5a), 0, pageSize, 5 * pageSize);
  closeSync(fd);
  assert.throws(() => open(t, path), (error) => error instanceof ConfigError && error.message.includes(path) && /corrupt/.test(error.message));
});

void test("another program's SQLite database is refused, not written into", (t) => {
  const path = join(directory(t), 'other.db');
  const other = new Database(path);
  other.exec('CREATE TABLE accounts (name TEXT)');
  other.close();
  assert.throws(() => open(t, path), (error) => error instanceof ConfigError && error.message.includes(path) && /not a gocm spool/.test(error.message));
  assert.deepEqual(
    inspect(path, (db) => db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all()),
    ['accounts'],
  );
});

/** The first release's schema, as its spools were written: one app, no statuses. */
const SCHEMA_V1 = `
CREATE TABLE messages (row INTEGER PRIMARY KEY, id TEXT NOT NULL, accepted_at INTEGER NOT NULL, remaining INTEGER NOT NULL, content TEXT NOT NULL) STRICT;
CREATE TABLE tokens (row INTEGER PRIMARY KEY, message INTEGER NOT NULL, token TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, due_at INTEGER NOT NULL, inflight INTEGER NOT NULL DEFAULT 0) STRICT;
CREATE INDEX tokens_due ON tokens (due_at, message) WHERE inflight = 0;
CREATE TABLE canonicals (original TEXT PRIMARY KEY, canonical TEXT NOT NULL) STRICT;
CREATE TABLE notregistered (token TEXT PRIMARY KEY) STRICT;
`;

void test('a spool of the first release is migrated: its tokens and lists belong to the app default', async (t) => {
  const path = join(directory(t), 'spool.db');
  const old = new Database(path);
  old.pragma('journal_mode = WAL');
  old.exec(SCHEMA_V1);
  old.pragma('application_id = 1734569265');
  old.pragma('user_version = 1');
  const content = JSON.stringify({ payload: { n: 1 } });
  old.prepare('INSERT INTO messages (row, id, accepted_at, remaining, content) VALUES (1, ?, 1000, 2, ?)').run('m-old', content);
  old.prepare('INSERT INTO tokens (message, token, attempts, due_at, inflight) VALUES (1, ?, 0, 1000, 0), (1, ?, 1, 1000, 1)').run('queued', 'was-in-flight');
  old.prepare('INSERT INTO canonicals (original, canonical) VALUES (?, ?), (?, ?)').run('o2', 'c2', 'o1', 'c1');
  old.prepare('INSERT INTO notregistered (token) VALUES (?)').run('gone');
  old.close();

  const spool = open(t, path);
  assert.equal(spool.recovered, 2);
  assert.equal(spool.pragma('user_version'), 2);
  const claimed = await spool.claim('default', 10, Date.now());
  assert.deepEqual(
    claimed.map((d) => [d.token, d.attempts, d.message.id, d.message.app, d.message.content]),
    [
      ['queued', 0, 'm-old', 'default', { payload: { n: 1 } }],
      ['was-in-flight', 1, 'm-old', 'default', { payload: { n: 1 } }],
    ],
  );
  assert.deepEqual(await spool.takeCanonicals('default', true), [
    { app: 'default', original: 'o2', canonical: 'c2' },
    { app: 'default', original: 'o1', canonical: 'c1' },
  ], 'in their old order');
  assert.deepEqual(await spool.takeNotRegistered(undefined, true), [{ app: 'default', token: 'gone' }]);
  await spool.settle(claimed.map((delivery) => ({ delivery, result: 'delivered' })), Date.now());
  assert.deepEqual((await spool.status('m-old'))?.delivered, 2, 'its status is kept like any other');
});

void test('a spool from a newer gocm (higher user_version) is refused', async (t) => {
  const path = join(directory(t), 'spool.db');
  await open(t, path).close();
  const db = new Database(path);
  db.pragma('user_version = 3');
  db.close();
  assert.throws(() => open(t, path), (error) => error instanceof ConfigError && error.message.includes(path) && /schema version 3, newer/.test(error.message));
});

void test('a spool path that cannot be created is refused, naming it (even for root)', (t) => {
  const dir = directory(t);
  const file = join(dir, 'file.txt');
  writeFileSync(file, 'a regular file, so nothing can be created under it\n');
  assert.throws(
    () => open(t, join(file, 'state', 'spool.db')),
    (error) => error instanceof ConfigError && error.message.includes(join(file, 'state')) && /not a directory/.test(error.message),
  );
  assert.throws(() => open(t, join(file, 'spool.db')), (error) => error instanceof ConfigError && error.message.includes(file) && /not a directory/.test(error.message));
  mkdirSync(join(dir, 'a-directory'));
  assert.throws(() => open(t, join(dir, 'a-directory')), (error) => error instanceof ConfigError && error.message.includes(join(dir, 'a-directory')));
});

// Root may write any file, so as root the opening runs as nobody (setpriv, util-linux).
const asRoot = process.getuid?.() === 0;
const unprivileged = asRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath] : [process.execPath];

void test('a spool file the daemon may not write is refused, naming it', { skip: asRoot && !existsSync('/usr/bin/setpriv') && 'needs setpriv to drop root' }, async (t) => {
  const dir = directory(t);
  const path = join(dir, 'spool.db');
  await open(t, path).close();
  chmodSync(path, 0o444);
  chmodSync(dir, 0o777);
  const [command, ...args] = unprivileged as [string, ...string[]];
  const child = execFile(command, [
    ...args,
    '--input-type=module',
    '-e',
    `import { openSpool } from ${JSON.stringify(new URL('../../src/spool/open.js', import.meta.url).href)};
     try { await (await openSpool({ spool: process.argv[1], sync: 'normal', spoolMax: 10, statusRetentionMs: 1000, leaseMs: 1000, name: 'x' })).close(); console.log('opened'); }
     catch (error) { console.log(error.name + ': ' + error.message); }`,
    path,
  ]);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await once(child, 'exit');
  assert.match(output, new RegExp(`^ConfigError: .*cannot read and write ${path}: permission denied`));
});

void test('a spool already open in another daemon is refused', (t) => {
  const path = join(directory(t), 'spool.db');
  open(t, path);
  assert.throws(() => open(t, path), (error) => error instanceof ConfigError && /in use by another process/.test(error.message));
});

void test('a damaged lock file is refused, naming it, with what to do', (t) => {
  const path = join(directory(t), 'spool.db');
  writeFileSync(`${path}.lock`, 'not a lock\n'.repeat(500));
  assert.throws(() => open(t, path), (error) => error instanceof ConfigError && error.message.includes(`${path}.lock is damaged`) && /remove it/.test(error.message));
});

void test('a missing directory is created, private to the daemon', async (t) => {
  const dir = join(directory(t), 'state', 'gocm');
  const spool = open(t, join(dir, 'spool.db'));
  await spool.add(message('m1'), ['a']);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
});

void test('sync picks how hard a commit is pushed to disk: normal or full', (t) => {
  const dir = directory(t);
  assert.equal(open(t, join(dir, 'normal.db'), { sync: 'normal' }).pragma('synchronous'), 1);
  assert.equal(open(t, join(dir, 'full.db'), { sync: 'full' }).pragma('synchronous'), 2);
});

void test('openSpool opens the SQLite spool at the configured path with its limit', async (t) => {
  const path = join(directory(t), 'spool.db');
  const spool = await openSpool(testConfig({ spool: path, spoolMax: 1, sync: 'full' }));
  t.after(() => spool.close());
  assert.ok(spool instanceof SqliteSpool && spool.path === path);
  await assert.rejects(spool.add(message('m1'), ['a', 'b']), /spool-max 1/);
  assert.equal(spool.pragma('synchronous'), 2);
});

void test('the WAL stays bounded however many commits there are', async (t) => {
  const path = join(directory(t), 'spool.db');
  const spool = open(t, path);
  // Each commit rewrites at least three pages (a leaf of each table and of the
  // index): unchecked, these commits would leave over 230 MiB in the WAL.
  const commits = 20_000;
  const bound = 64 * 2 ** 20;
  assert.ok(commits * 3 * 4096 > 3.5 * bound);
  let largest = 0;
  for (let i = 0; i < commits; i++) {
    await Promise.all([spool.add(message(`m${i}-a`), ['a']), spool.add(message(`m${i}-b`), ['b'])]);
    if (i % 250 === 0) largest = Math.max(largest, statSync(`${path}-wal`).size);
  }
  largest = Math.max(largest, statSync(`${path}-wal`).size);
  assert.ok(largest <= bound, `the WAL reached ${largest} bytes`);
  assert.ok(spool.checkpointer.running, 'the checkpoint thread did the checkpoints');
  assert.equal(spool.pragma('wal_autocheckpoint'), 0, 'no commit checkpointed');
  assert.equal((await spool.counts(undefined, Date.now())).pending, 2 * commits);
});

void test('close() stops the checkpoint thread: nothing is left to keep the process alive', async (t) => {
  const path = join(directory(t), 'spool.db');
  const spool = open(t, path);
  const worker = await threadStarted(spool);
  const exited = once(worker, 'exit');
  await spool.close();
  await exited;
  assert.equal(spool.checkpointer.running, false);

  // The same in a process of its own, which must end by itself once the spool is closed.
  const closer = child(
    `const spool = new SqliteSpool(process.argv[1], { sync: 'normal', spoolMax: 100 });
     await spool.add({ id: 'm1', app: 'default', acceptedAt: Date.now(), content: { payload: {} } }, ['a']);
     if (!spool.checkpointer.online) await new Promise((resolve) => spool.checkpointer.thread.once('online', resolve));
     process.stdout.write(spool.checkpointer.running ? 'running\\n' : 'no thread\\n');
     await spool.close();`,
    path,
  );
  t.after(() => closer.kill('SIGKILL'));
  let output = '';
  closer.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => closer.kill('SIGKILL'), 20_000);
  const [code, signal] = (await once(closer, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  assert.equal(output, 'running\n', 'the thread ran in the child');
  assert.deepEqual([code, signal], [0, null], 'the child exited by itself');
});

void test('a checkpoint thread that dies is logged, and commits checkpoint on the main thread from then on', async (t) => {
  const warnings: string[] = [];
  const log: SpoolLog = { warn: (_details, message) => warnings.push(message) };
  const path = join(directory(t), 'spool.db');
  const spool = open(t, path, { log });
  const worker = await threadStarted(spool);
  const exited = once(worker, 'exit');
  await worker.terminate();
  await exited;
  assert.equal(spool.checkpointer.running, false);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? '', /checkpoint thread failed/);
  assert.equal(spool.pragma('wal_autocheckpoint'), 1000);
  await spool.add(message('m1'), ['a']);
  assert.equal((await spool.counts(undefined, Date.now())).pending, 1);
  await spool.close();
  assert.equal(inspect(path, count('tokens')), 1);
});

void test('a group commit waits for the closed gate without blocking, and goes when it opens', async (t) => {
  // The thread runs, but does not checkpoint (nor touch the gate) meanwhile.
  const spool = open(t, join(directory(t), 'spool.db'), { checkpoints: NEVER });
  await threadStarted(spool);
  const inside = spool.checkpointer;
  // As the thread does to copy the last frames of a long WAL.
  Atomics.store(inside.shared, Shared.Gate, 1);
  let acknowledged = false;
  const send = spool.add(message('m1'), ['a']).then(() => (acknowledged = true));
  // A group commit goes on the next turn of the event loop; give it a few.
  for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(acknowledged, false, 'the group waits while the gate is closed');
  assert.equal((await spool.counts(undefined, Date.now())).pending, 0);
  Atomics.store(inside.shared, Shared.Gate, 0);
  inside.gateOpened();
  await send;
  assert.equal((await spool.counts(undefined, Date.now())).pending, 1);
});

void test('a spool open in another process is refused, and free once that process is killed', async (t) => {
  const path = join(directory(t), 'spool.db');
  // The child keeps its spool in no variable: the lock must outlast a garbage collection.
  const holder = child(
    `await new SqliteSpool(process.argv[1], { sync: 'normal', spoolMax: 100 }).add({ id: 'm1', app: 'default', acceptedAt: Date.now(), content: { payload: {} } }, ['a']);
     globalThis.gc();
     process.stdout.write('open\\n');
     setInterval(() => {}, 60_000);`,
    path,
  );
  t.after(() => holder.kill('SIGKILL'));
  const exited = once(holder, 'exit');
  await Promise.race([once(holder.stdout, 'data'), exited.then(() => assert.fail('the child stopped before opening the spool'))]);
  assert.throws(() => open(t, path), (error) => error instanceof ConfigError && error.message.includes(path) && /in use by another process/.test(error.message));

  holder.kill('SIGKILL');
  await exited;
  const spool = open(t, path);
  assert.equal((await spool.counts(undefined, Date.now())).pending, 1, 'the killed process left its spool, and no lock on it');
  assert.ok(existsSync(`${path}.lock`), 'the lock file stays, to be locked again');
});
