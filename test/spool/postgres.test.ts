// The PostgreSQL spool against a real server (a throw-away cluster of this
// file's own): the Spool contract, as the other spools pass it, and what only
// a shared spool promises.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, test } from 'node:test';
import pg from 'pg';
import { ConfigError } from '../../src/errors.js';
import { openSpool } from '../../src/spool/open.js';
import { targetOf } from '../../src/spool/postgres/connect.js';
import { PostgresSpool } from '../../src/spool/postgres/spool.js';
import { testConfig } from '../support/config.js';
import { type PostgresCluster, startCluster } from '../support/postgres.js';
import { APP, message, spoolConformance } from './conformance.js';

const starting = startCluster();
let databases = 0;

/** A fresh database of the cluster, owned by gocm: each spool under test starts empty. */
async function freshDatabase(cluster: PostgresCluster): Promise<string> {
  const name = `spool_${process.pid}_${databases++}`;
  await cluster.psql(`CREATE DATABASE ${name} OWNER gocm;`);
  return cluster.url.replace(/\/gocm$/, `/${name}`);
}

async function open(url: string, cluster: PostgresCluster, extra: Partial<Parameters<typeof PostgresSpool.open>[1]> = {}): Promise<PostgresSpool> {
  process.env.PGPASSFILE = cluster.passfile;
  return PostgresSpool.open(targetOf(url), { spoolMax: 1_000_000, leaseMs: 30_000, name: 'test', ...extra });
}

// The contract's spools come one after another on one database, each on an
// empty schema: dropping it takes a few ms where a new database takes 300.
const admin = starting.then(async (cluster) => {
  const client = new pg.Client({ ...targetOf(cluster.url).config, password: cluster.password });
  await client.connect();
  return client;
});
// The admin connection goes before the server does.
after(async () => {
  await (await admin).end();
  await (await starting).close();
});

spoolConformance('PostgreSQL', async ({ spoolMax, clock, statuses }) => {
  const cluster = await starting;
  await (await admin).query('DROP SCHEMA IF EXISTS gocm CASCADE');
  const spool = await open(cluster.url, cluster, { spoolMax, ...(clock && { clock }), ...(statuses && { statuses }) });
  return { spool, dispose: () => spool.close() };
});

void test('a URL picks its engine: any scheme but postgres:// is refused, naming it', async () => {
  for (const spool of ['redis://127.0.0.1:6379/0', 'mysql://gocm@db/gocm']) {
    await assert.rejects(openSpool(testConfig({ spool })), (error) => error instanceof ConfigError && error.message.includes(spool.split(':')[0] as string));
  }
});

void test('a password in the URL is refused: it would show in ps', () => {
  assert.throws(() => targetOf('postgres://gocm:hunter2@127.0.0.1/gocm'), (error) => error instanceof ConfigError && !error.message.includes('hunter2'));
});

void test('a wrong password, a missing database: exit-2 errors naming the server, never the password', async () => {
  const cluster = await starting;
  process.env.PGPASSFILE = '/nonexistent';
  await assert.rejects(PostgresSpool.open(targetOf(cluster.url), { spoolMax: 10, leaseMs: 1000, name: 'x' }), (error) => error instanceof ConfigError && /none was found/.test(error.message));
  process.env.PGPASSWORD = 'not-the-password';
  try {
    await assert.rejects(PostgresSpool.open(targetOf(cluster.url), { spoolMax: 10, leaseMs: 1000, name: 'x' }), (error) => error instanceof ConfigError && /password was refused/.test(error.message) && !error.message.includes('not-the-password'));
  } finally {
    delete process.env.PGPASSWORD;
  }
  process.env.PGPASSFILE = cluster.passfile;
  await assert.rejects(open(cluster.url.replace(/\/gocm$/, '/nope'), cluster), (error) => error instanceof ConfigError && /database does not exist/.test(error.message));
});

void test('two spools on one database: each token is claimed by one of them; lists are read by one', async () => {
  const cluster = await starting;
  const url = await freshDatabase(cluster);
  const [a, b] = await Promise.all([open(url, cluster, { name: 'a' }), open(url, cluster, { name: 'b' })]);
  try {
    const tokens = Array.from({ length: 500 }, (_, i) => `t${i}`);
    await a.add(message('m1'), tokens);
    const now = Date.now();
    const [fromA, fromB] = await Promise.all([a.claim(APP, 300, now), b.claim(APP, 300, now)]);
    const claimed = [...fromA, ...fromB].map((d) => d.token);
    assert.equal(claimed.length, 500);
    assert.equal(new Set(claimed).size, 500, 'no token claimed twice');
    await a.settle(fromA.map((delivery) => ({ delivery, result: 'failed', reason: { source: 'fcm', code: 'UNREGISTERED' }, notRegistered: true })), now);
    await b.settle(fromB.map((delivery) => ({ delivery, result: 'failed', reason: { source: 'fcm', code: 'UNREGISTERED' }, notRegistered: true })), now);
    const [listA, listB] = await Promise.all([a.takeNotRegistered(undefined, false), b.takeNotRegistered(undefined, false)]);
    assert.equal(listA.length + listB.length, 500, 'every entry read once');
    assert.equal(new Set([...listA, ...listB].map((entry) => entry.token)).size, 500, 'none read twice');
    assert.deepEqual((await a.fleet()).map((member) => member.name), ['a', 'b']);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

void test('a clean stop gives claims back at once; a killed daemon\'s claims return when its lease runs out', async () => {
  const cluster = await starting;
  const url = await freshDatabase(cluster);
  const stopping = await open(url, cluster, { name: 'stopping' });
  const survivor = await open(url, cluster, { name: 'survivor', leaseMs: 300 });
  try {
    await stopping.add(message('m1'), ['a', 'b']);
    assert.equal((await stopping.claim(APP, 10, Date.now())).length, 2);
    await stopping.close();
    const back = await survivor.claim(APP, 10, Date.now());
    assert.deepEqual(back.map((d) => d.token), ['a', 'b'], 'given back at once');
    assert.deepEqual((await survivor.fleet()).map((member) => member.name), ['survivor'], 'a stopped daemon is gone at once');
    await survivor.settle(back.map((delivery) => ({ delivery, result: 'delivered' })), Date.now());

    await survivor.add(message('m2'), ['c', 'd']);
    const victim = spawn(process.execPath, ['--input-type=module', '-e', CLAIM_AND_HANG, url, APP], { env: { ...process.env, PGPASSFILE: cluster.passfile }, stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = once(victim, 'exit');
    await once(victim.stdout, 'data');
    victim.kill('SIGKILL');
    await exited;
    assert.deepEqual(await survivor.claim(APP, 10, Date.now()), [], 'held by the killed daemon until its lease ends');
    const reclaimed = await waitFor(async () => {
      const claimed = await survivor.claim(APP, 10, Date.now());
      return claimed.length > 0 ? claimed : undefined;
    });
    assert.deepEqual(reclaimed.map((d) => d.token), ['c', 'd']);
  } finally {
    await survivor.close();
  }
});

void test('the fleet vacuums the hot table itself: dead rows of delivered tokens go without waiting for autovacuum', async () => {
  const cluster = await starting;
  const url = await freshDatabase(cluster);
  // Autovacuum off for the table: whatever vacuums it is the spool.
  const a = await open(url, cluster, { name: 'a', vacuumMs: 100 });
  const b = await open(url, cluster, { name: 'b', vacuumMs: 100 });
  try {
    await cluster.psql('ALTER TABLE gocm.tokens SET (autovacuum_enabled = false);', url.slice(url.lastIndexOf('/') + 1));
    const tokens = Array.from({ length: 3000 }, (_, i) => `t${i}`);
    await a.add(message('m1'), tokens);
    const claimed = await a.claim(APP, 3000, Date.now());
    assert.equal(claimed.length, 3000);
    await a.settle(claimed.map((delivery) => ({ delivery, result: 'delivered' })), Date.now());
    const client = new pg.Client({ ...targetOf(url).config, password: cluster.password });
    await client.connect();
    try {
      const vacuumed = await waitFor(async () => {
        const { rows } = await client.query<{ vacuums: string; dead: string }>(
          `SELECT vacuum_count AS vacuums, n_dead_tup AS dead FROM pg_stat_user_tables WHERE relid = 'gocm.tokens'::regclass`,
        );
        const row = rows[0];
        return row && Number(row.vacuums) > 0 ? row : undefined;
      }, 20_000);
      assert.ok(Number(vacuumed.dead) < 1000, `dead rows left: ${vacuumed.dead}`);
    } finally {
      await client.end();
    }
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

/** A daemon's spool in a process of its own: claims everything of argv[2], says so, and hangs until killed. */
const CLAIM_AND_HANG = `
import { PostgresSpool } from ${JSON.stringify(new URL('../../src/spool/postgres/spool.js', import.meta.url).href)};
import { targetOf } from ${JSON.stringify(new URL('../../src/spool/postgres/connect.js', import.meta.url).href)};
const spool = await PostgresSpool.open(targetOf(process.argv[1]), { spoolMax: 1000, leaseMs: 300, name: 'victim' });
const claimed = await spool.claim(process.argv[2], 10, Date.now());
process.stdout.write(claimed.length + '\\n');
setInterval(() => {}, 60_000);
`;

/** Poll `look` (a query against the real server) until it answers; a bound, not a measure. */
async function waitFor<T>(look: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await look();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
