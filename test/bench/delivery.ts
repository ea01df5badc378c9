// Benchmark: tokens delivered a second end to end (issue 6). The fake FCM v1
// server runs in its own process over HTTPS + HTTP/2 and answers each request
// after 200 ms, like Google. gocmd gets 20,000 tokens in sends of 1,000; the
// clock runs from the first send to the `report` that says pending 0 (asked
// every 50 ms). Beside it, a bare node:http2 client (bare-h2.ts, its own
// process) pushes as many requests with the same bodies, header and
// concurrency to the same fake: the daemon's rate over that one is the
// overhead of everything gocm adds (spool, engine, undici).
//
//   node dist/test/bench/delivery.js [--quick] [--concurrency N --connections N] [--spool memory]
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { connect, ROOT, tempDir } from '../support/daemon.js';
import { busyNote, CpuWatch, hardLimit, killOnCleanup, launchDaemon, note, printResult, QUICK, removeOnCleanup, round, runScenario, sleep, startFakeFcmProcess, stopDaemon, type FakeFcmProcess } from './common.js';
import { sendLine } from './payload.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    // The daemon's defaults (README "Flags").
    concurrency: { type: 'string', default: '2000' },
    connections: { type: 'string', default: '20' },
    spool: { type: 'string', default: 'sqlite' },
  },
});
const CONCURRENCY = Number(flags.concurrency);
const CONNECTIONS = Number(flags.connections);
const LATENCY_MS = 200;
const TOKENS = QUICK ? 5_000 : 20_000;
const PER_SEND = 1_000;
const POLL_MS = 50;
const TIME_LIMIT_MS = QUICK ? 90_000 : 240_000;

interface Run {
  readonly tokens: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Cores used on average while it ran. */
  readonly cpuCores: Record<string, number>;
  /**
   * CPU time the sender (gocmd or the bare client) spent per token: on a machine
   * shared with other work, a steadier comparison than the rates.
   */
  readonly cpuMicrosPerToken: number;
}

async function daemonRun(fake: FakeFcmProcess, dir: string): Promise<Run & { report: Record<string, unknown> }> {
  const socket = join(dir, 'gocm.sock');
  const spool = flags.spool === 'memory' ? ':memory:' : join(dir, 'spool.db');
  const daemon = await launchDaemon(
    dir,
    [
      '--socket', socket, '--spool', spool,
      '--credentials', fake.credentials, '--fcm-endpoint', fake.url,
      '--concurrency', String(CONCURRENCY), '--connections', String(CONNECTIONS),
      '--drain-timeout', '1s',
    ],
    { NODE_EXTRA_CA_CERTS: fake.caFile },
  );
  try {
    const client = await connect(socket);
    const pid = daemon.child.pid as number;
    const watch = new CpuWatch([pid, fake.child.pid as number]);
    const started = performance.now();
    for (let first = 0; first < TOKENS; first += PER_SEND) {
      client.socket.write(sendLine(Array.from({ length: PER_SEND }, (_, i) => `daemon-${first + i}`)));
    }
    for (let i = 0; i < TOKENS / PER_SEND; i++) {
      const reply = await client.next();
      if (reply.ok !== true) throw new Error(`send refused: ${JSON.stringify(reply)}`);
    }
    let report = await client.request({ cmd: 'report' });
    while (report.pending !== 0) {
      await sleep(POLL_MS);
      report = await client.request({ cmd: 'report' });
    }
    const seconds = (performance.now() - started) / 1000;
    const usage = watch.read();
    client.close();
    if (report.successes !== TOKENS || report.failures !== 0) throw new Error(`not every token was delivered: ${JSON.stringify(report)}`);
    return {
      tokens: TOKENS,
      seconds: round(seconds, 3),
      perSecond: Math.round(TOKENS / seconds),
      cpuCores: { daemon: usage.cores[pid] ?? 0, fake: usage.cores[fake.child.pid as number] ?? 0, otherProcesses: usage.others, load1: usage.load1 },
      cpuMicrosPerToken: Math.round(((usage.cores[pid] ?? 0) * seconds * 1e6) / TOKENS),
      report,
    };
  } finally {
    await stopDaemon(daemon);
  }
}

/** The bare client in its own process; `requests` of them, tokens named `prefix-N`. */
async function bareRun(fake: FakeFcmProcess, requests: number, prefix: string): Promise<Run> {
  const script = join(ROOT, 'dist', 'test', 'bench', 'bare-h2.js');
  const sessions = Math.max(1, Math.min(CONNECTIONS, Math.ceil(CONCURRENCY / 100)));
  const child = spawn(
    process.execPath,
    [script, '--url', fake.url, '--credentials', fake.credentials, '--requests', String(requests),
      '--concurrency', String(CONCURRENCY), '--sessions', String(sessions), '--prefix', prefix],
    { env: { ...process.env, NODE_EXTRA_CA_CERTS: fake.caFile }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  killOnCleanup(child);
  const watch = new CpuWatch([child.pid as number, fake.child.pid as number]);
  const lines = createInterface({ input: child.stdout });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let result: { ok: number; statuses: Record<string, number>; seconds: number; cpuSeconds: number } | undefined;
  lines.on('line', (line) => (result = JSON.parse(line) as typeof result));
  const code = await exit;
  if (code !== 0 || result === undefined) throw new Error(`bare-h2 failed (exit ${code})`);
  const usage = watch.read({ [child.pid as number]: result.cpuSeconds });
  if (result.ok !== requests) throw new Error(`bare-h2: not every request got 200: ${JSON.stringify(result.statuses)}`);
  return {
    tokens: requests,
    seconds: round(result.seconds, 3),
    perSecond: Math.round(requests / result.seconds),
    cpuCores: { bare: usage.cores[child.pid as number] ?? 0, fake: usage.cores[fake.child.pid as number] ?? 0, otherProcesses: usage.others, load1: usage.load1 },
    cpuMicrosPerToken: Math.round((result.cpuSeconds * 1e6) / requests),
  };
}

async function main(): Promise<void> {
  hardLimit(TIME_LIMIT_MS);
  const dir = tempDir('gocm-bench-delivery-');
  removeOnCleanup(dir);
  note(`fake FCM (TLS, HTTP/2, ${LATENCY_MS} ms) in its own process`);
  const fake = await startFakeFcmProcess(LATENCY_MS);
  try {
    // A short untimed pass, so that neither timed run pays for the fake's start.
    note('warming the fake up');
    await bareRun(fake, Math.min(CONCURRENCY * 2, 4_000), 'warmup');
    note(`daemon: ${TOKENS} tokens, --concurrency ${CONCURRENCY} --connections ${CONNECTIONS}, spool ${flags.spool}`);
    const daemon = await daemonRun(fake, dir);
    note(`bare node:http2: ${TOKENS} requests, ${CONCURRENCY} in flight`);
    const bare = await bareRun(fake, TOKENS, 'bare');
    const ratio = round(daemon.perSecond / bare.perSecond, 2);
    // Little's law: no client can beat what is in flight divided by the latency.
    const ceiling = Math.round((CONCURRENCY * 1000) / LATENCY_MS);
    const daemonFigures: Run = { tokens: daemon.tokens, seconds: daemon.seconds, perSecond: daemon.perSecond, cpuCores: daemon.cpuCores, cpuMicrosPerToken: daemon.cpuMicrosPerToken };
    printResult(
      'delivery',
      { latencyMs: LATENCY_MS, concurrency: CONCURRENCY, connections: CONNECTIONS, spool: flags.spool, littlesLawCeiling: ceiling, daemon: daemonFigures, bare, ratioDaemonToBare: ratio, targets: { perSecond: 10_000, ratio: 0.8 } },
      `${TOKENS.toLocaleString('en')} tokens at ${LATENCY_MS} ms upstream latency, ${CONCURRENCY} in flight over ${CONNECTIONS} connections ` +
        `(ceiling ${ceiling.toLocaleString('en')}/s): gocmd ${daemon.perSecond.toLocaleString('en')} tokens/s, ` +
        `bare node:http2 ${bare.perSecond.toLocaleString('en')}/s, ratio ${ratio}; CPU per token ${daemon.cpuMicrosPerToken} µs vs ${bare.cpuMicrosPerToken} µs ` +
        `(targets: ≥ 10,000/s, ratio ≥ 0.8)${busyNote(Math.max(daemon.cpuCores.otherProcesses ?? 0, bare.cpuCores.otherProcesses ?? 0))}`,
    );
  } finally {
    await fake.stop();
  }
}

runScenario(main);
