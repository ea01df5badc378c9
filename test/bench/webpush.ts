// Benchmark: Web Push. First, on one core in this process, what a push costs
// the sender before it reaches the network: the RFC 8291 encryption per
// subscription (an ECDH key pair, a shared secret, HKDF, AES-GCM) and, for
// comparison, the VAPID signature that gocmd caches per push service. Then
// delivery end to end: gocmd sends to subscriptions of the fake push service
// (test/support/fake-webpush.ts, its own process, TLS + HTTP/2, 200 ms), which
// decrypts every message as a browser would: the receiver's decryption costs
// about what the sender's encryption does, on the same two cores, so the
// delivery figure is a floor for a host whose push service is elsewhere.
//
//   node dist/test/bench/webpush.js [--quick] [--concurrency N --connections N] [--workers N]
import { createECDH, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { OPTIONS } from '../../src/config.js';
import webpush from 'web-push';
import { plaintextOf } from '../../src/providers/webpush/message.js';
import { connect, tempDir } from '../support/daemon.js';
import {
  busyNote, CpuWatch, type FakeProcess, hardLimit, launchDaemon, note, printResult, QUICK, removeOnCleanup, round, runScenario, startFakeProcess,
  stopDaemon, untilSettled,
} from './common.js';
import { BENCH_PAYLOAD } from './payload.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: String(OPTIONS.concurrency.default) },
    connections: { type: 'string', default: String(OPTIONS.connections.default) },
    // The daemon's own choice unless given.
    workers: { type: 'string' },
  },
});
const CONCURRENCY = Number(flags.concurrency);
const CONNECTIONS = Number(flags.connections);
const LATENCY_MS = 200;
const TOKENS = QUICK ? 3_000 : 10_000;
const PER_SEND = 500;
const CRYPTO_MS = QUICK ? 1_000 : 3_000;
const TIME_LIMIT_MS = QUICK ? 120_000 : 300_000;

interface WebPushInfo {
  readonly url: string;
  readonly caFile: string;
  readonly vapidPublicKey: string;
  readonly vapidPrivateKeyFile: string;
  readonly subscriptions: string;
}

/** Calls of `work` a second on this one thread, over `ms`, and the µs each took. */
function rate(ms: number, work: (i: number) => void): { perSecond: number; micros: number } {
  for (let i = 0; i < 200; i++) work(i);
  const started = performance.now();
  let calls = 0;
  while (performance.now() - started < ms) work(calls++);
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: Math.round(calls / seconds), micros: round((seconds * 1e6) / calls, 1) };
}

function cryptoRun(): { encrypt: ReturnType<typeof rate>; vapidSign: ReturnType<typeof rate>; plaintextBytes: number } {
  const plaintext = plaintextOf({ ...BENCH_PAYLOAD, notification: { title: 'Hi', body: 'A notification of a usual size, with a line of text.' } });
  const browsers = Array.from({ length: 100 }, () => ({ p256dh: createECDH('prime256v1').generateKeys().toString('base64url'), auth: randomBytes(16).toString('base64url') }));
  const encrypt = rate(CRYPTO_MS, (i) => {
    const browser = browsers[i % browsers.length] as { p256dh: string; auth: string };
    webpush.encrypt(browser.p256dh, browser.auth, plaintext, 'aes128gcm');
  });
  const keys = webpush.generateVAPIDKeys();
  const expiration = Math.floor(Date.now() / 1000) + 3600;
  const vapidSign = rate(CRYPTO_MS / 3, () => webpush.getVapidHeaders('https://push.example', 'mailto:ops@example.com', keys.publicKey, keys.privateKey, 'aes128gcm', expiration));
  return { encrypt, vapidSign, plaintextBytes: plaintext.length };
}

async function deliveryRun(fake: FakeProcess<WebPushInfo>, dir: string) {
  const { info } = fake;
  const socket = join(dir, 'gocm.sock');
  const appsFile = join(dir, 'apps.json');
  writeFileSync(appsFile, JSON.stringify({ apps: { web: { provider: 'webpush', vapid_public_key: info.vapidPublicKey, vapid_private_key_file: info.vapidPrivateKeyFile, subject: 'mailto:ops@example.com' } } }));
  const subscriptions = readFileSync(info.subscriptions, 'utf8').split('\n').filter((line) => line !== '');
  const daemon = await launchDaemon(
    dir,
    ['--socket', socket, '--spool', join(dir, 'spool.db'), '--apps', appsFile, '--concurrency', String(CONCURRENCY), '--connections', String(CONNECTIONS), ...(flags.workers === undefined ? [] : ['--workers', flags.workers]), '--drain-timeout', '1s'],
    { NODE_EXTRA_CA_CERTS: info.caFile },
  );
  try {
    const client = await connect(socket);
    const pid = daemon.child.pid as number;
    const fakePid = fake.child.pid as number;
    const watch = new CpuWatch([pid, fakePid]);
    const started = performance.now();
    for (let first = 0; first < TOKENS; first += PER_SEND) client.write({ cmd: 'send', tokens: subscriptions.slice(first, first + PER_SEND), payload: BENCH_PAYLOAD.payload });
    for (let i = 0; i < TOKENS / PER_SEND; i++) {
      const reply = await client.next();
      if (reply.ok !== true) throw new Error(`send refused: ${JSON.stringify(reply)}`);
    }
    const report = await untilSettled(client);
    const seconds = (performance.now() - started) / 1000;
    const usage = watch.read();
    client.close();
    if (report.successes !== TOKENS || report.failures !== 0) throw new Error(`not every subscription got its message: ${JSON.stringify(report)}`);
    const daemonCores = usage.cores[pid] ?? 0;
    const fakeCores = usage.cores[fakePid] ?? 0;
    return {
      tokens: TOKENS,
      seconds: round(seconds, 3),
      perSecond: Math.round(TOKENS / seconds),
      cpuCores: { daemon: daemonCores, receiver: fakeCores, otherProcesses: usage.others, load1: usage.load1 },
      daemonMicrosPerToken: Math.round((daemonCores * seconds * 1e6) / TOKENS),
      receiverMicrosPerToken: Math.round((fakeCores * seconds * 1e6) / TOKENS),
    };
  } finally {
    await stopDaemon(daemon);
  }
}

async function main(): Promise<void> {
  hardLimit(TIME_LIMIT_MS);
  note(`encryption and VAPID signing on one core, ${CRYPTO_MS} ms each`);
  const crypto = cryptoRun();
  const dir = tempDir('gocm-bench-webpush-');
  removeOnCleanup(dir);
  note(`fake push service (TLS, HTTP/2, ${LATENCY_MS} ms, decrypting) with ${TOKENS} subscriptions, in its own process`);
  const fake = await startFakeProcess<WebPushInfo>('fake-webpush', ['--port', '0', '--latency-ms', String(LATENCY_MS), '--subscriptions', String(TOKENS)]);
  try {
    note(`daemon: ${TOKENS} subscriptions in sends of ${PER_SEND}, --concurrency ${CONCURRENCY} --connections ${CONNECTIONS}`);
    const delivery = await deliveryRun(fake, dir);
    printResult(
      'webpush',
      { latencyMs: LATENCY_MS, concurrency: CONCURRENCY, connections: CONNECTIONS, crypto, delivery },
      `encryption ${crypto.encrypt.perSecond.toLocaleString('en')}/s on one core (${crypto.encrypt.micros} µs per subscription, ${crypto.plaintextBytes}-byte message); ` +
        `a VAPID signature ${crypto.vapidSign.micros} µs (gocmd signs one per push service an hour); ` +
        `delivery of ${TOKENS.toLocaleString('en')} at ${LATENCY_MS} ms: ${delivery.perSecond.toLocaleString('en')}/s, gocmd ${delivery.daemonMicrosPerToken} µs of CPU per push, ` +
        `the receiver's decryption and TLS ${delivery.receiverMicrosPerToken} µs per push on the same 2 cores` +
        busyNote(delivery.cpuCores.otherProcesses ?? 0),
    );
  } finally {
    await fake.stop();
  }
}

runScenario(main);
