// Benchmark: tokens delivered a second end to end, and what each costs in CPU
// and memory (issues 6 and 16). The fake FCM v1 server runs in its own process
// over HTTPS + HTTP/2 and answers each request after 200 ms, like Google.
//
// Five contenders take turns against the one fake, in each of three
// repetitions (their order rotated each time, so that none always runs first
// or last on a machine whose other load drifts):
// - gocmd with --workers 1, --workers 0 (the main thread sends) and with no
//   --workers at all (its default for this machine), each a fresh process
//   with an empty spool, given 20,000 tokens in sends of 500; the clock runs
//   from the first send to the `report` that says pending 0 (asked every
//   20 ms);
// - a bare node:http2 client (bare-h2.ts, its own process) with as many in
//   flight over as many sessions as the daemon, and one with 2,500 streams
//   over 25 sessions: the yardstick of issue 16.
// Each run gives tokens/s, CPU per delivered token (user + system of that
// process over the run, from /proc) and peak RSS (gocmd's VmHWM, the bare
// client's maxRSS). The figures printed are medians over the repetitions; the
// ratios are the medians of each repetition's own ratio, so that a run is
// compared with the yardstick measured next to it.
//
//   node dist/test/bench/delivery.js [--quick] [--repetitions N] [--concurrency N --connections N] [--spool memory]
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { OPTIONS } from '../../src/config.js';
import { connect, tempDir } from '../support/daemon.js';
import { busyNote, cpuSecondsOf, CpuWatch, type FakeFcmProcess, hardLimit, launchDaemon, median, memoryOf, note, printResult, QUICK, removeOnCleanup, round, runBareClient, runScenario, sleep, startFakeFcmProcess, stopDaemon, workersOf } from './common.js';
import { sendLine } from './payload.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    repetitions: { type: 'string' },
    // The daemon's own defaults unless given: the figures are for gocmd as it ships.
    concurrency: { type: 'string', default: String(OPTIONS.concurrency.default) },
    connections: { type: 'string', default: String(OPTIONS.connections.default) },
    spool: { type: 'string', default: 'sqlite' },
  },
});
const CONCURRENCY = Number(flags.concurrency);
const CONNECTIONS = Number(flags.connections);
const REPETITIONS = Number(flags.repetitions ?? (QUICK ? 1 : 3));
const LATENCY_MS = 200;
const TOKENS = QUICK ? 5_000 : 20_000;
const PER_SEND = 500;
const POLL_MS = 20;
const TIME_LIMIT_MS = QUICK ? 90_000 : 480_000;
const TARGETS = { perSecond: 10_000, ratioToBare: 0.9, cpuRatioToBare: 1.1, peakRssMiB: 150 } as const;

interface Contender {
  readonly name: string;
  readonly label: string;
  /** gocmd: its extra flags; absent for a bare client. */
  readonly daemonArgs?: readonly string[];
  /** The bare client: requests in flight and sessions. */
  readonly bare?: { readonly concurrency: number; readonly sessions: number };
}

const SAME_SESSIONS = Math.max(1, Math.min(CONNECTIONS, Math.ceil(CONCURRENCY / 100)));
const CONTENDERS: readonly Contender[] = [
  { name: 'workers1', label: 'gocmd --workers 1', daemonArgs: ['--workers', '1'] },
  { name: 'workers0', label: 'gocmd --workers 0', daemonArgs: ['--workers', '0'] },
  { name: 'default', label: 'gocmd (default workers)', daemonArgs: [] },
  { name: 'bareSame', label: `bare ${CONCURRENCY}×${SAME_SESSIONS}`, bare: { concurrency: CONCURRENCY, sessions: SAME_SESSIONS } },
  { name: 'bare2500x25', label: 'bare 2500×25', bare: { concurrency: 2_500, sessions: 25 } },
];
const DAEMONS = CONTENDERS.filter((contender) => contender.daemonArgs !== undefined);
const YARDSTICK = 'bare2500x25';

interface Run {
  readonly tokens: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** CPU time (user + system) the sender spent per token: on a shared machine, steadier than the rates. */
  readonly cpuMicrosPerToken: number;
  readonly peakRssMiB: number;
  /** Cores used on average while it ran. */
  readonly cpuCores: Record<string, number>;
  /** gocmd: the delivery threads it ran. */
  readonly workers?: number;
}

async function daemonRun(fake: FakeFcmProcess, dir: string, contender: Contender, prefix: string): Promise<Run> {
  const socket = join(dir, `${prefix}.sock`);
  const spool = flags.spool === 'memory' ? ':memory:' : join(dir, `${prefix}.db`);
  const daemon = await launchDaemon(
    dir,
    [
      '--socket', socket, '--spool', spool,
      '--credentials', fake.credentials, '--fcm-endpoint', fake.url,
      '--concurrency', String(CONCURRENCY), '--connections', String(CONNECTIONS),
      '--drain-timeout', '1s', ...(contender.daemonArgs ?? []),
    ],
    { NODE_EXTRA_CA_CERTS: fake.caFile },
  );
  try {
    const client = await connect(socket);
    const pid = daemon.child.pid as number;
    const watch = new CpuWatch([pid, fake.child.pid as number]);
    const cpuBefore = cpuSecondsOf(pid);
    const started = performance.now();
    for (let first = 0; first < TOKENS; first += PER_SEND) {
      client.socket.write(sendLine(Array.from({ length: PER_SEND }, (_, i) => `${prefix}-${first + i}`)));
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
    const cpuSeconds = cpuSecondsOf(pid) - cpuBefore;
    const usage = watch.read();
    const { peakMiB } = memoryOf(pid);
    client.close();
    if (report.successes !== TOKENS || report.failures !== 0) throw new Error(`not every token was delivered: ${JSON.stringify(report)}`);
    return {
      tokens: TOKENS,
      seconds: round(seconds, 3),
      perSecond: Math.round(TOKENS / seconds),
      cpuMicrosPerToken: Math.round((cpuSeconds * 1e6) / TOKENS),
      peakRssMiB: peakMiB,
      cpuCores: { daemon: usage.cores[pid] ?? 0, fake: usage.cores[fake.child.pid as number] ?? 0, otherProcesses: usage.others, load1: usage.load1 },
      workers: workersOf(daemon),
    };
  } finally {
    await stopDaemon(daemon);
  }
}

/** The bare client in its own process; `requests` of them, tokens named `prefix-N`. */
async function bareRun(fake: FakeFcmProcess, requests: number, prefix: string, shape: { concurrency: number; sessions: number }): Promise<Run> {
  const args = ['--url', fake.url, '--credentials', fake.credentials, '--concurrency', String(shape.concurrency), '--sessions', String(shape.sessions), '--prefix', prefix];
  return runBareClient(args, requests, fake);
}

interface Summary {
  readonly perSecond: number;
  readonly perSecondRange: readonly [number, number];
  readonly cpuMicrosPerToken: number;
  readonly cpuMicrosRange: readonly [number, number];
  readonly peakRssMiB: number;
  readonly peakRssRange: readonly [number, number];
  readonly workers?: number;
  readonly runs: readonly Run[];
}

const range = (values: readonly number[]): [number, number] => [Math.min(...values), Math.max(...values)];

function summarise(runs: readonly Run[]): Summary {
  const rates = runs.map((run) => run.perSecond);
  const cpu = runs.map((run) => run.cpuMicrosPerToken);
  const rss = runs.map((run) => run.peakRssMiB);
  return {
    perSecond: Math.round(median(rates)),
    perSecondRange: range(rates),
    cpuMicrosPerToken: Math.round(median(cpu)),
    cpuMicrosRange: range(cpu),
    peakRssMiB: round(median(rss), 1),
    peakRssRange: range(rss),
    ...(runs[0]?.workers === undefined ? {} : { workers: runs[0].workers }),
    runs,
  };
}

/** Per repetition, a daemon's figure over a bare client's; the median and the range of those. */
function ratios(runs: Map<string, Run[]>, daemon: string, bare: string, figure: 'perSecond' | 'cpuMicrosPerToken'): { median: number; range: [number, number] } {
  const ours = runs.get(daemon) ?? [];
  const theirs = runs.get(bare) ?? [];
  const each = ours.map((run, i) => round(run[figure] / (theirs[i]?.[figure] ?? NaN), 2));
  return { median: round(median(each), 2), range: range(each) };
}

async function main(): Promise<void> {
  hardLimit(TIME_LIMIT_MS);
  const dir = tempDir('gocm-bench-delivery-');
  removeOnCleanup(dir);
  note(`fake FCM (TLS, HTTP/2, ${LATENCY_MS} ms) in its own process`);
  const fake = await startFakeFcmProcess(LATENCY_MS);
  const runs = new Map<string, Run[]>(CONTENDERS.map((contender) => [contender.name, []]));
  try {
    // A short untimed pass, so that no timed run pays for the fake's start.
    note('warming the fake up');
    await bareRun(fake, Math.min(CONCURRENCY * 2, 4_000), 'warmup', { concurrency: CONCURRENCY, sessions: SAME_SESSIONS });
    for (let repetition = 0; repetition < REPETITIONS; repetition++) {
      const order = CONTENDERS.map((_, i) => CONTENDERS[(i + repetition) % CONTENDERS.length] as Contender);
      for (const contender of order) {
        const prefix = `${contender.name}-${repetition}`;
        note(`repetition ${repetition + 1}/${REPETITIONS}: ${contender.label}, ${TOKENS.toLocaleString('en')} tokens`);
        const run = contender.bare === undefined ? await daemonRun(fake, dir, contender, prefix) : await bareRun(fake, TOKENS, prefix, contender.bare);
        note(`  ${run.perSecond.toLocaleString('en')}/s, ${run.cpuMicrosPerToken} µs a token, peak RSS ${run.peakRssMiB} MiB`);
        runs.get(contender.name)?.push(run);
      }
    }
  } finally {
    await fake.stop();
  }

  const summaries = Object.fromEntries(CONTENDERS.map((contender) => [contender.name, summarise(runs.get(contender.name) ?? [])]));
  const compared = Object.fromEntries(
    DAEMONS.map((daemon) => [
      daemon.name,
      {
        ratioToBare2500x25: ratios(runs, daemon.name, YARDSTICK, 'perSecond'),
        cpuRatioToBare2500x25: ratios(runs, daemon.name, YARDSTICK, 'cpuMicrosPerToken'),
        ratioToBareSame: ratios(runs, daemon.name, 'bareSame', 'perSecond'),
        cpuRatioToBareSame: ratios(runs, daemon.name, 'bareSame', 'cpuMicrosPerToken'),
      },
    ]),
  );
  const others = Math.max(...[...runs.values()].flat().map((run) => run.cpuCores.otherProcesses ?? 0));
  const ceiling = Math.round((CONCURRENCY * 1000) / LATENCY_MS);
  const readable = CONTENDERS.map((contender) => {
    const summary = summaries[contender.name] as Summary;
    const workers = contender.name === 'default' && summary.workers !== undefined ? ` = ${summary.workers}` : '';
    const versus = compared[contender.name];
    const ratio = versus === undefined ? '' : `, ratio ${versus.ratioToBare2500x25.median} (CPU ${versus.cpuRatioToBare2500x25.median}×)`;
    return `${contender.label}${workers} ${summary.perSecond.toLocaleString('en')}/s, ${summary.cpuMicrosPerToken} µs, ${summary.peakRssMiB} MiB${ratio}`;
  });
  printResult(
    'delivery',
    {
      latencyMs: LATENCY_MS, tokens: TOKENS, perSend: PER_SEND, concurrency: CONCURRENCY, connections: CONNECTIONS, spool: flags.spool,
      repetitions: REPETITIONS, littlesLawCeiling: ceiling, ...summaries, compared, targets: TARGETS,
    },
    `${TOKENS.toLocaleString('en')} tokens at ${LATENCY_MS} ms, ${CONCURRENCY} in flight over ${CONNECTIONS} connections (ceiling ${ceiling.toLocaleString('en')}/s), ` +
      `medians of ${REPETITIONS} (tokens/s, CPU per token, peak RSS; ratio to bare 2500×25): ${readable.join('; ')} ` +
      `(targets: ≥ 10,000/s, ratio ≥ ${TARGETS.ratioToBare}, CPU ≤ ${TARGETS.cpuRatioToBare}×, peak RSS ≤ ${TARGETS.peakRssMiB} MiB)${busyNote(others)}`,
  );
}

runScenario(main);
