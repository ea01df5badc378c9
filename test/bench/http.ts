// Benchmark: GoCM's own workload against gocm's HTTP API (SPEC.md "GoCM's
// HTTP API"): one-token form posts from 64 keep-alive clients (wrk), beside
// the same sends over the Unix socket from 64 clients that each wait for
// their answer, as an HTTP/1.1 client does. Each measurement has a daemon of
// its own, on a fresh SQLite spool (--sync normal).
//   1. acknowledgements a second, delivery kept out (a silent upstream, see
//      ingest.ts), and the daemon's CPU per send: the HTTP path's overhead;
//   2. end to end: the fake FCM v1 server (its own process, TLS + HTTP/2,
//      answering after 200 ms) delivers every token; the clock runs from the
//      first send to the report that says pending 0.
//
//   node dist/test/bench/http.js [--quick] [--seconds N] [--threads N]
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { type DaemonProcess, tempDir } from '../support/daemon.js';
import { httpPort } from '../support/http-client.js';
import { busyNote, CpuWatch, type FakeFcmProcess, hardLimit, launchDaemon, note, printResult, QUICK, removeOnCleanup, round, runScenario, sleep, startFakeFcmProcess, stopDaemon } from './common.js';
import { openSockets, saturate } from './line-load.js';
import { startSilentUpstream } from './silent-upstream.js';
import { runWrk } from './wrk.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string', default: QUICK ? '3' : '10' },
    // One wrk thread drives 64 connections easily and leaves the daemon a core.
    threads: { type: 'string', default: '1' },
  },
});
const SECONDS = Number(flags.seconds);
const CLIENTS = 64;
const LATENCY_MS = 200;
const POLL_MS = 50;
const TOKEN = `bench:APA91b${'x'.repeat(140)}`;

interface Figures {
  readonly sends: number;
  readonly acksPerSecond: number;
  /** CPU time of the daemon per acknowledged send. */
  readonly daemonCpuMicrosPerSend: number;
  readonly cpuCores: { readonly daemon: number; readonly otherProcesses: number };
  readonly latencyMs?: { readonly p50: number; readonly p99: number; readonly max: number };
  /** End to end only. */
  readonly deliveredPerSecond?: number;
  readonly seconds?: number;
}

type Path = 'http' | 'socket';

/** Send over `path` (for `SECONDS`, or `sends` of them over the socket); resolves when every send is answered. */
async function load(path: Path, daemon: DaemonProcess, dir: string, prefix: string, sends: number | undefined) {
  if (path === 'http') {
    const result = await runWrk(dir, `http://127.0.0.1:${httpPort(daemon)}/gcm/send`, { seconds: SECONDS, connections: CLIENTS, threads: Number(flags.threads), prefix });
    if (result.non2xx + result.socketErrors > 0) throw new Error(`wrk: ${result.non2xx} answers not 2xx, ${result.socketErrors} socket errors`);
    return { requests: result.requests, seconds: result.seconds, latencyMs: result.latencyMs };
  }
  const sockets = await openSockets(daemon.socket, CLIENTS);
  let counter = 0;
  const makeBatch = (): string => `{"cmd":"send","tokens":["${prefix}:${TOKEN}-${counter++}"],"payload":{"title":"Hi","n":3}}\n`;
  const result = await saturate(sockets, { linesPerConnection: Math.ceil((sends ?? 0) / CLIENTS), window: 1, batch: 1, makeBatch });
  for (const socket of sockets) socket.destroy();
  if (result.refusedChunks > 0) throw new Error(`socket: ${result.refusedChunks} refused replies`);
  return { requests: result.lines, seconds: result.seconds, latencyMs: undefined };
}

async function acks(path: Path, dir: string, upstream: string, sends?: number): Promise<Figures> {
  const daemon = await launchDaemon(dir, [
    '--socket', join(dir, `acks-${path}.sock`), '--http', '127.0.0.1:0', '--spool', join(dir, `acks-${path}.db`),
    '--provider', 'gcm', '--apikey', 'k', '--gcm-endpoint', upstream, '--concurrency', '1', '--request-timeout', '1h', '--drain-timeout', '100ms',
  ]);
  try {
    const pid = daemon.child.pid as number;
    const watch = new CpuWatch([pid]);
    const sent = await load(path, daemon, dir, `acks-${path}`, sends);
    const usage = watch.read();
    const report = await daemon.request({ cmd: 'report' });
    // wrk does not count the requests still in flight when its time is up; the daemon may have taken them.
    const attempts = Number(report.attempts);
    if (attempts < sent.requests || attempts > sent.requests + CLIENTS) throw new Error(`${path}: ${sent.requests} sends answered, the report says ${JSON.stringify(report)}`);
    const daemonCores = usage.cores[pid] ?? 0;
    return {
      sends: sent.requests,
      acksPerSecond: Math.round(sent.requests / sent.seconds),
      daemonCpuMicrosPerSend: round((daemonCores * usage.seconds * 1e6) / sent.requests, 1),
      cpuCores: { daemon: daemonCores, otherProcesses: usage.others },
      ...(sent.latencyMs && { latencyMs: sent.latencyMs }),
    };
  } finally {
    await stopDaemon(daemon);
  }
}

async function endToEnd(path: Path, dir: string, fake: FakeFcmProcess, sends?: number): Promise<Figures> {
  const daemon = await launchDaemon(
    dir,
    [
      '--socket', join(dir, `e2e-${path}.sock`), '--http', '127.0.0.1:0', '--spool', join(dir, `e2e-${path}.db`),
      '--credentials', fake.credentials, '--fcm-endpoint', fake.url, '--drain-timeout', '1s',
    ],
    { NODE_EXTRA_CA_CERTS: fake.caFile },
  );
  try {
    const pid = daemon.child.pid as number;
    const watch = new CpuWatch([pid]);
    const started = performance.now();
    const sent = await load(path, daemon, dir, `e2e-${path}`, sends);
    let report = await daemon.request({ cmd: 'report' });
    while (report.pending !== 0) {
      await sleep(POLL_MS);
      report = await daemon.request({ cmd: 'report' });
    }
    const seconds = (performance.now() - started) / 1000;
    const usage = watch.read();
    const tokens = Number(report.attempts);
    if (report.successes !== tokens || report.failures !== 0) throw new Error(`${path}: not every token was delivered: ${JSON.stringify(report)}`);
    const daemonCores = usage.cores[pid] ?? 0;
    return {
      sends: tokens,
      acksPerSecond: Math.round(sent.requests / sent.seconds),
      deliveredPerSecond: Math.round(tokens / seconds),
      seconds: round(seconds, 2),
      daemonCpuMicrosPerSend: round((daemonCores * seconds * 1e6) / tokens, 1),
      cpuCores: { daemon: daemonCores, otherProcesses: usage.others },
      ...(sent.latencyMs && { latencyMs: sent.latencyMs }),
    };
  } finally {
    await stopDaemon(daemon);
  }
}

async function main(): Promise<void> {
  hardLimit((SECONDS * 8 + 120) * 1000);
  const dir = tempDir('gocm-bench-http-');
  removeOnCleanup(dir);
  const silent = await startSilentUpstream();
  let ackFigures: { http: Figures; socket: Figures };
  try {
    note(`acknowledgements over HTTP: wrk, ${CLIENTS} keep-alive connections, ${SECONDS} s of one-token form posts`);
    const http = await acks('http', dir, silent.url);
    note(`acknowledgements over the socket: ${CLIENTS} clients, ${http.sends} one-token sends, one at a time each`);
    ackFigures = { http, socket: await acks('socket', dir, silent.url, http.sends) };
  } finally {
    silent.server.close();
  }
  note(`end to end: fake FCM (TLS, HTTP/2, ${LATENCY_MS} ms) in its own process`);
  const fake = await startFakeFcmProcess(LATENCY_MS);
  let e2e: { http: Figures; socket: Figures };
  try {
    const http = await endToEnd('http', dir, fake);
    note(`end to end over the socket: ${http.sends} sends`);
    e2e = { http, socket: await endToEnd('socket', dir, fake, http.sends) };
  } finally {
    await fake.stop();
  }
  const overhead = round(ackFigures.http.daemonCpuMicrosPerSend / ackFigures.socket.daemonCpuMicrosPerSend, 2);
  const others = Math.max(...[ackFigures.http, ackFigures.socket, e2e.http, e2e.socket].map((figures) => figures.cpuCores.otherProcesses));
  printResult(
    'http',
    { clients: CLIENTS, seconds: SECONDS, latencyMs: LATENCY_MS, acks: ackFigures, endToEnd: e2e, cpuPerSendHttpToSocket: overhead },
    `${CLIENTS} keep-alive clients, one-token sends, SQLite spool: ` +
      `HTTP ${ackFigures.http.acksPerSecond.toLocaleString('en')} acks/s (p50 ${ackFigures.http.latencyMs?.p50} ms, p99 ${ackFigures.http.latencyMs?.p99} ms), ` +
      `socket ${ackFigures.socket.acksPerSecond.toLocaleString('en')} acks/s; daemon CPU per send ${ackFigures.http.daemonCpuMicrosPerSend} µs vs ${ackFigures.socket.daemonCpuMicrosPerSend} µs (${overhead}×); ` +
      `end to end at ${LATENCY_MS} ms: HTTP ${e2e.http.deliveredPerSecond?.toLocaleString('en')} tokens/s (${e2e.http.sends.toLocaleString('en')} tokens, acked at ${e2e.http.acksPerSecond.toLocaleString('en')}/s), ` +
      `socket ${e2e.socket.deliveredPerSecond?.toLocaleString('en')} tokens/s (acked at ${e2e.socket.acksPerSecond.toLocaleString('en')}/s)${busyNote(others)}`,
  );
}

runScenario(main);
