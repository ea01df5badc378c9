// Benchmark: acknowledgements a second with delivery idle, and while the
// daemon delivers at full speed (issue 16: ≥ 100,000 alone with the SQLite
// spool, ≥ 60,000 while delivering), with --workers 1, with the default, and
// with --workers 0 (delivery on the thread that acknowledges: what the
// delivery threads buy).
//
// The load is the lean driver of line-load.ts: 8 connections, each keeping
// 500 one-token sends unanswered, written 50 to a write, replies counted and
// never parsed, so that the client's own CPU stays small.
// - Alone: as ingest.ts, the push service is a silent upstream and
//   --concurrency 1 keeps one request hanging there, so delivery costs
//   nothing.
// - While delivering: the fake FCM v1 server (own process, TLS + HTTP/2,
//   answering after 200 ms) and the daemon's own concurrency; a backlog of
//   sends of 1,000 tokens is in the spool and being delivered before the
//   timed sends start, and it outlasts them. The tokens delivered during the
//   timed sends are counted too: ingest must not starve delivery either.
//
//   node dist/test/bench/ingest-delivering.js [--quick]
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { type DaemonProcess, tempDir } from '../support/daemon.js';
import { busyNote, cpuSecondsOf, CpuWatch, hardLimit, launchDaemon, note, printResult, QUICK, removeOnCleanup, round, runScenario, sleep, startFakeFcmProcess, stopDaemon, workersOf, type FakeFcmProcess } from './common.js';
import { openSockets, saturate } from './line-load.js';
import { sendLine } from './payload.js';
import { startSilentUpstream } from './silent-upstream.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    clients: { type: 'string', default: '8' },
    window: { type: 'string', default: '500' },
    batch: { type: 'string', default: '50' },
  },
});
const CLIENTS = Number(flags.clients);
const WINDOW = Number(flags.window);
const BATCH = Number(flags.batch);
const WARMUP_SENDS_PER_CLIENT = QUICK ? 2_000 : 10_000;
const SENDS_PER_CLIENT = QUICK ? 6_250 : 62_500;
/** Tokens waiting for delivery before the timed sends: at 200 ms and a few thousand a second, more than they last. */
const BACKLOG = QUICK ? 20_000 : 100_000;
const BACKLOG_PER_SEND = 1_000;
/** Delivered before the timed sends start: the engine is past its first claims and running. */
const DELIVERED_BEFORE_START = QUICK ? 2_000 : 5_000;
const LATENCY_MS = 200;
const TIME_LIMIT_MS = QUICK ? 90_000 : 360_000;
const TARGETS = { aloneAcksPerSecond: 100_000, deliveringAcksPerSecond: 60_000 } as const;

// A token the size of a real FCM registration token (~160 characters), as ingest.ts sends.
const TOKEN = `bench:APA91b${'x'.repeat(148)}`;
const LINE = `${JSON.stringify({ cmd: 'send', tokens: [TOKEN], payload: { title: 'Hi', n: 3 } })}\n`;
const FULL_BATCH = LINE.repeat(BATCH);
const makeBatch = (lines: number): string => (lines === BATCH ? FULL_BATCH : LINE.repeat(lines));

const VARIANTS = [
  { name: 'workers1', label: '--workers 1', args: ['--workers', '1'] },
  { name: 'default', label: 'default workers', args: [] },
  { name: 'workers0', label: '--workers 0', args: ['--workers', '0'] },
] as const;

interface Phase {
  readonly acksPerSecond: number;
  readonly sends: number;
  readonly seconds: number;
  /** Daemon CPU time per acknowledged send; while delivering it holds the delivery's CPU too. */
  readonly daemonCpuMicrosPerSend: number;
  readonly cpuCores: { readonly daemon: number; readonly client: number; readonly fake?: number; readonly otherProcesses: number; readonly load1: number };
  /** While delivering: tokens delivered a second during the timed sends, and what was pending at their end. */
  readonly deliveredPerSecond?: number;
  readonly pendingAtEnd?: number;
}

const successes = async (daemon: DaemonProcess): Promise<number> => Number((await daemon.request({ cmd: 'report' })).successes);

/** Warm-up, then the timed sends; the daemon must have accepted every line written to it by the end. */
async function timedSends(daemon: DaemonProcess, label: string, acceptedBefore: number, fake?: FakeFcmProcess): Promise<Phase> {
  const pid = daemon.child.pid as number;
  const sockets = await openSockets(daemon.socket, CLIENTS);
  try {
    note(`${label}: warm-up, ${CLIENTS} × ${WARMUP_SENDS_PER_CLIENT.toLocaleString('en')} sends`);
    await saturate(sockets, { linesPerConnection: WARMUP_SENDS_PER_CLIENT, window: WINDOW, batch: BATCH, makeBatch });
    note(`${label}: ${CLIENTS} × ${SENDS_PER_CLIENT.toLocaleString('en')} sends, ${WINDOW} unanswered at most per client`);
    const deliveredBefore = fake === undefined ? 0 : await successes(daemon);
    const watch = new CpuWatch(fake === undefined ? [pid] : [pid, fake.child.pid as number]);
    const cpuBefore = cpuSecondsOf(pid);
    const burst = await saturate(sockets, { linesPerConnection: SENDS_PER_CLIENT, window: WINDOW, batch: BATCH, makeBatch });
    const cpuSeconds = cpuSecondsOf(pid) - cpuBefore;
    const usage = watch.read();
    const report = await daemon.request({ cmd: 'report' });
    const sent = acceptedBefore + CLIENTS * (WARMUP_SENDS_PER_CLIENT + SENDS_PER_CLIENT);
    if (report.attempts !== sent || burst.refusedChunks > 0) {
      throw new Error(`${label}: ${sent} tokens sent, the report says ${JSON.stringify(report)}; refused chunks ${burst.refusedChunks}`);
    }
    const phase = {
      acksPerSecond: Math.round(burst.lines / burst.seconds),
      sends: burst.lines,
      seconds: round(burst.seconds, 3),
      daemonCpuMicrosPerSend: round((cpuSeconds * 1e6) / burst.lines, 2),
      cpuCores: {
        daemon: usage.cores[pid] ?? 0,
        client: usage.self,
        ...(fake === undefined ? {} : { fake: usage.cores[fake.child.pid as number] ?? 0 }),
        otherProcesses: usage.others,
        load1: usage.load1,
      },
    };
    if (fake === undefined) return phase;
    const pending = Number(report.pending);
    // Pending must never have run out, or part of the timed sends met an idle delivery.
    if (pending < BACKLOG_PER_SEND) throw new Error(`${label}: delivery ran out of work (pending ${pending}); raise BACKLOG`);
    return { ...phase, deliveredPerSecond: Math.round((Number(report.successes) - deliveredBefore) / burst.seconds), pendingAtEnd: pending };
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}

async function alone(variant: (typeof VARIANTS)[number], upstream: string, dir: string): Promise<Phase & { workers?: number }> {
  const daemon = await launchDaemon(dir, [
    '--socket', join(dir, `alone-${variant.name}.sock`), '--spool', join(dir, `alone-${variant.name}.db`), '--sync', 'normal',
    '--provider', 'gcm', '--apikey', 'k', '--gcm-endpoint', upstream,
    '--concurrency', '1', '--request-timeout', '1h', '--drain-timeout', '100ms', ...variant.args,
  ]);
  try {
    return { ...(await timedSends(daemon, `alone, ${variant.label}`, 0)), workers: workersOf(daemon) };
  } finally {
    await stopDaemon(daemon);
  }
}

/** The backlog in sends of 1,000 tokens over one connection, a few at a time; then wait until delivery is running. */
async function fillBacklog(daemon: DaemonProcess, label: string): Promise<void> {
  note(`${label}: a backlog of ${BACKLOG.toLocaleString('en')} tokens`);
  const [socket] = await openSockets(daemon.socket, 1);
  let next = 0;
  const makeSends = (lines: number): string => {
    let text = '';
    for (let line = 0; line < lines; line++) text += sendLine(Array.from({ length: BACKLOG_PER_SEND }, () => `backlog-${next++}`));
    return text;
  };
  try {
    await saturate([socket as NonNullable<typeof socket>], { linesPerConnection: BACKLOG / BACKLOG_PER_SEND, window: 4, batch: 1, makeBatch: makeSends });
  } finally {
    socket?.destroy();
  }
  const deadline = performance.now() + 30_000;
  while ((await successes(daemon)) < DELIVERED_BEFORE_START) {
    if (performance.now() > deadline) throw new Error(`${label}: delivery did not start within 30 s`);
    await sleep(20);
  }
}

async function delivering(variant: (typeof VARIANTS)[number], fake: FakeFcmProcess, dir: string): Promise<Phase> {
  const label = `delivering, ${variant.label}`;
  const daemon = await launchDaemon(
    dir,
    [
      '--socket', join(dir, `delivering-${variant.name}.sock`), '--spool', join(dir, `delivering-${variant.name}.db`), '--sync', 'normal',
      '--credentials', fake.credentials, '--fcm-endpoint', fake.url, '--drain-timeout', '1s', ...variant.args,
    ],
    { NODE_EXTRA_CA_CERTS: fake.caFile },
  );
  try {
    await fillBacklog(daemon, label);
    return await timedSends(daemon, label, BACKLOG, fake);
  } finally {
    await stopDaemon(daemon);
  }
}

async function main(): Promise<void> {
  hardLimit(TIME_LIMIT_MS);
  const dir = tempDir('gocm-bench-ingest-delivering-');
  removeOnCleanup(dir);
  const upstream = await startSilentUpstream();
  note(`fake FCM (TLS, HTTP/2, ${LATENCY_MS} ms) in its own process`);
  const fake = await startFakeFcmProcess(LATENCY_MS);
  const figures: Record<string, { alone: Phase & { workers?: number }; delivering: Phase }> = {};
  try {
    for (const variant of VARIANTS) {
      figures[variant.name] = { alone: await alone(variant, upstream.url, dir), delivering: await delivering(variant, fake, dir) };
    }
  } finally {
    upstream.server.close();
    await fake.stop();
  }
  const others = Math.max(...Object.values(figures).flatMap(({ alone: a, delivering: d }) => [a.cpuCores.otherProcesses, d.cpuCores.otherProcesses]));
  const readable = VARIANTS.map((variant) => {
    const { alone: a, delivering: d } = figures[variant.name] as (typeof figures)[string];
    const label = variant.name === 'default' && a.workers !== undefined ? `${variant.label} (${a.workers})` : variant.label;
    return (
      `${label}: alone ${a.acksPerSecond.toLocaleString('en')} acks/s (${a.daemonCpuMicrosPerSend} µs a send), ` +
      `while delivering ${d.acksPerSecond.toLocaleString('en')} acks/s with ${(d.deliveredPerSecond ?? 0).toLocaleString('en')} tokens/s delivered`
    );
  });
  printResult(
    'ingest-delivering',
    { clients: CLIENTS, window: WINDOW, batch: BATCH, backlog: BACKLOG, latencyMs: LATENCY_MS, spool: 'sqlite', sync: 'normal', ...figures, targets: TARGETS },
    `${CLIENTS} clients × ${WINDOW} pipelined one-token sends, SQLite spool: ${readable.join('; ')} ` +
      `(targets: ≥ ${TARGETS.aloneAcksPerSecond.toLocaleString('en')} alone, ≥ ${TARGETS.deliveringAcksPerSecond.toLocaleString('en')} while delivering)${busyNote(others)}`,
  );
}

runScenario(main);
