// When tokens go, through the real daemon: send_at holds a send (across a
// restart), expires_at fails what would go late, --rate spreads sending, and
// a quota answer pauses the whole app, then lets one request go first. Times
// are the push service's record of each arrival, never the test's clock.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startDaemon, tempDir } from '../support/daemon.js';
import { API_KEY, startGcmDaemon } from '../support/gcm-daemon.js';
import { writeFileSync } from 'node:fs';

/** Each token's arrival time at the push service, and a promise per token of its first arrival. */
class Arrivals {
  readonly at = new Map<string, number[]>();
  readonly #waiters = new Map<string, Array<(at: number) => void>>();

  record(tokens: readonly string[]): void {
    const now = Date.now();
    for (const token of tokens) {
      this.at.set(token, [...(this.at.get(token) ?? []), now]);
      for (const resolve of this.#waiters.get(token)?.splice(0) ?? []) resolve(now);
    }
  }

  /** When `token` first arrives (at once if it has). */
  of(token: string): Promise<number> {
    const seen = this.at.get(token)?.[0];
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.set(token, [...(this.#waiters.get(token) ?? []), resolve]));
  }
}

const tokensOf = (body: unknown): string[] => ((body as { registration_ids?: string[] } | undefined)?.registration_ids ?? []);

describe('when to send', { concurrency: true }, () => {
  test('send_at holds a send in the spool until then, across a restart; queue counts it as scheduled', async (t) => {
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const arrivals = new Arrivals();
    const args = ['--spool', join(dir, 'spool.db')];
    const first = await startGcmDaemon(args, { onRequest: (request) => arrivals.record(tokensOf(request.body)) }, dir);
    t.after(() => first.close());
    // One an hour ahead (counted, kept across the restart, never sent here), one soon (sent, not before its time).
    const far = await first.daemon.request({ cmd: 'send', tokens: ['ok-far'], payload: {}, send_at: Date.now() + 3_600_000 });
    const sendAt = Date.now() + 2500;
    assert.equal((await first.daemon.request({ cmd: 'send', tokens: ['ok-later'], payload: {}, send_at: new Date(sendAt).toISOString() })).ok, true);
    assert.equal(far.ok, true);
    const queue = await first.daemon.request({ cmd: 'queue' });
    assert.ok((queue.scheduled as number) >= 1 && queue.pending === (queue.scheduled as number) + (queue.inflight as number) + (queue.queued as number) + (queue.retrying as number));
    assert.equal((await first.daemon.stop()).code, 0);
    const second = await startGcmDaemon(args, { onRequest: (request) => arrivals.record(tokensOf(request.body)) }, dir);
    t.after(() => second.close());
    const arrived = await arrivals.of('ok-later');
    assert.ok(arrived >= sendAt, `arrived ${sendAt - arrived} ms before send_at`);
    await second.daemon.waitForReport((report) => report.successes === 1, 'ok-later to be delivered');
    assert.equal(arrivals.at.get('ok-later')?.length, 1, 'sent once');
    const after = await second.daemon.request({ cmd: 'queue' });
    assert.deepEqual([after.pending, after.scheduled], [1, 1], 'the far one is still held, across the restart');
    assert.equal(arrivals.at.has('ok-far'), false);
  });

  test('a token past expires_at fails as expired and never reaches the push service', async (t) => {
    const arrivals = new Arrivals();
    const setup = await startGcmDaemon([], { onRequest: (request) => arrivals.record(tokensOf(request.body)) });
    t.after(() => setup.close());
    const sent = await setup.daemon.request({ cmd: 'send', tokens: ['ok-stale'], payload: {}, expires_at: Date.now() - 1000 });
    assert.equal(sent.ok, true, 'an expiry already past is accepted');
    await setup.daemon.request({ cmd: 'send', tokens: ['ok-fresh'], payload: {} });
    await arrivals.of('ok-fresh');
    const report = await setup.daemon.settled();
    assert.deepEqual([report.failures, report.successes], [1, 1]);
    const status = await setup.daemon.request({ cmd: 'status', msg: sent.msg });
    assert.deepEqual(status.failures, [{ token: 'ok-stale', reason: 'expired' }]);
    assert.equal(arrivals.at.has('ok-stale'), false);
  });

  test('--rate 200 spreads 1,200 tokens over at least 4 s at the push service', { timeout: 60_000 }, async (t) => {
    const arrivals = new Arrivals();
    const setup = await startGcmDaemon(['--rate', '200'], { onRequest: (request) => arrivals.record(tokensOf(request.body)) });
    t.after(() => setup.close());
    // The bucket may have filled while the daemon started: 1,200 tokens is at least 1,000 at the rate.
    const tokens = Array.from({ length: 1200 }, (_, i) => `ok-rate-${i}`);
    assert.equal((await setup.daemon.request({ cmd: 'send', tokens, payload: {} })).accepted, 1200);
    await Promise.all(tokens.map((token) => arrivals.of(token)));
    const times = tokens.map((token) => arrivals.at.get(token)?.[0] as number);
    const spread = Math.max(...times) - Math.min(...times);
    t.diagnostic(`first to last token: ${spread} ms`);
    assert.ok(spread >= 4000, `1,200 tokens at 200/s took ${spread} ms from first to last`);
  });

  test('a quota answer pauses the whole app for its Retry-After; then one request goes first', { timeout: 60_000 }, async (t) => {
    const service = await quotaService();
    t.after(() => service.close());
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'apikey'), API_KEY);
    const daemon = await startDaemon({ dir, args: ['--provider', 'gcm', '--apikey-file', join(dir, 'apikey'), '--gcm-endpoint', service.url] });
    t.after(() => daemon.close());
    await daemon.request({ cmd: 'send', tokens: ['quota-first'], payload: {} });
    const refusedAt = await service.refused;
    // The 429 reaches the engine a moment after the service sent it.
    let paused = await daemon.request({ cmd: 'queue', app: 'default' });
    while (paused.paused_until === undefined && Date.now() < refusedAt + 900) paused = await daemon.request({ cmd: 'queue', app: 'default' });
    assert.ok(typeof paused.paused_until === 'string' && Date.parse(paused.paused_until) >= refusedAt + 900, `paused_until ${String(paused.paused_until)}`);
    for (let i = 0; i < 10; i++) await daemon.request({ cmd: 'send', tokens: [`ok-held-${i}`], payload: {} });
    await daemon.waitForReport((report) => report.pending === 0, 'the app to send again');
    const held = service.requests.filter((request) => request.tokens[0] !== 'quota-first');
    assert.equal(held.length, 10);
    const [probe, ...rest] = held;
    assert.ok(probe && probe.at >= refusedAt + 1000, `the first request ${probe ? probe.at - refusedAt : NaN} ms after the 429`);
    for (const request of rest) assert.ok(request.at >= (probe?.answeredAt ?? Infinity), 'the rest only once the probe was answered');
  });
});

interface QuotaService {
  readonly url: string;
  /** When the one 429 was answered. */
  readonly refused: Promise<number>;
  readonly requests: Array<{ tokens: string[]; at: number; answeredAt: number }>;
  close(): Promise<void>;
}

/** A legacy endpoint that answers its first request 429 with Retry-After: 1, and every later one after 200 ms. */
async function quotaService(): Promise<QuotaService> {
  const requests: QuotaService['requests'] = [];
  let refuse: (at: number) => void = () => undefined;
  const refused = new Promise<number>((resolve) => (refuse = resolve));
  let first = true;
  const server: Server = createServer((request, response) => {
    void readBody(request).then((text) => {
      const tokens = tokensOf(JSON.parse(text) as unknown);
      const entry = { tokens, at: Date.now(), answeredAt: Infinity };
      requests.push(entry);
      if (first) {
        first = false;
        response.writeHead(429, { 'retry-after': '1' }).end();
        refuse(Date.now());
        return;
      }
      setTimeout(() => {
        entry.answeredAt = Date.now();
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results: tokens.map((_, i) => ({ message_id: `0:${i}` })) }));
      }, 200);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/fcm/send`,
    refused,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
