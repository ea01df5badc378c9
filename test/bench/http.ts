// Benchmark: GoCM's own workload against gocm's HTTP API (SPEC.md "GoCM's
// HTTP API"): one-token form posts from 64 keep-alive clients (wrk), beside
// the same sends over the Unix socket from 64 clients that each wait for
// their answer, as an HTTP/1.1 client does. Each measurement has a daemon of
// its own, on a fresh SQLite spool (--sync normal).
//   1. acknowledgements a second, delivery kept out (a silent upstream, see
//      ingest.ts), and the daemon's CPU per send: the HTTP path's overhead;
//      beside a bare node:http server (bare-http.ts) answering the same posts:
//      the floor under any node:http path;
//   2. end to end: the fake FCM v1 server (its own process, TLS + HTTP/2,
//      answering after 200 ms) delivers every token; the clock runs from the
//      first send to the report that says pending 0.
//
//   node dist/test/bench/http.js [--quick] [--seconds N] [--threads N]
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { type DaemonProcess, tempDir } from '../support/daemon.js';
import { httpPort } from '../support/http-client.js';
import { busyNote, CpuWatch, type FakeFcmProcess, hardLimit, killOnCleanup, launchDaemon, note, printResult, QUICK, reapedChildrenCpuSeconds, removeOnCleanup, round, runScenario, sleep, startFakeFcmProcess, stopDaemon } from './common.js';
import { createInterface } from 'node:readline';
import { ROOT } from '../support/daemon.js';
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
  /** The load generator (wrk, or this process' socket clients), the fake FCM server (end to end), and the rest of the machine. */
  readonly cpuCores: { readonly daemon: number; readonly client: number; readonly fake?: number; readonly otherProcesses: number };
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
    const usage = await watched([pid], () => load(path, daemon, dir, `acks-${path}`, sends));
    const sent = usage.result;
    const report = await daemon.request({ cmd: 'report' });
    // wrk does not count the requests still in flight when its time is up; the daemon may have taken them.
    const attempts = Number(report.attempts);
    if (attempts < sent.requests || attempts > sent.requests + CLIENTS) throw new Error(`${path}: ${sent.requests} sends answered, the report says ${JSON.stringify(report)}`);
    const daemonCores = usage.cores[pid] ?? 0;
    return {
      sends: sent.requests,
      acksPerSecond: Math.round(sent.requests / sent.seconds),
      daemonCpuMicrosPerSend: round((daemonCores * usage.seconds * 1e6) / sent.requests, 1),
      cpuCores: { daemon: daemonCores, client: usage.client, otherProcesses: usage.others },
      ...(sent.latencyMs && { latencyMs: sent.latencyMs }),
    };
  } finally {
    await stopDaemon(daemon);
  }
}

/** Run `work` watching the CPU of `pids`, of the load generator (wrk once reaped, or this process) and of the rest. */
async function watched<T>(pids: readonly number[], work: () => Promise<T>) {
  const watch = new CpuWatch(pids);
  const reaped = reapedChildrenCpuSeconds();
  const result = await work();
  const usage = watch.read();
  const wrk = (reapedChildrenCpuSeconds() - reaped) / usage.seconds;
  return { result, seconds: usage.seconds, cores: usage.cores, client: round(usage.self + wrk, 2), others: round(Math.max(0, usage.others - wrk), 2) };
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
    const fakePid = fake.child.pid as number;
    const started = performance.now();
    const usage = await watched([pid, fakePid], async () => {
      const sent = await load(path, daemon, dir, `e2e-${path}`, sends);
      let report = await daemon.request({ cmd: 'report' });
      while (report.pending !== 0) {
        await sleep(POLL_MS);
        report = await daemon.request({ cmd: 'report' });
      }
      return { sent, report };
    });
    const seconds = (performance.now() - started) / 1000;
    const { sent, report } = usage.result;
    const tokens = Number(report.attempts);
    if (report.successes !== tokens || report.failures !== 0) throw new Error(`${path}: not every token was delivered: ${JSON.stringify(report)}`);
    const daemonCores = usage.cores[pid] ?? 0;
    return {
      sends: tokens,
      acksPerSecond: Math.round(sent.requests / sent.seconds),
      deliveredPerSecond: Math.round(tokens / seconds),
      seconds: round(seconds, 2),
      daemonCpuMicrosPerSend: round((daemonCores * usage.seconds * 1e6) / tokens, 1),
      cpuCores: { daemon: daemonCores, client: usage.client, fake: usage.cores[fakePid] ?? 0, otherProcesses: usage.others },
      ...(sent.latencyMs && { latencyMs: sent.latencyMs }),
    };
  } finally {
    await stopDaemon(daemon);
  }
}

/** The bare node:http server under the same wrk load: its CPU per request. */
async function bare(dir: string): Promise<Figures> {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'test', 'bench', 'bare-http.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  killOnCleanup(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const lines = createInterface({ input: child.stdout });
    const port = Number(await new Promise<string>((resolve) => lines.once('line', resolve)));
    lines.close();
    const pid = child.pid as number;
    const usage = await watched([pid], () => runWrk(dir, `http://127.0.0.1:${port}/gcm/send`, { seconds: SECONDS, connections: CLIENTS, threads: Number(flags.threads), prefix: 'bare' }));
    const cores = usage.cores[pid] ?? 0;
    return {
      sends: usage.result.requests,
      acksPerSecond: Math.round(usage.result.requests / usage.result.seconds),
      daemonCpuMicrosPerSend: round((cores * usage.seconds * 1e6) / usage.result.requests, 1),
      cpuCores: { daemon: cores, client: usage.client, otherProcesses: usage.others },
      latencyMs: usage.result.latencyMs,
    };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

async function main(): Promise<void> {
  hardLimit((SECONDS * 8 + 120) * 1000);
  const dir = tempDir('gocm-bench-http-');
  removeOnCleanup(dir);
  const silent = await startSilentUpstream();
  let ackFigures: { http: Figures; socket: Figures; bareNodeHttp: Figures };
  try {
    note(`acknowledgements over HTTP: wrk, ${CLIENTS} keep-alive connections, ${SECONDS} s of one-token form posts`);
    const http = await acks('http', dir, silent.url);
    note(`acknowledgements over the socket: ${CLIENTS} clients, ${http.sends} one-token sends, one at a time each`);
    const socket = await acks('socket', dir, silent.url, http.sends);
    note('a bare node:http server under the same load');
    ackFigures = { http, socket, bareNodeHttp: await bare(dir) };
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
  const others = Math.max(...[ackFigures.http, ackFigures.socket, ackFigures.bareNodeHttp, e2e.http, e2e.socket].map((figures) => figures.cpuCores.otherProcesses));
  // What gocm's HTTP layer adds to a send beyond node:http's own cost per request.
  const layer = round(ackFigures.http.daemonCpuMicrosPerSend - ackFigures.socket.daemonCpuMicrosPerSend - ackFigures.bareNodeHttp.daemonCpuMicrosPerSend, 1);
  printResult(
    'http',
    { clients: CLIENTS, seconds: SECONDS, latencyMs: LATENCY_MS, acks: ackFigures, endToEnd: e2e, cpuPerSendHttpToSocket: overhead, httpLayerCpuMicrosPerSend: layer },
    `${CLIENTS} keep-alive clients, one-token sends, SQLite spool: ` +
      `HTTP ${ackFigures.http.acksPerSecond.toLocaleString('en')} acks/s (p50 ${ackFigures.http.latencyMs?.p50} ms, p99 ${ackFigures.http.latencyMs?.p99} ms), ` +
      `socket ${ackFigures.socket.acksPerSecond.toLocaleString('en')} acks/s; daemon CPU per send ${ackFigures.http.daemonCpuMicrosPerSend} µs vs ${ackFigures.socket.daemonCpuMicrosPerSend} µs (${overhead}×), ` +
      `a bare node:http server ${ackFigures.bareNodeHttp.daemonCpuMicrosPerSend} µs a request (${ackFigures.bareNodeHttp.acksPerSecond.toLocaleString('en')}/s), so gocm's HTTP layer ${layer} µs; ` +
      `end to end at ${LATENCY_MS} ms: HTTP ${e2e.http.deliveredPerSecond?.toLocaleString('en')} tokens/s (${e2e.http.sends.toLocaleString('en')} tokens, acked at ${e2e.http.acksPerSecond.toLocaleString('en')}/s), ` +
      `socket ${e2e.socket.deliveredPerSecond?.toLocaleString('en')} tokens/s (acked at ${e2e.socket.acksPerSecond.toLocaleString('en')}/s)${busyNote(others)}`,
  );
}

runScenario(main);
