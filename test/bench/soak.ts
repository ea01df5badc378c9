// Soak (issue 7): a minute (--seconds) of mixed load with faults against a
// daemon on a SQLite spool and the fake legacy upstream, then the proof that
// nothing was lost and that memory stayed flat. Not part of `npm test`.
//
//   node dist/test/bench/soak.js [--seconds 60] [--clients 8] [--rate 200] [--quick]
//
// Several clients send at --rate sends a second in all, of varied sizes (1 to
// 1,200 tokens) and payloads (a few bytes to 3.5 kB), with now and then a bad
// line, a report or a queue, and a client that pipelines a burst and
// half-closes. A share of the sends script trouble at the fake: whole sends
// that get HTTP 500, resets or hangs past --request-timeout, and tokens that
// answer Unavailable (always, or once), NotRegistered, InvalidRegistration, or
// a canonical id. Each token's fate follows from its prefix, so the report can
// be checked to the token; RSS is sampled every 5 s and the last third of the
// run may not rise far above the first.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect, type DaemonProcess, type LineClient, tempDir } from '../support/daemon.js';
import { startFakeGcm } from '../support/fake-gcm.js';
import { hardLimit, launchDaemon, memoryOf, note, printResult, QUICK, removeOnCleanup, round, runScenario, sleep, stopDaemon } from './common.js';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: QUICK ? '15' : '60' },
    clients: { type: 'string', default: '8' },
    rate: { type: 'string', default: '200' },
    quick: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(flags.seconds);
const CLIENTS = Number(flags.clients);
const SENDS_PER_SECOND = Number(flags.rate);
const SAMPLE_MS = 5_000;
const RETRIES = 2;
/** The last third's highest RSS may pass the first third's by this share, plus a little for the allocator. */
const RSS_GROWTH_ALLOWED = 0.2;
const RSS_SLACK_MIB = 16;
const API_KEY = 'soak-key';

/** A token's fate at the fake, from its prefix (see test/support/fake-gcm.ts). */
type Fate = 'delivered' | 'failed';
const TOKEN_KINDS: ReadonlyArray<readonly [prefix: string, share: number, fate: Fate]> = [
  ['flaky1', 0.05, 'delivered'], // Unavailable once, then delivered
  ['unavail', 0.03, 'failed'], // Unavailable every time: failed after the retries
  ['gone', 0.02, 'failed'], // NotRegistered
  ['invalid', 0.01, 'failed'], // InvalidRegistration
  ['canon', 0.01, 'delivered'], // delivered, with a canonical id
];
/** Whole sends in trouble: every token of them (whichever request it lands in) fails the same way. */
const SEND_FAULTS: ReadonlyArray<readonly [prefix: string, share: number]> = [
  ['err500', 0.03],
  ['reset', 0.01],
  ['hang', 0.002],
];

interface Tally {
  sends: number;
  tokens: number;
  delivered: number;
  failed: number;
  notRegistered: number;
  canonicals: number;
  badLines: number;
  refusedSends: number;
  /** Every token accepted, to check against what the fake received. */
  readonly accepted: string[];
}

const tally: Tally = { sends: 0, tokens: 0, delivered: 0, failed: 0, notRegistered: 0, canonicals: 0, badLines: 0, refusedSends: 0, accepted: [] };

function pick<T extends readonly [string, number, ...unknown[]]>(kinds: readonly T[], roll: number): T | undefined {
  let sum = 0;
  for (const kind of kinds) {
    sum += kind[1];
    if (roll < sum) return kind;
  }
  return undefined;
}

/** 80% of sends carry 1–5 tokens, 18% up to 100, 2% 500–1,200 (split into several upstream requests). */
function sendSize(): number {
  const roll = Math.random();
  if (roll < 0.8) return 1 + Math.floor(Math.random() * 5);
  if (roll < 0.98) return 6 + Math.floor(Math.random() * 95);
  return 500 + Math.floor(Math.random() * 701);
}

function payload(): Record<string, unknown> {
  const bytes = Math.random() < 0.9 ? Math.floor(Math.random() * 200) : Math.floor(Math.random() * 3500);
  return { title: 'Soak', n: Math.floor(Math.random() * 1e6), body: 'b'.repeat(bytes) };
}

/** A send's tokens, unique in the run; each with the fate its prefix scripts. */
function sendTokens(name: string): { tokens: string[]; fates: Fate[]; notRegistered: number; canonicals: number } {
  const size = sendSize();
  const fault = pick(SEND_FAULTS, Math.random());
  const tokens: string[] = [];
  const fates: Fate[] = [];
  let notRegistered = 0;
  let canonicals = 0;
  for (let i = 0; i < size; i++) {
    if (fault) {
      tokens.push(`${fault[0]}-${name}-${i}`);
      fates.push('failed');
      continue;
    }
    const kind = pick(TOKEN_KINDS, Math.random());
    tokens.push(`${kind?.[0] ?? 'ok'}-${name}-${i}`);
    fates.push(kind?.[2] ?? 'delivered');
    if (kind?.[0] === 'gone') notRegistered++;
    if (kind?.[0] === 'canon') canonicals++;
  }
  return { tokens, fates, notRegistered, canonicals };
}

function count(reply: Record<string, unknown>, sent: ReturnType<typeof sendTokens>): void {
  if (reply.ok !== true) {
    tally.refusedSends++;
    return;
  }
  assert.equal(reply.accepted, sent.tokens.length, 'every token of a send accepted');
  tally.sends++;
  tally.tokens += sent.tokens.length;
  for (const fate of sent.fates) tally[fate]++;
  tally.notRegistered += sent.notRegistered;
  tally.canonicals += sent.canonicals;
  for (const token of sent.tokens) tally.accepted.push(token);
}

/** One steady client: a request, its reply, then wait for its share of the rate. */
async function steadyClient(daemon: DaemonProcess, c: number, until: number): Promise<void> {
  let client = await daemon.connect();
  const interval = (1000 * CLIENTS) / SENDS_PER_SECOND;
  let due = Date.now();
  for (let seq = 0; Date.now() < until; seq++) {
    const roll = Math.random();
    if (roll < 0.01) {
      tally.badLines++;
      const reply = await client.request(Math.random() < 0.5 ? '{"cmd":"send","tokens":' : '{"cmd":"send","tokens":[],"payload":{}}');
      assert.equal(reply.ok, false);
    } else if (roll < 0.03) {
      assert.equal((await client.request({ cmd: Math.random() < 0.5 ? 'report' : 'queue' })).ok, true);
    } else if (roll < 0.035) {
      // A careless client: hangs up and comes back.
      client.close();
      client = await daemon.connect();
    } else {
      const sent = sendTokens(`c${c}s${seq}`);
      count(await client.request({ cmd: 'send', id: seq, tokens: sent.tokens, payload: payload() }), sent);
    }
    due += interval;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
  }
  client.close();
}

/** Every few seconds: a burst of pipelined sends, then a half-close; every reply must still come. */
async function burstClient(daemon: DaemonProcess, until: number): Promise<number> {
  let bursts = 0;
  while (Date.now() < until) {
    const client: LineClient = await connect(daemon.socket);
    const sends = Array.from({ length: 100 }, (_, i) => sendTokens(`b${bursts}s${i}`));
    client.socket.end(sends.map((sent, i) => JSON.stringify({ cmd: 'send', id: i, tokens: sent.tokens, payload: payload() })).join('\n') + '\n');
    for (const [i, sent] of sends.entries()) {
      const reply = await client.next();
      assert.equal(reply.id, i, 'burst replies in order');
      count(reply, sent);
    }
    await client.closed();
    client.close();
    bursts++;
    await sleep(3_000);
  }
  return bursts;
}

async function main(): Promise<void> {
  hardLimit((SECONDS + 180) * 1000);
  const dir = tempDir('gocm-soak-');
  removeOnCleanup(dir);
  const upstream = await startFakeGcm({ apiKey: API_KEY, latencyMs: 20 });
  const keyFile = join(dir, 'apikey');
  writeFileSync(keyFile, API_KEY);
  const daemon = await launchDaemon(dir, [
    '--socket', join(dir, 'gocm.sock'), '--spool', join(dir, 'spool.db'),
    '--provider', 'gcm', '--apikey-file', keyFile, '--gcm-endpoint', upstream.url,
    '--retries', String(RETRIES), '--max-backoff', '2s', '--connections', '50', '--request-timeout', '2s', '--drain-timeout', '1s',
  ]);
  const pid = daemon.child.pid as number;
  note(`soak: ${SECONDS} s, ${CLIENTS} clients, ${SENDS_PER_SECOND} sends/s; daemon pid ${pid}`);

  const samples: number[] = [];
  const started = Date.now();
  let maxPending = 0;
  const sampler = setInterval(() => {
    const { rssMiB } = memoryOf(pid);
    samples.push(rssMiB);
    void daemon.request({ cmd: 'queue' }).then((queue) => {
      maxPending = Math.max(maxPending, queue.pending as number);
      note(`${Math.round((Date.now() - started) / 1000)} s: RSS ${rssMiB} MiB, ${tally.sends} sends, ${tally.tokens} tokens accepted, ${String(queue.pending)} pending`);
    });
  }, SAMPLE_MS);
  const until = started + SECONDS * 1000;
  const [bursts] = await Promise.all([burstClient(daemon, until), ...Array.from({ length: CLIENTS }, (_, c) => steadyClient(daemon, c, until))]);
  clearInterval(sampler);
  const loadSeconds = (Date.now() - started) / 1000;

  note('load over; waiting for every token to be final');
  const settleStarted = Date.now();
  const report = await daemon.waitForReport((r) => r.pending === 0, 'pending to reach 0', 120_000);
  const settleSeconds = (Date.now() - settleStarted) / 1000;
  const peakMiB = memoryOf(pid).peakMiB;
  await stopDaemon(daemon);
  await upstream.close();

  // Nothing lost: every accepted token final, with the fate its prefix scripted.
  assert.equal(report.attempts, tally.tokens, 'attempts = tokens accepted in the replies');
  assert.equal((report.successes as number) + (report.failures as number), report.attempts, 'successes + failures = attempts');
  assert.equal(report.successes, tally.delivered, 'every token meant to be delivered was');
  assert.equal(report.failures, tally.failed);
  assert.equal(report.notregistered, tally.notRegistered);
  assert.equal(report.canonicals, tally.canonicals);
  const unseen = tally.accepted.filter((token) => !upstream.tokensSeen.has(token));
  assert.deepEqual(unseen.slice(0, 5), [], `${unseen.length} accepted tokens never reached the upstream`);
  const duplicates = tally.accepted.filter((token) => token.startsWith('ok-') && upstream.tokensSeen.get(token) !== 1).length;

  // Memory flat: the last third of the samples against the first.
  const third = Math.max(1, Math.floor(samples.length / 3));
  const firstMax = Math.max(...samples.slice(0, third));
  const lastMax = Math.max(...samples.slice(-third));
  const bound = round(firstMax * (1 + RSS_GROWTH_ALLOWED) + RSS_SLACK_MIB, 1);

  printResult(
    'soak',
    {
      seconds: round(loadSeconds, 1), clients: CLIENTS, sends: tally.sends, tokens: tally.tokens, bursts, badLines: tally.badLines, refusedSends: tally.refusedSends,
      successes: report.successes, failures: report.failures, retries: report.retries, notregistered: report.notregistered, canonicals: report.canonicals,
      okTokensSentTwice: duplicates, maxPending, settleSeconds: round(settleSeconds, 1), rssSamplesMiB: samples, firstThirdMaxMiB: firstMax, lastThirdMaxMiB: lastMax, boundMiB: bound, peakMiB,
    },
    `${tally.tokens} tokens in ${tally.sends} sends over ${round(loadSeconds)} s (${round(tally.tokens / loadSeconds)} tokens/s); ` +
      `${report.successes} delivered, ${report.failures} failed, ${report.retries} retries, none lost, settled ${round(settleSeconds, 1)} s after; ` +
      `RSS first third max ${firstMax} MiB, last third max ${lastMax} MiB (bound ${bound}), peak ${peakMiB} MiB`,
  );
  assert.ok(lastMax <= bound, `memory grew: the last third's max ${lastMax} MiB > ${bound} MiB (first third's max ${firstMax} MiB)`);
}

runScenario(main);
