// Benchmark: the legacy provider end to end, as GoCM's users send: one-token
// sends from 64 client connections (each writes its share at once; with
// --closed-loop, one after another's reply, as wrk drove GoCM). The fake legacy
// endpoint runs in its own process over TLS + HTTP/2 (100 streams per
// connection) and answers each request after 200 ms. gocmd gets 10,000
// one-token sends (10,000 requests); the clock runs from the first send to the
// `report` that says pending 0 (asked every 50 ms). Beside it, in the same run, a bare node:http2 client
// (bare-h2.ts, its own process) makes the same 10,000 requests to the same
// fake, 2,000 in flight over 20 sessions: gocmd's rate over that one is the
// cost of everything gocm adds; the same client through gocm's own transport
// (--via-pool) shows what of that cost is the transport's. GoCM itself, on such a fake, delivered 890
// tokens/s; gocm through undici 93/s (FACTS.md).
//
//   node dist/test/bench/delivery-gcm.js [--quick] [--closed-loop] [--concurrency N --connections N] [--workers N] [--spool memory]
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { OPTIONS } from '../../src/config.js';
import { connect, tempDir } from '../support/daemon.js';
import { busyNote, CpuWatch, hardLimit, launchDaemon, note, printResult, QUICK, removeOnCleanup, round, runBareClient, runScenario, sleep, startFakeProcess, stopDaemon } from './common.js';
import { BENCH_PAYLOAD } from './payload.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    // The daemon's own defaults unless given: the figures are for gocmd as it ships.
    concurrency: { type: 'string', default: String(OPTIONS.concurrency.default) },
    connections: { type: 'string', default: String(OPTIONS.connections.default) },
    // The daemon's own choice unless given.
    workers: { type: 'string' },
    spool: { type: 'string', default: 'sqlite' },
    // Each client waits for a send's reply before the next (as wrk drove GoCM) instead of pipelining its share.
    'closed-loop': { type: 'boolean', default: false },
  },
});
const CONCURRENCY = Number(flags.concurrency);
const CONNECTIONS = Number(flags.connections);
const LATENCY_MS = 200;
const SENDS = QUICK ? 3_000 : 10_000;
const CLIENTS = 64;
const POLL_MS = 50;
const TIME_LIMIT_MS = QUICK ? 90_000 : 240_000;
const API_KEY = 'bench-legacy-server-key';

interface FakeGcmProcess {
  readonly url: string;
  readonly caFile: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** test/support/fake-gcm.ts in its own process, over TLS + HTTP/2. */
async function startFakeGcmProcess(): Promise<FakeGcmProcess> {
  const fake = await startFakeProcess<{ url: string; caFile: string }>('fake-gcm', ['--tls', '--port', '0', '--latency-ms', String(LATENCY_MS), '--apikey', API_KEY]);
  return { ...fake.info, child: fake.child, stop: () => fake.stop() };
}

interface Run {
  readonly tokens: number;
  /** gocmd only: when the last send was acknowledged, from the first send. */
  readonly acceptedSeconds?: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly cpuCores: Record<string, number>;
  /** CPU time the sender spent per token: steadier than the rates on a shared machine. */
  readonly cpuMicrosPerToken: number;
}

/** One client's share of the sends: written at once, as a program hands over its notifications; with --closed-loop one at a time. */
async function client(socket: string, first: number, count: number): Promise<void> {
  const line = await connect(socket);
  const send = (i: number): string => JSON.stringify({ cmd: 'send', tokens: [`daemon-${i}`], payload: BENCH_PAYLOAD.payload });
  try {
    if (!flags['closed-loop']) for (let i = first; i < first + count; i++) line.write(send(i));
    for (let i = first; i < first + count; i++) {
      const reply = flags['closed-loop'] ? await line.request(send(i)) : await line.next();
      if (reply.ok !== true) throw new Error(`send refused: ${JSON.stringify(reply)}`);
    }
  } finally {
    line.close();
  }
}

async function daemonRun(fake: FakeGcmProcess, dir: string): Promise<Run> {
  const socket = join(dir, 'gocm.sock');
  const keyFile = join(dir, 'apikey');
  writeFileSync(keyFile, API_KEY);
  const spool = flags.spool === 'memory' ? ':memory:' : join(dir, 'spool.db');
  const daemon = await launchDaemon(
    dir,
    [
      '--socket', socket, '--spool', spool,
      '--provider', 'gcm', '--apikey-file', keyFile, '--gcm-endpoint', fake.url,
      '--concurrency', String(CONCURRENCY), '--connections', String(CONNECTIONS), ...(flags.workers === undefined ? [] : ['--workers', flags.workers]),
      '--drain-timeout', '1s',
    ],
    { NODE_EXTRA_CA_CERTS: fake.caFile },
  );
  try {
    const pid = daemon.child.pid as number;
    const watch = new CpuWatch([pid, fake.child.pid as number]);
    const started = performance.now();
    const share = Math.ceil(SENDS / CLIENTS);
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(socket, c * share, Math.max(0, Math.min(share, SENDS - c * share)))));
    const acceptedSeconds = (performance.now() - started) / 1000;
    const reporter = await connect(socket);
    let report = await reporter.request({ cmd: 'report' });
    while (report.pending !== 0) {
      await sleep(POLL_MS);
      report = await reporter.request({ cmd: 'report' });
    }
    const seconds = (performance.now() - started) / 1000;
    const usage = watch.read();
    reporter.close();
    if (report.successes !== SENDS || report.failures !== 0) throw new Error(`not every token was delivered: ${JSON.stringify(report)}`);
    const daemonCores = usage.cores[pid] ?? 0;
    return {
      tokens: SENDS,
      acceptedSeconds: round(acceptedSeconds, 3),
      seconds: round(seconds, 3),
      perSecond: Math.round(SENDS / seconds),
      cpuCores: { daemon: daemonCores, fake: usage.cores[fake.child.pid as number] ?? 0, otherProcesses: usage.others, load1: usage.load1 },
      cpuMicrosPerToken: Math.round((daemonCores * seconds * 1e6) / SENDS),
    };
  } finally {
    await stopDaemon(daemon);
  }
}

/** The bare client in its own process: `requests` one-token legacy requests, tokens named `prefix-N`. */
async function bareRun(fake: FakeGcmProcess, requests: number, prefix: string, more: readonly string[] = []): Promise<Run> {
  const args = ['--url', fake.url, '--apikey', API_KEY, '--concurrency', String(CONCURRENCY), '--sessions', String(CONNECTIONS), '--prefix', prefix, ...more];
  return runBareClient(args, requests, fake);
}

async function main(): Promise<void> {
  hardLimit(TIME_LIMIT_MS);
  const dir = tempDir('gocm-bench-delivery-gcm-');
  removeOnCleanup(dir);
  note(`fake legacy endpoint (TLS, HTTP/2, ${LATENCY_MS} ms) in its own process`);
  const fake = await startFakeGcmProcess();
  try {
    // A short untimed pass, so that neither timed run pays for the fake's start.
    note('warming the fake up');
    await bareRun(fake, Math.min(CONCURRENCY * 2, 4_000), 'warmup');
    note(`daemon: ${SENDS} one-token sends from ${CLIENTS} clients, --concurrency ${CONCURRENCY} --connections ${CONNECTIONS}, spool ${flags.spool}`);
    const daemon = await daemonRun(fake, dir);
    note(`bare node:http2: ${SENDS} requests, ${CONCURRENCY} in flight over ${CONNECTIONS} sessions`);
    const bare = await bareRun(fake, SENDS, 'bare');
    note(`the same client through gocm's transport (H2Pool)`);
    const transport = await bareRun(fake, SENDS, 'pool', ['--via-pool']);
    const ratio = round(daemon.perSecond / bare.perSecond, 2);
    const transportRatio = round(transport.perSecond / bare.perSecond, 2);
    const ceiling = Math.round((CONCURRENCY * 1000) / LATENCY_MS);
    printResult(
      'delivery-gcm',
      { latencyMs: LATENCY_MS, clients: CLIENTS, concurrency: CONCURRENCY, connections: CONNECTIONS, spool: flags.spool, littlesLawCeiling: ceiling, daemon, bare, transport, ratioDaemonToBare: ratio, ratioTransportToBare: transportRatio, targets: { ratio: 0.8 } },
      `${SENDS.toLocaleString('en')} one-token legacy sends from ${CLIENTS} clients at ${LATENCY_MS} ms latency, ${CONCURRENCY} in flight over ${CONNECTIONS} connections: ` +
        `gocmd ${daemon.perSecond.toLocaleString('en')} tokens/s (all accepted after ${daemon.acceptedSeconds} s), bare node:http2 ${bare.perSecond.toLocaleString('en')}/s, ratio ${ratio}; ` +
        `CPU per token ${daemon.cpuMicrosPerToken} µs vs ${bare.cpuMicrosPerToken} µs (target: ratio ≥ 0.8); ` +
        `the bare client through gocm's transport ${transport.perSecond.toLocaleString('en')}/s, ${transport.cpuMicrosPerToken} µs per request, ratio ${transportRatio}` +
        busyNote(Math.max(daemon.cpuCores.otherProcesses ?? 0, bare.cpuCores.otherProcesses ?? 0)),
    );
  } finally {
    await fake.stop();
  }
}

runScenario(main);
