// Benchmark: APNs delivery end to end. The fake APNs (test/support/fake-apns.ts)
// runs in its own process over TLS + HTTP/2 (100 streams per connection) and
// answers each request after 200 ms; it verifies every provider token's ES256
// signature once and then checks its age, as Apple does. gocmd gets 20,000
// device tokens in sends of 1,000; the clock runs from the first send to the
// `report` that says pending 0. Beside it, in the same run, a bare node:http2
// client (bare-h2.ts, its own process) makes as many requests with the same
// payload, headers and provider token, 2,000 in flight over 20 sessions: the
// ratio is the cost of everything gocm adds.
//
//   node dist/test/bench/delivery-apns.js [--quick] [--concurrency N --connections N] [--workers N] [--spool memory]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { OPTIONS } from '../../src/config.js';
import { connect, tempDir } from '../support/daemon.js';
import { busyNote, CpuWatch, type FakeProcess, hardLimit, launchDaemon, note, printResult, QUICK, removeOnCleanup, round, runBareClient, runScenario, startFakeProcess, stopDaemon, untilSettled } from './common.js';
import { BENCH_PAYLOAD, deviceToken } from './payload.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: String(OPTIONS.concurrency.default) },
    connections: { type: 'string', default: String(OPTIONS.connections.default) },
    // The daemon's own choice unless given.
    workers: { type: 'string' },
    spool: { type: 'string', default: 'sqlite' },
  },
});
const CONCURRENCY = Number(flags.concurrency);
const CONNECTIONS = Number(flags.connections);
const LATENCY_MS = 200;
const TOKENS = QUICK ? 5_000 : 20_000;
const PER_SEND = 1_000;
const TIME_LIMIT_MS = QUICK ? 90_000 : 240_000;

interface ApnsInfo {
  readonly url: string;
  readonly caFile: string;
  readonly key: string;
  readonly keyId: string;
  readonly teamId: string;
  readonly topic: string;
}
type Fake = FakeProcess<ApnsInfo>;

interface Run {
  readonly tokens: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly cpuCores: Record<string, number>;
  /** CPU time the sender spent per token: steadier than the rates on a shared machine. */
  readonly cpuMicrosPerToken: number;
}

async function daemonRun(fake: Fake, dir: string): Promise<Run> {
  const { info } = fake;
  const socket = join(dir, 'gocm.sock');
  const appsFile = join(dir, 'apps.json');
  writeFileSync(appsFile, JSON.stringify({ apps: { ios: { provider: 'apns', key: info.key, key_id: info.keyId, team_id: info.teamId, topic: info.topic, endpoint: info.url } } }));
  const daemon = await launchDaemon(
    dir,
    ['--socket', socket, '--spool', flags.spool === 'memory' ? ':memory:' : join(dir, 'spool.db'), '--apps', appsFile,
      '--concurrency', String(CONCURRENCY), '--connections', String(CONNECTIONS), ...(flags.workers === undefined ? [] : ['--workers', flags.workers]), '--drain-timeout', '1s'],
    { NODE_EXTRA_CA_CERTS: info.caFile },
  );
  try {
    const client = await connect(socket);
    const pid = daemon.child.pid as number;
    const watch = new CpuWatch([pid, fake.child.pid as number]);
    const started = performance.now();
    for (let first = 0; first < TOKENS; first += PER_SEND) {
      const tokens = Array.from({ length: PER_SEND }, (_, i) => deviceToken(`daemon-${first + i}`));
      client.write({ cmd: 'send', tokens, payload: BENCH_PAYLOAD.payload });
    }
    for (let i = 0; i < TOKENS / PER_SEND; i++) {
      const reply = await client.next();
      if (reply.ok !== true) throw new Error(`send refused: ${JSON.stringify(reply)}`);
    }
    const report = await untilSettled(client);
    const seconds = (performance.now() - started) / 1000;
    const usage = watch.read();
    client.close();
    if (report.successes !== TOKENS || report.failures !== 0) throw new Error(`not every token was delivered: ${JSON.stringify(report)}`);
    const cores = usage.cores[pid] ?? 0;
    return {
      tokens: TOKENS,
      seconds: round(seconds, 3),
      perSecond: Math.round(TOKENS / seconds),
      cpuCores: { daemon: cores, fake: usage.cores[fake.child.pid as number] ?? 0, otherProcesses: usage.others, load1: usage.load1 },
      cpuMicrosPerToken: Math.round((cores * seconds * 1e6) / TOKENS),
    };
  } finally {
    await stopDaemon(daemon);
  }
}

async function bareRun(fake: Fake, requests: number, prefix: string): Promise<Run> {
  const { info } = fake;
  const args = ['--url', info.url, '--apns-key', info.key, '--key-id', info.keyId, '--team-id', info.teamId, '--topic', info.topic,
    '--concurrency', String(CONCURRENCY), '--sessions', String(CONNECTIONS), '--prefix', prefix];
  return runBareClient(args, requests, { caFile: info.caFile, child: fake.child });
}

async function main(): Promise<void> {
  hardLimit(TIME_LIMIT_MS);
  const dir = tempDir('gocm-bench-apns-');
  removeOnCleanup(dir);
  note(`fake APNs (TLS, HTTP/2, ${LATENCY_MS} ms) in its own process`);
  const fake = await startFakeProcess<ApnsInfo>('fake-apns', ['--port', '0', '--latency-ms', String(LATENCY_MS)]);
  try {
    note('warming the fake up');
    await bareRun(fake, Math.min(CONCURRENCY * 2, 4_000), 'warmup');
    note(`daemon: ${TOKENS} device tokens, --concurrency ${CONCURRENCY} --connections ${CONNECTIONS}, spool ${flags.spool}`);
    const daemon = await daemonRun(fake, dir);
    note(`bare node:http2: ${TOKENS} requests, ${CONCURRENCY} in flight over ${CONNECTIONS} sessions`);
    const bare = await bareRun(fake, TOKENS, 'bare');
    const ratio = round(daemon.perSecond / bare.perSecond, 2);
    const ceiling = Math.round((CONCURRENCY * 1000) / LATENCY_MS);
    printResult(
      'delivery-apns',
      { latencyMs: LATENCY_MS, concurrency: CONCURRENCY, connections: CONNECTIONS, spool: flags.spool, littlesLawCeiling: ceiling, daemon, bare, ratioDaemonToBare: ratio, targets: { ratio: 0.8 } },
      `${TOKENS.toLocaleString('en')} APNs tokens at ${LATENCY_MS} ms upstream latency, ${CONCURRENCY} in flight over ${CONNECTIONS} connections ` +
        `(ceiling ${ceiling.toLocaleString('en')}/s): gocmd ${daemon.perSecond.toLocaleString('en')} tokens/s, bare node:http2 ${bare.perSecond.toLocaleString('en')}/s, ` +
        `ratio ${ratio}; CPU per token ${daemon.cpuMicrosPerToken} µs vs ${bare.cpuMicrosPerToken} µs (target: ratio ≥ 0.8)` +
        busyNote(Math.max(daemon.cpuCores.otherProcesses ?? 0, bare.cpuCores.otherProcesses ?? 0)),
    );
  } finally {
    await fake.stop();
  }
}

runScenario(main);
