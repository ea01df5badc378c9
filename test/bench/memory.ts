// Benchmark: the daemon's memory with a million tokens pending in the SQLite
// spool (issue 6), and how long it takes to accept them. Sends of 1,000
// tokens of realistic size (~160 characters) arrive over 8 connections; the
// fake FCM server (own process) never answers tokens named `hang…`, and
// --request-timeout 1h keeps the daemon's --concurrency requests (default
// 2,000) hanging, so everything stays pending and the in-flight state is the
// daemon's real one. RSS comes from /proc/<pid>/status: VmHWM is the peak.
//
//   node dist/test/bench/memory.js [--quick]
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { tempDir } from '../support/daemon.js';
import { hardLimit, launchDaemon, memoryOf, note, printResult, QUICK, removeOnCleanup, round, runScenario, sleep, startFakeFcmProcess, stopDaemon } from './common.js';
import { openSockets, saturate } from './line-load.js';
import { sendLine } from './payload.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '2000' },
  },
});
const TOKENS = QUICK ? 200_000 : 1_000_000;
const PER_SEND = 1_000;
const CLIENTS = 8;
/** Sends (of 1,000 tokens) a client may have unanswered. */
const WINDOW = 4;
const TARGET_MIB = 200;
const TIME_LIMIT_MS = QUICK ? 60_000 : 300_000;

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

async function main(): Promise<void> {
  hardLimit(TIME_LIMIT_MS);
  const dir = tempDir('gocm-bench-memory-');
  removeOnCleanup(dir);
  const fake = await startFakeFcmProcess(0);
  const spool = join(dir, 'spool.db');
  const daemon = await launchDaemon(
    dir,
    [
      '--socket', join(dir, 'gocm.sock'), '--spool', spool,
      '--credentials', fake.credentials, '--fcm-endpoint', fake.url,
      '--concurrency', flags.concurrency, '--request-timeout', '1h', '--drain-timeout', '100ms',
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
    note(`${TOKENS.toLocaleString('en')} tokens in sends of ${PER_SEND} over ${CLIENTS} connections`);
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

    const peak = Math.max(atRest.peakMiB, sampledPeak);
    printResult(
      'memory',
      {
        tokens: TOKENS,
        tokenChars: token(0).length,
        acceptSeconds: round(accepted.seconds, 2),
        acceptedPerSecond: Math.round(TOKENS / accepted.seconds),
        rssMiB: { idle: idle.rssMiB, afterAccept: afterAccept.rssMiB, atRest: atRest.rssMiB, peak },
        queue: { pending: queue.pending, inflight: queue.inflight, queued: queue.queued },
        spoolMiB: round(spoolBytes(spool) / 2 ** 20, 1),
        targets: { peakMiB: TARGET_MIB },
      },
      `${TOKENS.toLocaleString('en')} tokens pending (${queue.inflight} in flight): peak RSS ${peak} MiB, ${atRest.rssMiB} MiB at rest ` +
        `(idle ${idle.rssMiB} MiB); accepted in ${round(accepted.seconds, 1)} s (${Math.round(TOKENS / accepted.seconds).toLocaleString('en')} tokens/s); ` +
        `spool ${round(spoolBytes(spool) / 2 ** 20)} MiB (target: peak ≤ ${TARGET_MIB} MiB)`,
    );
  } finally {
    await stopDaemon(daemon);
    await fake.stop();
  }
}

runScenario(main);
