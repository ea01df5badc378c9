// The moving parts of the fleet benchmark (fleet.ts, fleet-churn.ts): a spool
// of either kind, gocmd daemons on it — accepting only, or delivering to the
// fake FCM —, a spool filled before a delivery run, and deliveries timed by
// the daemons' reports.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect, type DaemonProcess, type Reply } from '../support/daemon.js';
import type { PostgresCluster } from '../support/postgres.js';
import { type FakeFcmProcess, launchDaemon, sleep, stopDaemon } from './common.js';
import { sendLine } from './payload.js';
import { freshDatabase } from './pg-server.js';
import type { SilentUpstream } from './silent-upstream.js';

export type SpoolKind = 'sqlite' | 'postgres';

export interface BenchSpool {
  readonly kind: SpoolKind;
  /** What --spool gets: a file, or a postgres:// URL. */
  readonly spool: string;
  /** What the daemon needs beside it (the password file). */
  readonly env: NodeJS.ProcessEnv;
}

let spools = 0;
let sockets = 0;

/** A new, empty spool: a fresh SQLite file, or a fresh database on the cluster. */
export async function newSpool(kind: SpoolKind, dir: string, cluster: PostgresCluster): Promise<BenchSpool> {
  if (kind === 'sqlite') return { kind, spool: join(dir, `spool-${spools++}.db`), env: {} };
  return { kind, spool: await freshDatabase(cluster, 'fleet'), env: cluster.env };
}

const socketIn = (dir: string): string => join(dir, `gocm-${sockets++}.sock`);

/**
 * A daemon that accepts sends and delivers nothing meanwhile: --concurrency 1
 * and one request (at most 1,000 tokens) hanging on the silent upstream for
 * the whole run. A SIGTERM gives that request's tokens back to the spool.
 */
export function acceptingDaemon(dir: string, spool: BenchSpool, upstream: SilentUpstream): Promise<DaemonProcess> {
  return launchDaemon(
    dir,
    [
      '--socket', socketIn(dir), '--spool', spool.spool,
      '--provider', 'gcm', '--apikey', 'k', '--gcm-endpoint', upstream.url,
      '--concurrency', '1', '--request-timeout', '1h', '--drain-timeout', '100ms',
    ],
    spool.env,
  );
}

/** A daemon on `spool` that delivers to the fake FCM (its defaults, unless `args` say otherwise). */
export function deliveringDaemon(dir: string, spool: BenchSpool, fake: FakeFcmProcess, args: readonly string[] = []): Promise<DaemonProcess> {
  return launchDaemon(
    dir,
    ['--socket', socketIn(dir), '--spool', spool.spool, '--credentials', fake.credentials, '--fcm-endpoint', fake.url, '--drain-timeout', '1s', ...args],
    { NODE_EXTRA_CA_CERTS: fake.caFile, ...spool.env },
  );
}

/** Put `tokens` tokens (named `prefix-N`) into `spool` in sends of `perSend`, through an accepting daemon that then stops. */
export async function fillSpool(dir: string, spool: BenchSpool, upstream: SilentUpstream, tokens: number, perSend: number, prefix: string): Promise<void> {
  const daemon = await acceptingDaemon(dir, spool, upstream);
  try {
    const client = await connect(daemon.socket);
    for (let first = 0; first < tokens; first += perSend) {
      const count = Math.min(perSend, tokens - first);
      client.socket.write(sendLine(Array.from({ length: count }, (_, i) => `${prefix}-${first + i}`)));
    }
    for (let first = 0; first < tokens; first += perSend) {
      const reply = await client.next();
      if (reply.ok !== true) throw new Error(`filling the spool: a send was refused: ${JSON.stringify(reply)}`);
    }
    client.close();
  } finally {
    await stopDaemon(daemon);
  }
}

export interface DeliveryTiming {
  /** Tokens final in the timed window: from the first report in which every daemon had settled a token, to the one with none pending. */
  readonly tokens: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Tokens each daemon settled, in the order given. */
  readonly perDaemon: readonly number[];
}

const finalOf = (report: Reply): number => Number(report.successes) + Number(report.failures);

/**
 * Times daemons delivering `expected` tokens between them, as delivery.ts
 * does: by their reports, asked every `pollMs` on connections kept open.
 * The window opens at the first report in which every daemon has settled a
 * token, so that a fleet is timed at its full strength, and closes at the
 * first with nothing pending in the spool. (Events from `subscribe` would be
 * finer, but a subscriber that reads at once still loses the events of one
 * committed batch beyond about 1,400 (its 64 KiB of output, then 1,000
 * queued lines), and hears of the gap only before a next event, which may
 * never come: 1,016 lines of 5,000 tokens delivered in one send, no gap.)
 */
export async function timeDelivery(daemons: readonly DaemonProcess[], expected: number, pollMs: number, timeoutMs: number): Promise<DeliveryTiming> {
  const clients = await Promise.all(daemons.map((daemon) => connect(daemon.socket)));
  try {
    const deadline = performance.now() + timeoutMs;
    const ask = (): Promise<Reply[]> => Promise.all(clients.map((client) => client.request({ cmd: 'report' })));
    let reports = await ask();
    let startedAt = NaN;
    let startCount = 0;
    for (;;) {
      const now = performance.now();
      const finals = reports.map(finalOf);
      if (Number.isNaN(startedAt) && finals.every((final) => final > 0)) {
        startedAt = now;
        startCount = finals.reduce((sum, final) => sum + final, 0);
      }
      if (reports[0]?.pending === 0 && finals.reduce((sum, final) => sum + final, 0) >= expected) {
        const failures = reports.reduce((sum, report) => sum + Number(report.failures), 0);
        if (failures > 0) throw new Error(`${failures} tokens failed: ${JSON.stringify(reports)}`);
        const tokens = expected - startCount;
        const seconds = (now - startedAt) / 1000;
        return { tokens, seconds, perSecond: Math.round(tokens / seconds), perDaemon: finals };
      }
      if (now > deadline) throw new Error(`${expected} tokens not final within ${timeoutMs / 1000} s: ${JSON.stringify(reports)}`);
      await sleep(pollMs);
      reports = await ask();
    }
  } finally {
    for (const client of clients) client.close();
  }
}
