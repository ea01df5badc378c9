// Benchmark: which autovacuum settings matter for the fleet spool's tokens
// table. Every token is inserted, claimed (an UPDATE that is never HOT: the
// lease columns are indexed) and deleted, so the table turns over all the
// time while holding little. One daemon delivers to the fake FCM (TLS +
// HTTP/2, 50 ms) what 8 clients send at a steady rate, for a while under
// each setting; every 2 s the table's dead tuples, autovacuum runs and
// sizes are read, with the daemon's mean claim time (pg_stat_statements) and
// the buffers a claim's index walk touches (EXPLAIN ANALYZE of its SELECT).
// Settings: the table's own (schema.ts), PostgreSQL's defaults, autovacuum
// off for the table, and the table's own with a 5 s autovacuum_naptime. In
// each the daemon runs its own VACUUM of the table (every 5 s, when it holds
// 1,000 dead rows or more): what the figures show is whether the server's
// autovacuum settings still matter beside it.
//
//   node dist/test/bench/fleet-churn.js [--quick] [--seconds 120] [--rate 1000] [--only schema,defaults,off,naptime]
import { parseArgs } from 'node:util';
import { type DaemonProcess, tempDir } from '../support/daemon.js';
import type { PostgresCluster } from '../support/postgres.js';
import { describeMachine, hardLimit, note, percentile, printResult, QUICK, removeOnCleanup, round, runScenario, sleep, startFakeFcmProcess, stopDaemon, type FakeFcmProcess } from './common.js';
import { deliveringDaemon, newSpool } from './fleet-rig.js';
import { openSockets, paced } from './line-load.js';
import { describeServer, startBenchCluster } from './pg-server.js';

const VARIANTS = ['schema', 'defaults', 'off', 'naptime'] as const;
type Variant = (typeof VARIANTS)[number];

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string', default: QUICK ? '15' : '120' },
    rate: { type: 'string', default: '1000' },
    only: { type: 'string', default: VARIANTS.join(',') },
  },
});
const SECONDS = Number(flags.seconds);
const RATE = Number(flags.rate);
const CHOSEN = flags.only.split(',').filter((name): name is Variant => (VARIANTS as readonly string[]).includes(name));
const SAMPLE_MS = 2_000;
const LATENCY_MS = 50;
const CLIENTS = 8;
const TOKEN = `bench:APA91b${'x'.repeat(148)}`;
const LINE = `${JSON.stringify({ cmd: 'send', tokens: [TOKEN], payload: { title: 'Hi', n: 3 } })}\n`;

/** What each variant does to the table (or the server) once the daemon has made the schema. */
const SETUP: Record<Variant, string> = {
  schema: '',
  defaults: 'ALTER TABLE gocm.tokens RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_insert_scale_factor, autovacuum_analyze_scale_factor);',
  off: 'ALTER TABLE gocm.tokens SET (autovacuum_enabled = false);',
  naptime: "ALTER SYSTEM SET autovacuum_naptime = '5s'; SELECT pg_reload_conf();",
};
const TEARDOWN: Partial<Record<Variant, string>> = { naptime: 'ALTER SYSTEM RESET autovacuum_naptime; SELECT pg_reload_conf();' };

interface Sample {
  readonly atS: number;
  readonly live: number;
  readonly dead: number;
  readonly autovacuums: number;
  /** VACUUMs not by autovacuum: the daemon's own. */
  readonly vacuums: number;
  readonly tableMiB: number;
  readonly indexMiB: number;
  /** The daemon's claims since the previous sample: how many, their mean time, and their time per token claimed. */
  readonly claims: number;
  readonly claimMeanMs: number;
  readonly claimMicrosPerToken: number;
  /** The claim's SELECT, walked now: shared buffers touched, and its time. */
  readonly probeBuffers: number;
  readonly probeMs: number;
}

const CLAIM_STATEMENT = "query LIKE 'WITH picked AS%'";

/** The table's figures now, and the claims' cumulative count and time. */
async function readTable(cluster: PostgresCluster, database: string): Promise<{ row: number[]; claimCalls: number; claimMs: number; claimRows: number }> {
  const text = await cluster.psql(
    `SELECT n_live_tup, n_dead_tup, autovacuum_count, vacuum_count, pg_relation_size('gocm.tokens'), pg_indexes_size('gocm.tokens'),
            (SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND ${CLAIM_STATEMENT}),
            (SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND ${CLAIM_STATEMENT}),
            (SELECT coalesce(sum(rows), 0) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND ${CLAIM_STATEMENT})
     FROM pg_stat_user_tables WHERE relid = 'gocm.tokens'::regclass`,
    database,
  );
  const fields = text.split('|').map(Number);
  return { row: fields.slice(0, 6), claimCalls: fields[6] ?? 0, claimMs: fields[7] ?? 0, claimRows: fields[8] ?? 0 };
}

/** EXPLAIN ANALYZE of the claim's index walk (without its locks, so that it takes nothing from the daemon). */
async function probeClaim(cluster: PostgresCluster, database: string): Promise<{ buffers: number; ms: number }> {
  const text = await cluster.psql(
    `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT row FROM gocm.tokens
     WHERE app = (SELECT id FROM gocm.apps WHERE name = 'default') AND due_at <= ${Date.now()} AND lease_until IS NULL
     ORDER BY due_at, message, row LIMIT 500`,
    database,
  );
  const [plan] = JSON.parse(text) as Array<{ Plan: Record<string, number>; 'Execution Time': number }>;
  return { buffers: (plan?.Plan['Shared Hit Blocks'] ?? 0) + (plan?.Plan['Shared Read Blocks'] ?? 0), ms: plan?.['Execution Time'] ?? NaN };
}

/** Sample the table every SAMPLE_MS until `stop` resolves. */
async function sampleUntil(cluster: PostgresCluster, database: string, stop: Promise<unknown>): Promise<Sample[]> {
  const samples: Sample[] = [];
  const started = Date.now();
  let done = false;
  void stop.finally(() => (done = true));
  let before = await readTable(cluster, database);
  while (!done) {
    await Promise.race([sleep(SAMPLE_MS), stop]);
    const now = await readTable(cluster, database);
    const probe = await probeClaim(cluster, database);
    const [live = 0, dead = 0, autovacuums = 0, vacuums = 0, table = 0, index = 0] = now.row;
    const claims = now.claimCalls - before.claimCalls;
    samples.push({
      atS: round((Date.now() - started) / 1000, 1),
      live,
      dead,
      autovacuums,
      vacuums,
      tableMiB: round(table / 2 ** 20, 2),
      indexMiB: round(index / 2 ** 20, 2),
      claims,
      claimMeanMs: claims > 0 ? round((now.claimMs - before.claimMs) / claims, 3) : 0,
      claimMicrosPerToken: now.claimRows > before.claimRows ? round(((now.claimMs - before.claimMs) * 1000) / (now.claimRows - before.claimRows), 1) : 0,
      probeBuffers: probe.buffers,
      probeMs: round(probe.ms, 3),
    });
    before = now;
  }
  return samples;
}

interface VariantFigures {
  readonly variant: Variant;
  readonly deadTuples: { readonly median: number; readonly max: number };
  readonly autovacuums: number;
  readonly vacuums: number;
  readonly endTableMiB: number;
  readonly endIndexMiB: number;
  /** Mean claim time over the first and the last fifth of the run. */
  readonly claimMeanMs: { readonly first: number; readonly last: number; readonly max: number };
  readonly claimMicrosPerToken: { readonly first: number; readonly last: number };
  readonly probeBuffers: { readonly median: number; readonly max: number };
  readonly probeMs: { readonly median: number; readonly max: number };
  /** Tokens waiting in the table at the end: a backlog means the daemon fell behind the offered rate. */
  readonly endLive: number;
  readonly ackP99Ms: number;
  readonly samples: readonly Sample[];
}

const median = (values: readonly number[]): number => percentile(Float64Array.from(values).sort(), 50);
const mean = (values: readonly number[]): number => (values.length === 0 ? NaN : values.reduce((sum, value) => sum + value, 0) / values.length);

function summarise(variant: Variant, samples: readonly Sample[], ackP99Ms: number): VariantFigures {
  const fifth = Math.max(1, Math.floor(samples.length / 5));
  const claimTimes = samples.map((sample) => sample.claimMeanMs);
  const perToken = samples.map((sample) => sample.claimMicrosPerToken);
  const last = samples[samples.length - 1];
  return {
    variant,
    deadTuples: { median: median(samples.map((sample) => sample.dead)), max: Math.max(...samples.map((sample) => sample.dead)) },
    autovacuums: last?.autovacuums ?? 0,
    vacuums: last?.vacuums ?? 0,
    endTableMiB: last?.tableMiB ?? NaN,
    endIndexMiB: last?.indexMiB ?? NaN,
    claimMeanMs: { first: round(mean(claimTimes.slice(0, fifth)), 3), last: round(mean(claimTimes.slice(-fifth)), 3), max: Math.max(...claimTimes) },
    claimMicrosPerToken: { first: round(mean(perToken.slice(0, fifth)), 1), last: round(mean(perToken.slice(-fifth)), 1) },
    probeBuffers: { median: median(samples.map((sample) => sample.probeBuffers)), max: Math.max(...samples.map((sample) => sample.probeBuffers)) },
    probeMs: { median: median(samples.map((sample) => sample.probeMs)), max: Math.max(...samples.map((sample) => sample.probeMs)) },
    endLive: last?.live ?? NaN,
    ackP99Ms: round(ackP99Ms, 2),
    samples,
  };
}

async function waitForDrain(daemon: DaemonProcess): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const report = await daemon.request({ cmd: 'report' });
    if (report.pending === 0) return;
    if (Date.now() > deadline) throw new Error(`the spool did not drain within 120 s: ${JSON.stringify(report)}`);
    await sleep(1_000);
  }
}

async function runVariant(cluster: PostgresCluster, fake: FakeFcmProcess, dir: string, variant: Variant): Promise<VariantFigures> {
  const spool = await newSpool('postgres', dir, cluster);
  const database = new URL(spool.spool).pathname.slice(1);
  await cluster.psql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements;', database);
  const daemon = await deliveringDaemon(dir, spool, fake);
  try {
    if (SETUP[variant] !== '') await cluster.psql(SETUP[variant], database);
    note(`${variant}: ${RATE} sends/s for ${SECONDS} s`);
    const sockets = await openSockets(daemon.socket, CLIENTS);
    const load = paced(sockets, { rate: RATE, warmupMs: 0, measureMs: SECONDS * 1000, line: LINE });
    const samples = await sampleUntil(cluster, database, load);
    const { latencies } = await load;
    for (const socket of sockets) socket.destroy();
    // Asked seldom: `report` counts the whole table, which churn may have bloated.
    await waitForDrain(daemon).catch(async (error: unknown) => {
      const queue = await daemon.request({ cmd: 'queue' });
      throw new Error(`${String(error)}\nqueue: ${JSON.stringify(queue)}\n${daemon.output().slice(-3000)}`);
    });
    const figures = summarise(variant, samples, percentile(latencies, 99));
    note(readable(figures));
    return figures;
  } finally {
    await stopDaemon(daemon);
    const teardown = TEARDOWN[variant];
    if (teardown !== undefined) await cluster.psql(teardown);
  }
}

function readable(figures: VariantFigures): string {
  return (
    `${figures.variant}: dead tuples median ${figures.deadTuples.median.toLocaleString('en')} (max ${figures.deadTuples.max.toLocaleString('en')}), ` +
    `${figures.autovacuums} autovacuums, ${figures.vacuums} by the daemon; claim walk of 500 (EXPLAIN) ${figures.probeMs.median} ms, ${figures.probeBuffers.median} buffers (worst ${figures.probeMs.max} ms, ${figures.probeBuffers.max}); ` +
    `daemon's claims ${figures.claimMicrosPerToken.first} → ${figures.claimMicrosPerToken.last} µs per token, ${figures.claimMeanMs.first} → ${figures.claimMeanMs.last} ms each (start → end); ` +
    `table ${figures.endTableMiB} MiB + indexes ${figures.endIndexMiB} MiB, ${figures.endLive.toLocaleString('en')} tokens waiting at the end; ack p99 ${figures.ackP99Ms} ms`
  );
}

async function main(): Promise<void> {
  hardLimit((CHOSEN.length * (SECONDS + 40) + 60) * 1000);
  const dir = tempDir('gocm-bench-churn-');
  removeOnCleanup(dir);
  const cluster = await startBenchCluster({ shared_preload_libraries: 'pg_stat_statements' });
  const fake = await startFakeFcmProcess(LATENCY_MS);
  try {
    const server = await describeServer(cluster);
    const runs: VariantFigures[] = [];
    for (const variant of CHOSEN) runs.push(await runVariant(cluster, fake, dir, variant));
    const command = `node dist/test/bench/fleet-churn.js${QUICK ? ' --quick' : ''} --seconds ${SECONDS} --rate ${RATE} --only ${CHOSEN.join(',')}`;
    const lines = [
      `${RATE.toLocaleString('en')} one-token sends/s for ${SECONDS} s per setting, delivered at once (fake ${LATENCY_MS} ms); sampled every ${SAMPLE_MS / 1000} s`,
      ...runs.map(readable),
      `${describeMachine()}; ${server}; ${command}`,
    ];
    printResult('fleet-churn', { server, rate: RATE, seconds: SECONDS, command, runs }, lines.join('\nfleet-churn: '));
  } finally {
    await fake.stop();
    await cluster.close();
  }
}

runScenario(main);
