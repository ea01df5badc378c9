// Benchmark: the fleet spool on PostgreSQL against the SQLite spool, and two
// daemons on one PostgreSQL spool against one. A throw-away cluster with
// fsync on, and fake FCM servers (TLS + HTTP/2) in processes of their own,
// all on the machine's cores with the daemons:
// 1. ingest: 8 raw-socket clients pipelining one-token sends, 500 unanswered
//    each, replies counted not parsed (line-load.ts); delivery does not
//    compete, because the daemon runs with --concurrency 1 and its one
//    request hangs on a push service that never answers;
// 2. delivery: 20,000 tokens in 500-token sends are spooled first (by such
//    an accepting daemon, which then stops); a daemon with the defaults then
//    delivers them to the fake answering after 200 ms, timed by its report
//    (asked every 50 ms) from the first token settled to none pending;
// 3. scaling: daemons capped at --concurrency 500 against a fake answering
//    after 500 ms, so that what is in flight (500 / 0.5 s = 1,000 tokens/s
//    each), not the two cores, bounds each; timed from the moment every
//    daemon has settled its first token to the last token.
// Each figure is the median over the rounds; the order of SQLite and
// PostgreSQL alternates between rounds.
//
//   node dist/test/bench/fleet.js [--quick] [--rounds 3] [--only ingest,delivery,scaling] [--pg-stats]
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { tempDir } from '../support/daemon.js';
import type { PostgresCluster } from '../support/postgres.js';
import { busyNote, CpuWatch, describeMachine, hardLimit, note, percentile, printResult, QUICK, quietMachine, removeOnCleanup, round, runScenario, startFakeFcmProcess, stopDaemon, type FakeFcmProcess } from './common.js';
import { acceptingDaemon, deliveringDaemon, fillSpool, newSpool, type SpoolKind, timeDelivery } from './fleet-rig.js';
import { openSockets, saturate } from './line-load.js';
import { describeServer, serverCpuSeconds, startBenchCluster } from './pg-server.js';
import { type PgStatements, topStatements } from './pg-stats.js';
import { type SilentUpstream, startSilentUpstream } from './silent-upstream.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string', default: QUICK ? '1' : '3' },
    only: { type: 'string', default: 'ingest,delivery,scaling' },
    // pg_stat_statements loaded, and the statements that took the server's time printed after each PostgreSQL run.
    'pg-stats': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(flags.rounds);
const PARTS = new Set(flags.only.split(','));
const TIME_LIMIT_MS = QUICK ? 150_000 : 400_000;
const QUIET_WAIT_MS = 3_000;

const INGEST = { clients: 8, window: 500, batch: 50, warmup: QUICK ? 500 : 2_000, perClient: QUICK ? 2_500 : 15_000 };
const DELIVERY = { latencyMs: 200, tokens: QUICK ? 5_000 : 20_000, perSend: 500 };
const SCALING = { latencyMs: 500, concurrency: 500, perDaemon: QUICK ? 3_000 : 8_000, perSend: 500 };
/** How often delivery runs ask each daemon's report (delivery.ts does the same). */
const POLL_MS = 50;
const TARGETS = { ingestPostgresAcksPerSecond: 20_000, deliveryRatio: 0.8, scaling: 1.7 };

// A token the size of a real FCM registration token (~160 characters).
const TOKEN = `bench:APA91b${'x'.repeat(148)}`;
const LINE = `${JSON.stringify({ cmd: 'send', tokens: [TOKEN], payload: { title: 'Hi', n: 3 } })}\n`;
const makeBatch = (lines: number): string => LINE.repeat(lines);

interface Rig {
  readonly dir: string;
  readonly cluster: PostgresCluster;
  readonly upstream: SilentUpstream;
  readonly stats: PgStatements | undefined;
}

/** Cores used while a run went on, the server's apart from the others'. */
interface Cores {
  readonly daemons: number;
  readonly server: number;
  readonly fake: number;
  readonly client: number;
  readonly otherProcesses: number;
}

/** Watch daemons (and a fake) and the PostgreSQL server from now on. */
function watchCores(rig: Rig, daemonPids: readonly number[], fakePid?: number): () => Cores & { seconds: number } {
  const watch = new CpuWatch([...daemonPids, ...(fakePid === undefined ? [] : [fakePid])]);
  const server = serverCpuSeconds(rig.cluster);
  return () => {
    const usage = watch.read();
    const serverCores = (serverCpuSeconds(rig.cluster) - server) / usage.seconds;
    const daemons = daemonPids.reduce((sum, pid) => sum + (usage.cores[pid] ?? 0), 0);
    return {
      seconds: usage.seconds,
      daemons: round(daemons, 2),
      server: round(serverCores, 2),
      fake: fakePid === undefined ? 0 : (usage.cores[fakePid] ?? 0),
      client: usage.self,
      otherProcesses: round(Math.max(0, usage.others - serverCores), 2),
    };
  };
}

interface IngestFigures {
  readonly acksPerSecond: number;
  readonly sends: number;
  readonly seconds: number;
  readonly cores: Cores;
  /** Daemon CPU per acknowledged send; for PostgreSQL, the server's too. */
  readonly daemonMicrosPerSend: number;
  readonly serverMicrosPerSend: number;
}

async function ingestRun(rig: Rig, kind: SpoolKind): Promise<IngestFigures> {
  const spool = await newSpool(kind, rig.dir, rig.cluster);
  const daemon = await acceptingDaemon(rig.dir, spool, rig.upstream);
  const pid = daemon.child.pid as number;
  try {
    const sockets = await openSockets(daemon.socket, INGEST.clients);
    const shape = { window: INGEST.window, batch: INGEST.batch, makeBatch };
    await saturate(sockets, { linesPerConnection: INGEST.warmup, ...shape });
    await rig.stats?.reset();
    const cores = watchCores(rig, [pid]);
    const burst = await saturate(sockets, { linesPerConnection: INGEST.perClient, ...shape });
    const used = cores();
    for (const socket of sockets) socket.destroy();
    await rig.stats?.print(`ingest ${kind}`, burst.lines);
    const report = await daemon.request({ cmd: 'report' });
    if (report.attempts !== INGEST.clients * (INGEST.warmup + INGEST.perClient) || burst.refusedChunks > 0) {
      throw new Error(`ingest ${kind}: not every send was accepted: ${JSON.stringify(report)}, refused chunks ${burst.refusedChunks}`);
    }
    return {
      acksPerSecond: Math.round(burst.lines / burst.seconds),
      sends: burst.lines,
      seconds: round(burst.seconds, 3),
      cores: used,
      daemonMicrosPerSend: round((used.daemons * used.seconds * 1e6) / burst.lines, 1),
      serverMicrosPerSend: round((used.server * used.seconds * 1e6) / burst.lines, 1),
    };
  } finally {
    await stopDaemon(daemon);
  }
}

interface DeliveryFigures {
  readonly perSecond: number;
  readonly tokens: number;
  readonly seconds: number;
  readonly perDaemon: readonly number[];
  readonly cores: Cores;
  readonly daemonMicrosPerToken: number;
  readonly serverMicrosPerToken: number;
}

/** Spool `tokens`, then let `daemons` daemons (started one after another) deliver them to `fake`. */
async function deliveryRun(rig: Rig, kind: SpoolKind, fake: FakeFcmProcess, tokens: number, daemons: number, args: readonly string[]): Promise<DeliveryFigures> {
  const spool = await newSpool(kind, rig.dir, rig.cluster);
  await fillSpool(rig.dir, spool, rig.upstream, tokens, DELIVERY.perSend, `${kind}-${performance.now()}`);
  await rig.stats?.reset();
  const started = [];
  try {
    for (let n = 0; n < daemons; n++) started.push(await deliveringDaemon(rig.dir, spool, fake, args));
    const cores = watchCores(rig, started.map((daemon) => daemon.child.pid as number), fake.child.pid as number);
    const timing = await timeDelivery(started, tokens, POLL_MS, 120_000);
    const used = cores();
    await rig.stats?.print(`delivery ${kind} ×${daemons}`, tokens);
    return {
      ...timing,
      seconds: round(timing.seconds, 3),
      cores: used,
      daemonMicrosPerToken: Math.round((used.daemons * used.seconds * 1e6) / tokens),
      serverMicrosPerToken: Math.round((used.server * used.seconds * 1e6) / tokens),
    };
  } finally {
    await Promise.all(started.map((daemon) => stopDaemon(daemon)));
  }
}

interface Round {
  ingest?: { sqlite: IngestFigures; postgres: IngestFigures };
  delivery?: { sqlite: DeliveryFigures; postgres: DeliveryFigures };
  scaling?: { one: DeliveryFigures; two: DeliveryFigures };
}

/**
 * Before each run, wait (a few seconds at most) for a second in which other
 * work on the machine keeps less than a third of a core busy: the ratios
 * compare runs taken one after the other, so a burst of someone else's work
 * during one of them decides more than the spool does. What others still
 * took is in each run's figures, and flagged.
 */
const quiet = (): Promise<number> => quietMachine(0.3, QUIET_WAIT_MS);

/** Both kinds, in the order given: alternated between rounds, since the second run meets a warmer machine. */
async function both<T>(order: readonly SpoolKind[], run: (kind: SpoolKind) => Promise<T>): Promise<Record<SpoolKind, T>> {
  const figures: Partial<Record<SpoolKind, T>> = {};
  for (const kind of order) {
    await quiet();
    figures[kind] = await run(kind);
  }
  return figures as Record<SpoolKind, T>;
}

async function oneRound(rig: Rig, fakes: { delivery: FakeFcmProcess; scaling: FakeFcmProcess }, n: number): Promise<Round> {
  const order: SpoolKind[] = n % 2 === 0 ? ['sqlite', 'postgres'] : ['postgres', 'sqlite'];
  const figures: Round = {};
  if (PARTS.has('ingest')) {
    note(`round ${n + 1}: ingest, ${order.join(' then ')}`);
    figures.ingest = await both(order, (kind) => ingestRun(rig, kind));
  }
  if (PARTS.has('delivery')) {
    note(`round ${n + 1}: delivery at ${DELIVERY.latencyMs} ms, ${order.join(' then ')}`);
    figures.delivery = await both(order, (kind) => deliveryRun(rig, kind, fakes.delivery, DELIVERY.tokens, 1, []));
  }
  if (PARTS.has('scaling')) {
    note(`round ${n + 1}: scaling at ${SCALING.latencyMs} ms, one daemon then two`);
    const capped = ['--concurrency', String(SCALING.concurrency)];
    await quiet();
    const one = await deliveryRun(rig, 'postgres', fakes.scaling, SCALING.perDaemon, 1, capped);
    await quiet();
    const two = await deliveryRun(rig, 'postgres', fakes.scaling, SCALING.perDaemon * 2, 2, capped);
    figures.scaling = { one, two };
  }
  return figures;
}

/** Median, min and max of a figure over the rounds. */
function spread(values: readonly number[]): { median: number; min: number; max: number } {
  const sorted = Float64Array.from(values).sort();
  return { median: percentile(sorted, 50), min: sorted[0] ?? NaN, max: sorted[sorted.length - 1] ?? NaN };
}

const range = (s: { median: number; min: number; max: number }, digits = 0): string =>
  `${round(s.median, digits).toLocaleString('en')} (${round(s.min, digits).toLocaleString('en')}–${round(s.max, digits).toLocaleString('en')})`;

interface Part {
  readonly figures: Record<string, unknown>;
  readonly line: string;
}

const met = (ok: boolean): string => (ok ? 'met' : 'MISSED');

function ingestPart(runs: ReadonlyArray<NonNullable<Round['ingest']>>): Part {
  const pg = spread(runs.map((r) => r.postgres.acksPerSecond));
  const lite = spread(runs.map((r) => r.sqlite.acksPerSecond));
  const ratio = spread(runs.map((r) => r.postgres.acksPerSecond / r.sqlite.acksPerSecond));
  const cpu = spread(runs.map((r) => r.postgres.daemonMicrosPerSend));
  const server = spread(runs.map((r) => r.postgres.serverMicrosPerSend));
  const target = TARGETS.ingestPostgresAcksPerSecond;
  return {
    figures: { postgres: pg, sqlite: lite, ratio, postgresDaemonMicrosPerSend: cpu, postgresServerMicrosPerSend: server, runs },
    line:
      `ingest (${INGEST.clients} clients × ${INGEST.perClient.toLocaleString('en')} one-token sends, ${INGEST.window} unanswered each): ` +
      `PostgreSQL ${range(pg)} acks/s, SQLite (sync normal) ${range(lite)} acks/s, ratio ${range(ratio, 2)}; ` +
      `CPU per send on PostgreSQL: daemon ${cpu.median} µs, server ${server.median} µs (target: PostgreSQL ≥ ${target.toLocaleString('en')} acks/s, ${met(pg.median >= target)})`,
  };
}

function deliveryPart(runs: ReadonlyArray<NonNullable<Round['delivery']>>): Part {
  const pg = spread(runs.map((r) => r.postgres.perSecond));
  const lite = spread(runs.map((r) => r.sqlite.perSecond));
  const ratio = spread(runs.map((r) => r.postgres.perSecond / r.sqlite.perSecond));
  const cpu = { postgres: spread(runs.map((r) => r.postgres.daemonMicrosPerToken)), sqlite: spread(runs.map((r) => r.sqlite.daemonMicrosPerToken)) };
  const server = spread(runs.map((r) => r.postgres.serverMicrosPerToken));
  return {
    figures: { postgres: pg, sqlite: lite, ratio, daemonMicrosPerToken: cpu, postgresServerMicrosPerToken: server, runs },
    line:
      `delivery (${DELIVERY.tokens.toLocaleString('en')} tokens spooled first, ${DELIVERY.latencyMs} ms fake, daemon defaults): ` +
      `PostgreSQL ${range(pg)} tokens/s, SQLite ${range(lite)} tokens/s, ratio ${range(ratio, 2)}; CPU per token: ` +
      `daemon ${cpu.postgres.median} µs on PostgreSQL vs ${cpu.sqlite.median} µs on SQLite, PostgreSQL server ${server.median} µs ` +
      `(target: ratio ≥ ${TARGETS.deliveryRatio}, ${met(ratio.median >= TARGETS.deliveryRatio)})`,
  };
}

function scalingPart(runs: ReadonlyArray<NonNullable<Round['scaling']>>): Part {
  const one = spread(runs.map((r) => r.one.perSecond));
  const two = spread(runs.map((r) => r.two.perSecond));
  const ratio = spread(runs.map((r) => r.two.perSecond / r.one.perSecond));
  const ceiling = Math.round((SCALING.concurrency * 1000) / SCALING.latencyMs);
  return {
    figures: { one, two, ratio, ceilingPerDaemon: ceiling, runs },
    line:
      `scaling (PostgreSQL, --concurrency ${SCALING.concurrency} each, ${SCALING.latencyMs} ms fake, ceiling ${ceiling.toLocaleString('en')}/s a daemon): ` +
      `one daemon ${range(one)} tokens/s, two ${range(two)} tokens/s, ratio ${range(ratio, 2)} (target: ≥ ${TARGETS.scaling}×, ${met(ratio.median >= TARGETS.scaling)})`,
  };
}

/** The parts measured, each as figures (for tools) and a line (for people). */
function summarise(rounds: readonly Round[]): Record<string, Part> {
  const parts: Record<string, Part> = {};
  const ingests = rounds.flatMap((r) => (r.ingest ? [r.ingest] : []));
  const deliveries = rounds.flatMap((r) => (r.delivery ? [r.delivery] : []));
  const scalings = rounds.flatMap((r) => (r.scaling ? [r.scaling] : []));
  if (ingests.length > 0) parts.ingest = ingestPart(ingests);
  if (deliveries.length > 0) parts.delivery = deliveryPart(deliveries);
  if (scalings.length > 0) parts.scaling = scalingPart(scalings);
  return parts;
}

/** Cores other processes kept busy during each run. */
function othersPerRun(rounds: readonly Round[]): number[] {
  const runs = rounds.flatMap((r) => [r.ingest?.sqlite, r.ingest?.postgres, r.delivery?.sqlite, r.delivery?.postgres, r.scaling?.one, r.scaling?.two]);
  return runs.flatMap((run) => (run ? [run.cores.otherProcesses] : []));
}

/** Said when other work took a share of the machine during some runs. */
function busyRuns(rounds: readonly Round[]): string {
  const others = othersPerRun(rounds);
  const busy = others.filter((cores) => cores > 0.3).length;
  return busy === 0 ? '' : `; ${busy} of ${others.length} runs shared the machine with other work (over 0.3 cores)${busyNote(Math.max(...others))}`;
}

async function main(): Promise<void> {
  hardLimit(TIME_LIMIT_MS);
  const startedAt = performance.now();
  const dir = tempDir('gocm-bench-fleet-');
  removeOnCleanup(dir);
  const cluster = await startBenchCluster(flags['pg-stats'] ? { shared_preload_libraries: 'pg_stat_statements' } : {});
  const upstream = await startSilentUpstream();
  const fakes = { delivery: await startFakeFcmProcess(DELIVERY.latencyMs), scaling: await startFakeFcmProcess(SCALING.latencyMs) };
  try {
    const server = await describeServer(cluster);
    note(`${server}; port ${cluster.port}`);
    const stats = flags['pg-stats'] ? await topStatements(cluster) : undefined;
    const rig: Rig = { dir, cluster, upstream, stats };
    const rounds: Round[] = [];
    for (let n = 0; n < ROUNDS; n++) rounds.push(await oneRound(rig, fakes, n));
    const parts = summarise(rounds);
    const figures = Object.fromEntries(Object.entries(parts).map(([name, part]) => [name, part.figures]));
    const lines = Object.values(parts).map((part) => part.line);
    const command = `node dist/test/bench/fleet.js${QUICK ? ' --quick' : ''} --rounds ${ROUNDS}${PARTS.size < 3 ? ` --only ${flags.only}` : ''}`;
    lines.push(`${describeMachine()}; ${server}; median (min–max) of ${ROUNDS} round(s); ${round((performance.now() - startedAt) / 1000)} s in all; ${command}${busyRuns(rounds)}`);
    printResult('fleet', { server, rounds: ROUNDS, targets: TARGETS, command, ...figures }, lines.join('\nfleet: '));
  } finally {
    await Promise.all([fakes.delivery.stop(), fakes.scaling.stop()]);
    upstream.server.close();
    await cluster.close();
  }
}

runScenario(main);
