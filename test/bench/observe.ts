// Benchmark: what observing costs the hot paths. Each figure is taken twice in
// the same run, with the daemon plain and with --metrics on, one `subscribe`
// connection reading every event and /metrics scraped every second (fifteen
// times as often as a usual 15 s scrape interval); rounds alternate the two
// so that a machine growing busier favours neither.
// - ingest: as ingest.ts, 8 clients pipelining one-token sends into the SQLite
//   spool while delivery is held (a silent upstream, --concurrency 1);
// - delivery: as delivery.ts, 20,000 tokens to the fake FCM (TLS + HTTP/2,
//   200 ms), every one an event for the subscriber.
// The figures are acks/s and tokens/s, their ratio (on ÷ off; target ≥ 0.95),
// and the daemon's CPU per send or token, the steadier figure on a shared
// machine; first, the hooks alone, timed in this process (observe-hooks.ts).
//
//   node dist/test/bench/observe.js [--quick] [--rounds N] [--part ingest|delivery] [--observe metrics|subscriber]
// (--observe: only one of the two, to tell their costs apart.)
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { connect, type DaemonProcess, type LineClient, tempDir } from '../support/daemon.js';
import { metricsBase, scrape, total } from '../support/metrics.js';
import { busyNote, CpuWatch, hardLimit, launchDaemon, note, printResult, QUICK, quietMachine, removeOnCleanup, round, runScenario, sleep, startFakeFcmProcess, stopDaemon, type FakeFcmProcess } from './common.js';
import { startSilentUpstream } from './silent-upstream.js';
import { openSockets, saturate } from './line-load.js';
import { hookCosts } from './observe-hooks.js';
import { sendLine } from './payload.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    part: { type: 'string', default: 'both' },
    observe: { type: 'string', default: 'both' },
    rounds: { type: 'string' },
  },
});
if (!['both', 'ingest', 'delivery'].includes(flags.part)) throw new Error(`--part: ingest or delivery, not ${flags.part}`);
if (!['both', 'metrics', 'subscriber'].includes(flags.observe)) throw new Error(`--observe: metrics or subscriber, not ${flags.observe}`);
const METRICS = flags.observe !== 'subscriber';
const SUBSCRIBER = flags.observe !== 'metrics';
const ROUNDS = Number(flags.rounds ?? (QUICK ? 1 : 3));
if (!Number.isSafeInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds: a whole number ≥ 1, not ${flags.rounds}`);
const CLIENTS = 8;
const SENDS_PER_CLIENT = QUICK ? 10_000 : 40_000;
const WARMUP_PER_CLIENT = QUICK ? 2_000 : 10_000;
const TOKENS = QUICK ? 5_000 : 20_000;
const PER_SEND = 1_000;
const SCRAPE_EVERY_MS = 1_000;
/** Waited at most before each run for the machine to calm down. */
const QUIET_WAIT_MS = QUICK ? 2_000 : 10_000;
/** Under run.ts's own ten minutes, for the three rounds asked by default. */
const TIME_LIMIT_MS = QUICK ? 120_000 : Math.max(540_000, ROUNDS * 180_000);
const TOKEN = `bench:APA91b${'x'.repeat(148)}`;
const LINE = `${JSON.stringify({ cmd: 'send', tokens: [TOKEN], payload: { title: 'Hi', n: 3 } })}\n`;
const makeBatch = (lines: number): string => LINE.repeat(lines);

interface Figures {
  readonly perSecond: number;
  readonly cpuMicrosPerUnit: number;
  readonly otherCores: number;
  /** Event lines the subscriber read, and events the daemon dropped because it was behind. */
  readonly events: number;
  readonly dropped: number;
  readonly scrapes: number;
}

/** What "on" adds: a subscriber that reads every event, and a scraper. Both stop when the run does. */
async function watchers(daemon: DaemonProcess): Promise<{ stop(): Promise<{ events: number; dropped: number; scrapes: number; accepted: number | undefined }> }> {
  const subscriber: LineClient | undefined = SUBSCRIBER ? await daemon.connect() : undefined;
  // Counted as they come, not parsed: the subscriber must keep up, or the figure would be of dropped events.
  let events = 0;
  let dropped = 0;
  subscriber?.socket.on('data', (chunk: Buffer | string) => {
    const text = String(chunk);
    events += text.split('\n').length - 1;
    for (const gap of text.matchAll(/"event":"gap","dropped":(\d+)/g)) dropped += Number(gap[1]);
  });
  subscriber?.write({ cmd: 'subscribe' });
  const base = METRICS ? metricsBase(daemon) : '';
  let scrapes = 0;
  let running = METRICS;
  const scraping = (async () => {
    while (running) {
      await scrape(base);
      scrapes++;
      await sleep(SCRAPE_EVERY_MS);
    }
  })();
  return {
    async stop() {
      running = false;
      await scraping;
      const accepted = METRICS ? total(await scrape(base), 'gocm_accepted_tokens_total') : undefined;
      subscriber?.close();
      return { events: Math.max(0, events - 1), dropped, scrapes, accepted };
    },
  };
}

async function ingestRun(dir: string, upstream: string, observed: boolean, pass: number): Promise<Figures> {
  const name = `ingest-${observed ? 'on' : 'off'}-${pass}`;
  const daemon = await launchDaemon(dir, [
    '--socket', join(dir, `${name}.sock`), '--spool', join(dir, `${name}.db`),
    '--provider', 'gcm', '--apikey', 'k', '--gcm-endpoint', upstream,
    '--concurrency', '1', '--request-timeout', '1h', '--drain-timeout', '100ms',
    ...(observed && METRICS ? ['--metrics', '127.0.0.1:0'] : []),
  ]);
  try {
    const watching = observed ? await watchers(daemon) : undefined;
    const sockets = await openSockets(daemon.socket, CLIENTS);
    await saturate(sockets, { linesPerConnection: WARMUP_PER_CLIENT, window: 512, batch: 64, makeBatch });
    const pid = daemon.child.pid as number;
    const watch = new CpuWatch([pid]);
    const burst = await saturate(sockets, { linesPerConnection: SENDS_PER_CLIENT, window: 512, batch: 64, makeBatch });
    const usage = watch.read();
    for (const socket of sockets) socket.destroy();
    const seen = await watching?.stop();
    const report = await daemon.request({ cmd: 'report' });
    if (burst.refusedChunks > 0) throw new Error(`${name}: sends were refused`);
    if (seen?.accepted !== undefined && seen.accepted !== report.attempts) throw new Error(`${name}: /metrics says ${seen.accepted} accepted, the report ${String(report.attempts)}`);
    const cores = usage.cores[pid] ?? 0;
    return {
      perSecond: Math.round(burst.lines / burst.seconds),
      cpuMicrosPerUnit: round((cores * burst.seconds * 1e6) / burst.lines, 2),
      otherCores: usage.others,
      events: seen?.events ?? 0,
      dropped: seen?.dropped ?? 0,
      scrapes: seen?.scrapes ?? 0,
    };
  } finally {
    await stopDaemon(daemon);
  }
}

async function deliveryRun(dir: string, fake: FakeFcmProcess, observed: boolean, pass: number, tokens = TOKENS): Promise<Figures> {
  const name = `delivery-${observed ? 'on' : 'off'}-${pass}`;
  const daemon = await launchDaemon(
    dir,
    [
      '--socket', join(dir, `${name}.sock`), '--spool', join(dir, `${name}.db`),
      '--credentials', fake.credentials, '--fcm-endpoint', fake.url, '--drain-timeout', '1s',
      ...(observed && METRICS ? ['--metrics', '127.0.0.1:0'] : []),
    ],
    { NODE_EXTRA_CA_CERTS: fake.caFile },
  );
  try {
    const watching = observed ? await watchers(daemon) : undefined;
    const client = await connect(daemon.socket);
    const pid = daemon.child.pid as number;
    const watch = new CpuWatch([pid, fake.child.pid as number]);
    const started = performance.now();
    for (let first = 0; first < tokens; first += PER_SEND) client.socket.write(sendLine(Array.from({ length: PER_SEND }, (_, i) => `${name}-${first + i}`)));
    for (let i = 0; i < tokens / PER_SEND; i++) if ((await client.next()).ok !== true) throw new Error(`${name}: a send was refused`);
    let report = await client.request({ cmd: 'report' });
    for (; report.pending !== 0; report = await client.request({ cmd: 'report' })) await sleep(50);
    const seconds = (performance.now() - started) / 1000;
    const usage = watch.read();
    client.close();
    const seen = await watching?.stop();
    if (report.successes !== tokens) throw new Error(`${name}: not every token was delivered: ${JSON.stringify(report)}`);
    const cores = usage.cores[pid] ?? 0;
    return { perSecond: Math.round(tokens / seconds), cpuMicrosPerUnit: Math.round((cores * seconds * 1e6) / tokens), otherCores: usage.others, events: seen?.events ?? 0, dropped: seen?.dropped ?? 0, scrapes: seen?.scrapes ?? 0 };
  } finally {
    await stopDaemon(daemon);
  }
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

interface Comparison {
  readonly off: readonly Figures[];
  readonly on: readonly Figures[];
  /** On ÷ off, round by round. */
  readonly ratios: readonly number[];
  /** Median on ÷ median off, of the rates and of the CPU per unit. */
  readonly ratio: number;
  readonly cpuRatio: number;
  readonly otherCores: number;
}

/** The rounds of one part, off and on alternating (off first in even rounds, on first in odd ones). */
async function compare(part: string, run: (observed: boolean, pass: number) => Promise<Figures>): Promise<Comparison> {
  const off: Figures[] = [];
  const on: Figures[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    for (const observed of i % 2 === 0 ? [false, true] : [true, false]) {
      // Other work on the machine (a build, another test run) skews a pair more than anything measured here.
      const busy = await quietMachine(0.25, QUIET_WAIT_MS);
      note(`${part}, round ${i + 1} of ${ROUNDS}, observed ${observed ? 'yes' : 'no'} (other work before it: ${busy} cores)`);
      (observed ? on : off).push(await run(observed, i));
    }
  }
  const ratios = off.map((plain, i) => round((on[i] as Figures).perSecond / plain.perSecond, 3));
  return {
    off, on, ratios,
    ratio: round(median(on.map((f) => f.perSecond)) / median(off.map((f) => f.perSecond)), 3),
    cpuRatio: round(median(on.map((f) => f.cpuMicrosPerUnit)) / median(off.map((f) => f.cpuMicrosPerUnit)), 3),
    otherCores: Math.max(...[...off, ...on].map((f) => f.otherCores)),
  };
}

async function main(): Promise<void> {
  hardLimit(TIME_LIMIT_MS);
  const dir = tempDir('gocm-bench-observe-');
  removeOnCleanup(dir);
  note('the hooks alone, in this process');
  const hooks = await hookCosts();
  let ingest: Comparison | undefined;
  let delivery: Comparison | undefined;
  if (flags.part !== 'delivery') {
    const upstream = await startSilentUpstream();
    ingest = await compare('ingest', (observed, i) => ingestRun(dir, upstream.url, observed, i)).finally(() => upstream.server.close());
  }
  if (flags.part !== 'ingest') {
    const fake = await startFakeFcmProcess(200);
    try {
      note('delivery: an untimed run, so that no timed one pays for the fake\'s start');
      await deliveryRun(dir, fake, false, -1, 4_000);
      delivery = await compare('delivery', (observed, i) => deliveryRun(dir, fake, observed, i));
    } finally {
      await fake.stop();
    }
  }
  const medianOf = (figures: readonly Figures[], key: 'perSecond' | 'cpuMicrosPerUnit'): string => median(figures.map((f) => f[key])).toLocaleString('en');
  const said: string[] = [
    `hooks, in CPU time: a send ${round(hooks.sendNanos)} ns in the commands, ${round(hooks.sendNanosWithAck)} ns with onAck ` +
      `(${hooks.sendNanosWithAck >= hooks.sendNanos ? '+' : ''}${round(hooks.sendNanosWithAck - hooks.sendNanos)} ns), a settlement ${round(hooks.settleNanosPerToken, 1)} ns in the tally`,
  ];
  if (ingest) {
    said.push(
      `ingest ${medianOf(ingest.on, 'perSecond')} vs ${medianOf(ingest.off, 'perSecond')} acks/s = ${ingest.ratio} ` +
        `(rounds ${ingest.ratios.join(', ')}; CPU per send ${medianOf(ingest.on, 'cpuMicrosPerUnit')} vs ${medianOf(ingest.off, 'cpuMicrosPerUnit')} µs = ${ingest.cpuRatio})`,
    );
  }
  if (delivery) {
    said.push(
      `delivery ${medianOf(delivery.on, 'perSecond')} vs ${medianOf(delivery.off, 'perSecond')} tokens/s = ${delivery.ratio} ` +
        `(rounds ${delivery.ratios.join(', ')}; CPU per token ${medianOf(delivery.on, 'cpuMicrosPerUnit')} vs ${medianOf(delivery.off, 'cpuMicrosPerUnit')} µs = ${delivery.cpuRatio}; ` +
        `${median(delivery.on.map((f) => f.events)).toLocaleString('en')} events read, ${median(delivery.on.map((f) => f.dropped)).toLocaleString('en')} dropped)`,
    );
  }
  const what = flags.observe === 'both' ? 'metrics on + a subscriber' : flags.observe === 'metrics' ? 'metrics on' : 'a subscriber';
  printResult(
    'observe',
    { rounds: ROUNDS, observe: flags.observe, hooks, ingest, delivery, targets: { ratio: 0.95 } },
    `${what} ÷ both off, median of ${ROUNDS}: ${said.join('; ')} (target ≥ 0.95)${busyNote(Math.max(ingest?.otherCores ?? 0, delivery?.otherCores ?? 0))}`,
  );
}

runScenario(main);
