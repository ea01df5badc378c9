// test/support/postgres.ts, the throw-away PostgreSQL cluster the PostgreSQL
// spool's tests run against: password auth that really asks, and the
// stop / crash / freeze it stages, each followed by the server coming back,
// and nothing left behind when it is closed.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { run } from '../support/daemon.js';
import { type PostgresCluster, startCluster } from '../support/postgres.js';
import { isGone, processesIn, processState } from '../support/processes.js';

/** A hung server fails a test within this, rather than hanging the run. */
const DEADLINE_MS = 10_000;

/** A client connected as the gocm role; its errors are the test's to read. */
async function connect(url: string, extra: pg.ClientConfig = {}): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: DEADLINE_MS, query_timeout: DEADLINE_MS, ...extra });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function scalar(client: pg.Client, sql: string): Promise<unknown> {
  const result = await client.query<{ value: unknown }>(sql);
  return result.rows[0]?.value;
}

/** The System V shared memory segment (key, id) that postmaster.pid names, if it still exists. */
function sharedMemoryOf(pidFile: string): boolean {
  const [key, id] = (pidFile.split('\n')[6] ?? '').trim().split(/\s+/);
  return readFileSync('/proc/sysvipc/shm', 'utf8')
    .split('\n')
    .some((line) => line.trim().split(/\s+/).slice(0, 2).join(' ') === `${key} ${id}`);
}

/** Asserts that a closed cluster left no process, directory or shared memory. */
function assertNothingLeft(dir: string, pids: readonly number[], pidFile: string, when = 'after a clean stop'): void {
  assert.equal(existsSync(dir), false, `${when}: ${dir} is still there`);
  assert.deepEqual(pids.filter((pid) => !isGone(pid)), [], `${when}: server processes still run`);
  assert.deepEqual(processesIn(join(dir, 'data')), [], `${when}: processes still run in the data directory`);
  assert.equal(sharedMemoryOf(pidFile), false, `${when}: the shared memory segment is still there`);
}

describe('a throw-away PostgreSQL cluster', { timeout: 120_000 }, () => {
  let cluster: PostgresCluster;
  const clients: pg.Client[] = [];
  const savedPassfile = process.env.PGPASSFILE;

  before(async () => {
    const started = performance.now();
    cluster = await startCluster();
    process.stderr.write(`cluster ready in ${Math.round(performance.now() - started)} ms\n`);
    // pg, like libpq, takes the password from PGPASSFILE when the URL has none.
    process.env.PGPASSFILE = cluster.passfile;
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
    if (savedPassfile === undefined) delete process.env.PGPASSFILE;
    else process.env.PGPASSFILE = savedPassfile;
    await cluster.close();
  });

  const client = async (extra: pg.ClientConfig = {}): Promise<pg.Client> => {
    const connected = await connect(cluster.url, extra);
    clients.push(connected);
    return connected;
  };

  test('gives a URL without a password, and a password file that only its owner reads', () => {
    const url = new URL(cluster.url);
    assert.equal(url.password, '');
    assert.equal(url.hostname, '127.0.0.1');
    assert.equal(Number(url.port), cluster.port);
    assert.equal(statSync(cluster.passfile).mode & 0o777, 0o600);
    assert.deepEqual(cluster.env, { PGPASSFILE: cluster.passfile });
  });

  test('the gocm role connects over TCP with the URL and the password file, with pg and with libpq', async () => {
    const gocm = await client();
    assert.equal(await scalar(gocm, 'SELECT current_user AS value'), 'gocm');
    assert.equal(await scalar(gocm, "SELECT current_setting('synchronous_commit') AS value"), 'on');
    assert.equal(await scalar(gocm, "SELECT current_setting('fsync') AS value"), 'off');
    // libpq, the reference for PGPASSFILE, reads the same file.
    const psql = await run(join(cluster.bin, 'psql'), ['-X', '-A', '-t', '-w', '-c', 'SELECT current_database()', cluster.url], { env: { PATH: process.env.PATH, ...cluster.env } });
    assert.equal(psql.code, 0, psql.stderr);
    assert.equal(psql.stdout.trim(), 'gocm');
  });

  test('refuses a connection without the password file, and a wrong password', async () => {
    await assert.rejects(connect(cluster.url, { connectionString: undefined, host: '127.0.0.1', port: cluster.port, user: 'gocm', database: 'gocm', password: 'wrong' }), {
      code: '28P01', // invalid_password: the server itself said no
    });
    const psql = await run(join(cluster.bin, 'psql'), ['-X', '-w', '-c', 'SELECT 1', cluster.url], { env: { PATH: process.env.PATH, PGPASSFILE: join(cluster.dir, 'none') } });
    assert.notEqual(psql.code, 0);
    assert.match(psql.stderr, /password/);
  });

  test('the password is in no process’s command line', () => {
    const leaks = readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(cluster.password);
        } catch {
          return false; // gone meanwhile
        }
      });
    assert.deepEqual(leaks, []);
  });

  test('restart(): sessions are ended, the server is back on the same port', async () => {
    const before = await client();
    const startedAt = await scalar(before, 'SELECT pg_postmaster_start_time()::text AS value');
    const port = cluster.port;
    await cluster.restart();
    await assert.rejects(before.query('SELECT 1'));
    assert.equal(cluster.port, port);
    const after = await client();
    assert.notEqual(await scalar(after, 'SELECT pg_postmaster_start_time()::text AS value'), startedAt);
  });

  test('freeze(): every server process stops and a query waits; thaw(): it is answered', async () => {
    const gocm = await client();
    await cluster.freeze();
    let answer: Promise<pg.QueryResult<{ value: number }>>;
    try {
      const pids = cluster.processes();
      assert.ok(pids.length >= 2, `expected the postmaster and its children, found ${pids.join(', ')}`);
      assert.deepEqual(pids.filter((pid) => processState(pid) !== 'T'), [], 'some server processes still run');
      answer = gocm.query<{ value: number }>('SELECT 42 AS value');
      // A bounded wait for something that must not happen: a second connection gets no answer either.
      await assert.rejects(connect(cluster.url, { connectionTimeoutMillis: 300 }), /timeout/);
    } finally {
      await cluster.thaw(); // a failure here must not leave the other tests a frozen server
    }
    assert.equal((await answer).rows[0]?.value, 42);
    assert.deepEqual(cluster.processes().filter((pid) => processState(pid) === 'T'), []);
  });

  test('kill(): a crash, with connections refused; start(): crash recovery, nothing committed lost', async () => {
    const gocm = await client();
    await gocm.query('CREATE TABLE IF NOT EXISTS survives (n int)');
    await gocm.query('INSERT INTO survives VALUES (7)');
    const pids = cluster.processes();
    await cluster.kill();
    assert.deepEqual(pids.filter((pid) => !isGone(pid)), [], 'server processes survived the kill');
    await assert.rejects(connect(cluster.url), { code: 'ECONNREFUSED' });
    await cluster.start();
    const after = await client();
    assert.equal(await scalar(after, 'SELECT sum(n)::int AS value FROM survives'), 7);
    assert.match(cluster.log(), /not properly shut down; automatic recovery in progress/);
  });

  test('close() stops it and leaves no process, directory or shared memory; twice is harmless', async () => {
    const other = await startCluster({ settings: { fsync: true } });
    const gocm = await connect(other.url, { password: other.password, connectionString: undefined, host: '127.0.0.1', port: other.port, user: 'gocm', database: 'gocm' });
    assert.equal(await scalar(gocm, "SELECT current_setting('fsync') AS value"), 'on', 'a caller’s setting applies');
    await gocm.end();
    const pids = other.processes();
    const pidFile = readFileSync(join(other.dataDir, 'postmaster.pid'), 'utf8');
    await other.close();
    await other.close();
    assertNothingLeft(other.dir, pids, pidFile);
  });

  test('close() after a kill, or while frozen, leaves nothing either; a frozen server can be killed', async () => {
    const stages: Record<string, (other: PostgresCluster) => Promise<void>> = {
      kill: (other) => other.kill(),
      freeze: (other) => other.freeze(),
      'freeze, then kill': async (other) => {
        const pids = other.processes();
        await other.freeze();
        await other.kill();
        assert.deepEqual(pids.filter((pid) => !isGone(pid)), [], 'frozen server processes survived the kill');
      },
    };
    for (const [name, stage] of Object.entries(stages)) {
      const other = await startCluster();
      const pids = other.processes();
      const pidFile = readFileSync(join(other.dataDir, 'postmaster.pid'), 'utf8');
      await stage(other);
      await other.close();
      assertNothingLeft(other.dir, pids, pidFile, `after ${name}`);
    }
  });
});
