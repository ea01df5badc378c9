// Benchmark: which npm PostgreSQL client for the shared spool. Against a
// throw-away cluster with fsync on (a real commit costs a real flush), for
// each installed client: (a) group commit, 100-row UNNEST inserts over 4
// connections; (b) single-row insert transactions over 8; (c) lease claims
// of 500 rows (FOR UPDATE SKIP LOCKED) from a 200,000-row table, 2 claimers;
// (d) the client's own CPU per query in (b); (e) LISTEN/NOTIFY round trips.
// The server shares the machine's cores with the client: compare the
// clients with each other, not with other machines. Rounds alternate the
// clients' order, and each figure is the median of the rounds, so that a
// burst of other work on the machine does not decide the comparison.
//
//   node dist/test/bench/pg-clients.js [--quick] [--rounds 3]
//
// pg is the project's dependency; `npm install --no-save postgres` brings the
// other client back for a run, and a client that is not installed is skipped.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { type PostgresCluster, startCluster } from '../support/postgres.js';
import { type BenchClient, installedClients, type Opener, versionOf } from './pg-adapters.js';
import { serverCpuSeconds } from './pg-server.js';
import { describeMachine, hardLimit, machineBusySeconds, note, percentile, printResult, QUICK, quietMachine, round, runScenario } from './common.js';

const { values: flags } = parseArgs({ options: { quick: { type: 'boolean', default: false }, rounds: { type: 'string', default: '3' } } });
const ROUNDS = Number(flags.rounds);
const DURATION_MS = QUICK ? 1_000 : 3_000;
const ROUND_TRIPS = QUICK ? 300 : 1_000;
const CLAIM_ROWS = 200_000;
const TIME_LIMIT_MS = 150_000;
const TOKEN = `bench:APA91b${'x'.repeat(148)}`;

interface Run {
  readonly calls: number;
  readonly units: number;
  readonly seconds: number;
}

/** `workers` loops calling `operation` (which returns the units it did) until the time is up. */
async function forDuration(workers: number, ms: number, operation: () => Promise<number>): Promise<Run> {
  const started = performance.now();
  const end = started + ms;
  let calls = 0;
  let units = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const done = await operation();
      if (done === 0) return; // nothing left to claim
      calls += 1;
      units += done;
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return { calls, units, seconds: (performance.now() - started) / 1000 };
}

const perSecond = (count: number, run: Run): number => round(count / run.seconds);

/** Fresh tables, and a checkpoint, so that each client starts where the other did. */
async function resetTables(cluster: PostgresCluster): Promise<void> {
  await cluster.psql(
    `DROP TABLE IF EXISTS narrow, claims;
     CREATE TABLE narrow (id bigserial PRIMARY KEY, token text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
     CREATE TABLE claims (id bigserial PRIMARY KEY, token text NOT NULL, due_at timestamptz NOT NULL, owner text);
     INSERT INTO claims (token, due_at) SELECT 'bench:' || n, now() - interval '1 hour' + n * interval '1 millisecond' FROM generate_series(1, ${CLAIM_ROWS}) AS n;
     CREATE INDEX claims_due ON claims (due_at);
     ALTER TABLE narrow OWNER TO gocm; ALTER TABLE claims OWNER TO gocm;
     VACUUM ANALYZE claims;
     CHECKPOINT;`,
    'gocm',
  );
}

async function roundTrips(client: BenchClient): Promise<{ p50Ms: number; p99Ms: number }> {
  let arrived: ((payload: string) => void) | undefined;
  await client.listen('bench', (payload) => arrived?.(payload));
  const times = new Float64Array(ROUND_TRIPS);
  for (let n = 0; n < ROUND_TRIPS; n++) {
    const received = new Promise<string>((resolve) => (arrived = resolve));
    const started = performance.now();
    await client.notify('bench', String(n));
    if ((await received) !== String(n)) throw new Error(`notification ${n} arrived out of order`);
    times[n] = performance.now() - started;
  }
  times.sort();
  return { p50Ms: round(percentile(times, 50), 3), p99Ms: round(percentile(times, 99), 3) };
}

/** Cores that processes other than ours and the server's kept busy while `body` ran. */
async function othersDuring<T>(cluster: PostgresCluster, body: () => Promise<T>): Promise<{ result: T; otherCores: number }> {
  const machine = machineBusySeconds();
  const server = serverCpuSeconds(cluster);
  const self = process.cpuUsage();
  const started = performance.now();
  const result = await body();
  const used = process.cpuUsage(self);
  const others = machineBusySeconds() - machine - (serverCpuSeconds(cluster) - server) - (used.user + used.system) / 1e6;
  return { result, otherCores: round(Math.max(0, others) / ((performance.now() - started) / 1000), 2) };
}

interface Figures {
  otherCores: number;
  groupCommitTxPerS: number;
  groupCommitRowsPerS: number;
  singleInsertTxPerS: number;
  claimCallsPerS: number;
  claimRowsPerS: number;
  cpuUsPerQuery: number;
  notifyP50Ms: number;
  notifyP99Ms: number;
}

async function measure(cluster: PostgresCluster, open: Opener): Promise<Figures> {
  await resetTables(cluster);
  const { result, otherCores } = await othersDuring(cluster, () => measureClient(cluster, open));
  return { otherCores, ...result };
}

async function measureClient(cluster: PostgresCluster, open: Opener): Promise<Omit<Figures, 'otherCores'>> {
  const target = { url: cluster.url, password: cluster.password };
  const batch = Array.from({ length: 100 }, (_, n) => `${TOKEN}-${n}`);

  const four = await open({ ...target, connections: 4 });
  const grouped = await forDuration(4, DURATION_MS, async () => {
    await four.insertBatch(batch);
    return batch.length;
  });
  const claims = await forDuration(2, DURATION_MS, () => four.claim('bench'));
  const latency = await roundTrips(four);
  await four.end();

  const eight = await open({ ...target, connections: 8 });
  await eight.insertOne(TOKEN); // connect and prepare outside the measurement
  const cpu = process.cpuUsage();
  const single = await forDuration(8, DURATION_MS, async () => {
    await eight.insertOne(TOKEN);
    return 1;
  });
  const used = process.cpuUsage(cpu);
  await eight.end();

  return {
    groupCommitTxPerS: perSecond(grouped.calls, grouped),
    groupCommitRowsPerS: perSecond(grouped.units, grouped),
    singleInsertTxPerS: perSecond(single.calls, single),
    claimCallsPerS: perSecond(claims.calls, claims),
    claimRowsPerS: perSecond(claims.units, claims),
    cpuUsPerQuery: round((used.user + used.system) / single.calls, 1),
    notifyP50Ms: latency.p50Ms,
    notifyP99Ms: latency.p99Ms,
  };
}

/** Each figure's median over the rounds, and its range. */
function summarise(rounds: readonly Figures[]): Record<string, { median: number; min: number; max: number }> {
  const names = Object.keys(rounds[0] ?? {}) as Array<keyof Figures>;
  return Object.fromEntries(
    names.map((name) => {
      const values = Float64Array.from(rounds.map((figures) => figures[name])).sort();
      return [name, { median: percentile(values, 50), min: values[0] ?? NaN, max: values[values.length - 1] ?? NaN }];
    }),
  );
}

function readable(name: string, version: string, f: Record<string, { median: number }>): string {
  const m = (figure: string): string => String(f[figure]?.median);
  return (
    `${name} ${version}: group commit ${m('groupCommitTxPerS')} tx/s (${m('groupCommitRowsPerS')} rows/s); ` +
    `single insert ${m('singleInsertTxPerS')} tx/s at ${m('cpuUsPerQuery')} µs client CPU each; ` +
    `claim ${m('claimCallsPerS')} calls/s (${m('claimRowsPerS')} rows/s); ` +
    `NOTIFY round trip p50 ${m('notifyP50Ms')} ms, p99 ${m('notifyP99Ms')} ms; ` +
    `other work on the machine meanwhile: ${m('otherCores')} cores`
  );
}

async function main(): Promise<void> {
  hardLimit(TIME_LIMIT_MS);
  const busy = await quietMachine(0.25, 10_000);
  const started = performance.now();
  const cluster = await startCluster({ settings: { fsync: true, full_page_writes: true } });
  const readyMs = Math.round(performance.now() - started);
  note(`cluster ready in ${readyMs} ms on port ${cluster.port}; other work before the start: ${busy} cores`);
  try {
    const server = await cluster.psql(
      "SELECT current_setting('server_version') || ', fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit') || ', wal_sync_method=' || current_setting('wal_sync_method')",
    );
    const clients = await installedClients();
    const lines: string[] = [`${describeMachine()}; PostgreSQL ${server}; cluster ready in ${readyMs} ms; median of ${ROUNDS} rounds`];
    for (const { name, open } of clients) if (open === undefined) lines.push(`${name} skipped (not installed)`);
    const installed = clients.flatMap(({ name, open }) => (open === undefined ? [] : [{ name, open }]));
    const rounds = new Map<string, Figures[]>(installed.map(({ name }) => [name, []]));
    for (let n = 0; n < ROUNDS; n++) {
      // Alternate the order: the second client of a round meets a bigger WAL and a warmer cache.
      for (const { name, open } of n % 2 === 0 ? installed : [...installed].reverse()) {
        note(`round ${n + 1}: ${name}`);
        rounds.get(name)?.push(await measure(cluster, open));
      }
    }
    const figures: Record<string, unknown> = {};
    for (const { name } of installed) {
      const summary = summarise(rounds.get(name) ?? []);
      figures[name] = { version: versionOf(name), ...summary };
      lines.push(readable(name, versionOf(name), summary));
    }
    // One line per client, each under the scenario's name, so that run.js's summary keeps them all.
    const readableLines = lines.join('\npg-clients: ');
    printResult('pg-clients', { server, clusterReadyMs: readyMs, otherCoresBefore: busy, rounds: ROUNDS, durationMs: DURATION_MS, clients: figures }, readableLines);
  } finally {
    await cluster.close();
  }
}

runScenario(main);
