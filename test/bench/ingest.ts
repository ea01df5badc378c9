// Benchmark: how fast gocmd acknowledges sends (issue 6). Eight clients pipeline
// one-token sends over the Unix socket: acknowledgements a second at full
// tilt, then p50/p99 acknowledgement latency at a fixed 10,000 sends a second;
// once with the durable SQLite spool, once with `:memory:`.
//
// Delivery is kept out of the measurement: the upstream is a local TCP server
// that accepts connections and never answers, and --concurrency 1 lets one
// request (of at most 1,000 tokens) hang there for the whole run. Delivery
// then costs nothing while sends are measured, whereas a fake that answers
// would put its own CPU and the engine's claims and settlements on the same
// two cores, and a port where nothing listens would make every request fail
// at once and churn through claims, retries and settlements.
//
//   node dist/test/bench/ingest.js [--quick]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { tempDir } from '../support/daemon.js';
import { busyNote, CpuWatch, hardLimit, launchDaemon, note, percentile, printResult, QUICK, removeOnCleanup, round, runScenario, startSilentUpstream, stopDaemon } from './common.js';
import { openSockets, paced, saturate } from './line-load.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    clients: { type: 'string', default: '8' },
    // Unanswered lines per client: half the daemon's MAX_WAITING_REPLIES, so it never stops reading.
    window: { type: 'string', default: '512' },
    batch: { type: 'string', default: '64' },
    // Profiling one spool at a time: sqlite or memory; both for the ratio.
    spool: { type: 'string', default: 'both' },
  },
});
if (!['both', 'sqlite', 'memory'].includes(flags.spool)) throw new Error(`--spool: both, sqlite or memory, not ${flags.spool}`);
const CLIENTS = Number(flags.clients);
const WINDOW = Number(flags.window);
const BATCH = Number(flags.batch);
const RATE = 10_000;
const LATENCY = QUICK ? { warmupMs: 500, measureMs: 2_000 } : { warmupMs: 1_000, measureMs: 5_000 };
const WARMUP_SENDS_PER_CLIENT = QUICK ? 2_000 : 10_000;
const SENDS_PER_CLIENT = QUICK ? 6_250 : 62_500;
const TIME_LIMIT_MS = QUICK ? 60_000 : 180_000;

// A token the size of a real FCM registration token (~160 characters).
const TOKEN = `bench:APA91b${'x'.repeat(148)}`;
const LINE = `${JSON.stringify({ cmd: 'send', tokens: [TOKEN], payload: { title: 'Hi', n: 3 } })}\n`;
const FULL_BATCH = LINE.repeat(BATCH);
const makeBatch = (lines: number): string => (lines === BATCH ? FULL_BATCH : LINE.repeat(lines));

interface ModeFigures {
  readonly acksPerSecond: number;
  readonly sends: number;
  readonly seconds: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly p999: number; readonly max: number };
  readonly cpuCores: { readonly daemon: number; readonly client: number; readonly otherProcesses: number; readonly load1: number };
  /** Daemon CPU time per acknowledged send in the burst: 1e6 / this is what one whole core could ack. */
  readonly daemonCpuMicrosPerSend: number;
  readonly offeredPerSecond: number;
  /** During the paced phase. */
  readonly pacedCpuCores: { readonly daemon: number; readonly otherProcesses: number };
  readonly latencySamples: number;
}

async function measure(spool: string, upstream: string, dir: string): Promise<ModeFigures> {
  const daemon = await launchDaemon(dir, [
    '--socket', join(dir, `gocm-${spool === ':memory:' ? 'memory' : 'sqlite'}.sock`),
    '--provider', 'gcm', '--apikey', 'k', '--gcm-endpoint', upstream,
    '--concurrency', '1', '--request-timeout', '1h', '--drain-timeout', '100ms',
    '--spool', spool, '--sync', 'normal',
  ]);
  const pid = daemon.child.pid as number;
  try {
    const sockets = await openSockets(daemon.socket, CLIENTS);
    note(`${spool}: ${RATE}/s paced for ${(LATENCY.warmupMs + LATENCY.measureMs) / 1000} s`);
    const pacedWatch = new CpuWatch([pid]);
    const latency = await paced(sockets, { rate: RATE, ...LATENCY, line: LINE });
    const pacedUsage = pacedWatch.read();
    note(`${spool}: warm-up, ${CLIENTS} × ${WARMUP_SENDS_PER_CLIENT} sends`);
    await saturate(sockets, { linesPerConnection: WARMUP_SENDS_PER_CLIENT, window: WINDOW, batch: BATCH, makeBatch });
    note(`${spool}: ${CLIENTS} × ${SENDS_PER_CLIENT} sends, ${WINDOW} unanswered at most per client`);
    const watch = new CpuWatch([pid]);
    const burst = await saturate(sockets, { linesPerConnection: SENDS_PER_CLIENT, window: WINDOW, batch: BATCH, makeBatch });
    // Who the cores went to during the burst: other work on a shared machine slows every figure.
    const usage = watch.read();
    const daemonCores = usage.cores[pid] ?? 0;
    const cpu = { daemon: daemonCores, client: usage.self, otherProcesses: usage.others, load1: usage.load1 };
    for (const socket of sockets) socket.destroy();

    // Every line must have been accepted: the report counts what the daemon took.
    const sent = Math.round((RATE * (LATENCY.warmupMs + LATENCY.measureMs)) / 1000) + CLIENTS * (WARMUP_SENDS_PER_CLIENT + SENDS_PER_CLIENT);
    const report = await daemon.request({ cmd: 'report' });
    if (report.attempts !== sent || latency.refusedChunks + burst.refusedChunks > 0) {
      throw new Error(`${spool}: ${sent} sends written, report says ${JSON.stringify(report)}; refused chunks ${latency.refusedChunks + burst.refusedChunks}`);
    }
    const { latencies } = latency;
    return {
      acksPerSecond: Math.round(burst.lines / burst.seconds),
      sends: burst.lines,
      seconds: round(burst.seconds, 3),
      latencyMs: {
        p50: round(percentile(latencies, 50), 3),
        p99: round(percentile(latencies, 99), 3),
        p999: round(percentile(latencies, 99.9), 3),
        max: round(percentile(latencies, 100), 3),
      },
      cpuCores: cpu,
      daemonCpuMicrosPerSend: round((daemonCores * burst.seconds * 1e6) / burst.lines, 2),
      offeredPerSecond: Math.round(latency.offered),
      pacedCpuCores: { daemon: pacedUsage.cores[pid] ?? 0, otherProcesses: pacedUsage.others },
      latencySamples: latencies.length,
    };
  } finally {
    await stopDaemon(daemon);
  }
}

async function main(): Promise<void> {
  hardLimit(TIME_LIMIT_MS);
  const dir = tempDir('gocm-bench-ingest-');
  removeOnCleanup(dir);
  const upstream = await startSilentUpstream();
  try {
    if (flags.spool !== 'both') {
      const only = await measure(flags.spool === 'memory' ? ':memory:' : join(dir, 'spool.db'), upstream.url, dir);
      printResult('ingest', { clients: CLIENTS, window: WINDOW, batch: BATCH, rate: RATE, [flags.spool]: only }, `${flags.spool}: ${JSON.stringify(only)}`);
      return;
    }
    const sqlite = await measure(join(dir, 'spool.db'), upstream.url, dir);
    const memory = await measure(':memory:', upstream.url, dir);
    const ratio = round(sqlite.acksPerSecond / memory.acksPerSecond, 2);
    printResult(
      'ingest',
      { clients: CLIENTS, window: WINDOW, batch: BATCH, rate: RATE, sqlite, memory, ratioSqliteToMemory: ratio, targets: { acksPerSecond: 100_000, p99Ms: 5 } },
      `${CLIENTS} clients; SQLite spool (sync normal): ${sqlite.acksPerSecond.toLocaleString('en')} acks/s, ` +
        `at ${RATE.toLocaleString('en')}/s p50 ${sqlite.latencyMs.p50} ms p99 ${sqlite.latencyMs.p99} ms; ` +
        `:memory:: ${memory.acksPerSecond.toLocaleString('en')} acks/s, p50 ${memory.latencyMs.p50} ms p99 ${memory.latencyMs.p99} ms; ` +
        `SQLite/memory ${ratio}×; daemon CPU per send ${sqlite.daemonCpuMicrosPerSend} µs vs ${memory.daemonCpuMicrosPerSend} µs ` +
        `(targets: ≥ 100,000 acks/s, p99 ≤ 5 ms)${busyNote(Math.max(...[sqlite, memory].flatMap((mode) => [mode.cpuCores.otherProcesses, mode.pacedCpuCores.otherProcesses])))}`,
    );
  } finally {
    upstream.server.close();
  }
}

runScenario(main);
