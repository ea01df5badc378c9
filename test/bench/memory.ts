// Benchmark: the daemon's memory with a million tokens pending in the SQLite
// spool (issues 6 and 16), and how long it takes to accept them, with
// --workers 1 and with the default, each a fresh daemon and spool. Sends of 1,000
// tokens of realistic size (~160 characters) arrive over 8 connections; the
// fake FCM server (own process) never answers tokens named `hang…`, and
// --request-timeout 1h keeps the daemon's --concurrency requests (its
// default) hanging, so everything stays pending and the in-flight state is the
// daemon's real one. RSS comes from /proc/<pid>/status: VmHWM is the peak.
//
//   node dist/test/bench/memory.js [--quick]
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OPTIONS } from '../../src/config.js';
import { tempDir } from '../support/daemon.js';
import { type FakeFcmProcess, hardLimit, launchDaemon, memoryOf, note, printResult, QUICK, removeOnCleanup, round, runScenario, sleep, startFakeFcmProcess, stopDaemon, workersOf } from './common.js';
import { openSockets, saturate } from './line-load.js';
import { sendLine } from './payload.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: String(OPTIONS.concurrency.default) },
  },
});
const TOKENS = QUICK ? 200_000 : 1_000_000;
const PER_SEND = 1_000;
const CLIENTS = 8;
/** Sends (of 1,000 tokens) a client may have unanswered. */
const WINDOW = 4;
const TARGET_MIB = 200;
const TIME_LIMIT_MS = QUICK ? 90_000 : 420_000;

/** Token `n`: starts with "hang" (the fake never answers it), ~160 characters like a real one. */
function token(n: number): string {
  const head = `hang-${n}-`;
  return head + 'x'.repeat(160 - head.length);
}

function spoolBytes(path: string): number {
  let bytes = 0;
  for (const file of [path, `${path}-wal`]) {
    try {
      bytes += statSync(file).size;
    } catch {
      // no WAL file at this moment
    }
  }
  return bytes;
}

const VARIANTS = [
  { name: 'workers1', label: '--workers 1', args: ['--workers', '1'] },
  { name: 'default', label: 'default workers', args: [] },
] as const;

interface Figures {
  readonly workers: number | undefined;
  readonly acceptSeconds: number;
  readonly acceptedPerSecond: number;
  readonly rssMiB: { readonly idle: number; readonly afterAccept: number; readonly atRest: number; readonly peak: number };
  readonly queue: { readonly pending: unknown; readonly inflight: unknown; readonly queued: unknown };
  readonly spoolMiB: number;
}

/** A fresh daemon and spool: fill it with TOKENS tokens that stay pending, and watch its RSS. */
async function measure(variant: (typeof VARIANTS)[number], fake: FakeFcmProcess, dir: string): Promise<Figures> {
  const spool = join(dir, `${variant.name}.db`);
  const daemon = await launchDaemon(
    dir,
    [
      '--socket', join(dir, `${variant.name}.sock`), '--spool', spool,
      '--credentials', fake.credentials, '--fcm-endpoint', fake.url,
      '--concurrency', flags.concurrency, '--request-timeout', '1h', '--drain-timeout', '100ms', ...variant.args,
    ],
    { NODE_EXTRA_CA_CERTS: fake.caFile },
  );
  const pid = daemon.child.pid as number;
  try {
    const idle = memoryOf(pid);
    const sockets = await openSockets(daemon.socket, CLIENTS);
    let next = 0;
    const makeBatch = (lines: number): string => {
      let text = '';
      for (let line = 0; line < lines; line++) {
        const tokens: string[] = [];
        for (let i = 0; i < PER_SEND; i++) tokens.push(token(next++));
        text += sendLine(tokens);
      }
      return text;
    };
    // The highest RSS seen while accepting, sampled; VmHWM is the kernel's exact peak.
    let sampledPeak = 0;
    const sampler = setInterval(() => (sampledPeak = Math.max(sampledPeak, memoryOf(pid).rssMiB)), 100);
    note(`${variant.label}: ${TOKENS.toLocaleString('en')} tokens in sends of ${PER_SEND} over ${CLIENTS} connections`);
    const accepted = await saturate(sockets, { linesPerConnection: TOKENS / PER_SEND / CLIENTS, window: WINDOW, batch: 1, makeBatch });
    clearInterval(sampler);
    for (const socket of sockets) socket.destroy();
    const afterAccept = memoryOf(pid);

    // Let the engine claim its share and the heap settle, then look again.
    let queue = await daemon.request({ cmd: 'queue' });
    for (let i = 0; i < 50 && queue.inflight !== Math.min(Number(flags.concurrency), TOKENS); i++) {
      await sleep(100);
      queue = await daemon.request({ cmd: 'queue' });
    }
    await sleep(2_000);
    queue = await daemon.request({ cmd: 'queue' });
    const atRest = memoryOf(pid);
    if (queue.pending !== TOKENS) throw new Error(`expected ${TOKENS} pending, the daemon says ${JSON.stringify(queue)}`);
    return {
      workers: workersOf(daemon),
      acceptSeconds: round(accepted.seconds, 2),
      acceptedPerSecond: Math.round(TOKENS / accepted.seconds),
      rssMiB: { idle: idle.rssMiB, afterAccept: afterAccept.rssMiB, atRest: atRest.rssMiB, peak: Math.max(atRest.peakMiB, sampledPeak) },
      queue: { pending: queue.pending, inflight: queue.inflight, queued: queue.queued },
      spoolMiB: round(spoolBytes(spool) / 2 ** 20, 1),
    };
  } finally {
    await stopDaemon(daemon);
  }
}

async function main(): Promise<void> {
  hardLimit(TIME_LIMIT_MS);
  const dir = tempDir('gocm-bench-memory-');
  removeOnCleanup(dir);
  const fake = await startFakeFcmProcess(0);
  const figures: Record<string, Figures> = {};
  try {
    for (const variant of VARIANTS) figures[variant.name] = await measure(variant, fake, dir);
  } finally {
    await fake.stop();
  }
  const readable = VARIANTS.map((variant) => {
    const f = figures[variant.name] as Figures;
    const label = variant.name === 'default' && f.workers !== undefined ? `${variant.label} (${f.workers})` : variant.label;
    return (
      `${label}: peak RSS ${f.rssMiB.peak} MiB, ${f.rssMiB.atRest} MiB at rest (idle ${f.rssMiB.idle} MiB, ${String(f.queue.inflight)} in flight); ` +
      `accepted in ${round(f.acceptSeconds, 1)} s (${f.acceptedPerSecond.toLocaleString('en')} tokens/s); spool ${round(f.spoolMiB)} MiB`
    );
  });
  printResult(
    'memory',
    { tokens: TOKENS, tokenChars: token(0).length, concurrency: Number(flags.concurrency), ...figures, targets: { peakMiB: TARGET_MIB } },
    `${TOKENS.toLocaleString('en')} tokens pending: ${readable.join('; ')} (target: peak ≤ ${TARGET_MIB} MiB)`,
  );
}

runScenario(main);
