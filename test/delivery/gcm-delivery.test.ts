// Delivery through the legacy provider, end to end: a mixed batch settles into
// the right counters and lists; only retryable outcomes are retried, exactly --retries times.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FakeGcmRequest } from '../support/fake-gcm.js';
import { startGcmDaemon } from '../support/gcm-daemon.js';

describe('delivery with the gcm provider', () => {
  test('a mixed batch settles: accepted = successes + failures, pending 0, lists filled', async (t) => {
    const setup = await startGcmDaemon();
    t.after(() => setup.close());
    const { daemon, upstream } = setup;
    const tokens = ['ok-1', 'ok-2', 'canon-1', 'gone-1', 'gone-2', 'invalid-1', 'flaky1-a', 'unavail-1'];
    const sent = await daemon.request({ cmd: 'send', tokens, payload: { title: 'Hi', n: 3 } });
    assert.equal(sent.accepted, 8);
    const report = await daemon.settled();
    assert.equal(report.attempts, 8);
    assert.equal(report.successes, 4); // ok-1, ok-2, canon-1, flaky1-a
    assert.equal(report.failures, 4); // gone ×2, invalid, unavail after its retries
    assert.equal(report.canonicals, 1);
    assert.equal(report.notregistered, 2);
    assert.equal(report.pending, 0);
    assert.equal((report.successes as number) + (report.failures as number), report.attempts);

    const client = await daemon.connect();
    t.after(() => client.close());
    assert.deepEqual((await client.request({ cmd: 'canonical', keep: true })).canonical_replacements, [{ original: 'canon-1', canonical: 'new-canon-1' }]);
    assert.deepEqual((await client.request({ cmd: 'canonical' })).canonical_replacements, [{ original: 'canon-1', canonical: 'new-canon-1' }]);
    assert.deepEqual((await client.request({ cmd: 'canonical' })).canonical_replacements, []);
    assert.deepEqual(((await client.request({ cmd: 'notregistered' })).tokens as string[]).sort(), ['gone-1', 'gone-2']);
    assert.deepEqual((await client.request({ cmd: 'notregistered' })).tokens, []);
    assert.equal(upstream.apiKeysSeen.size, 1);
  });

  test('only retryable outcomes are retried, exactly --retries times', async (t) => {
    for (const retries of [0, 2, 3]) {
      const setup = await startGcmDaemon(['--retries', String(retries)]);
      t.after(() => setup.close());
      const tokens = ['unavail-r', 'invalid-r', 'gone-r', 'ok-r', 'flaky1-r'];
      await setup.daemon.request({ cmd: 'send', tokens, payload: {} });
      const report = await setup.daemon.settled();
      const seen = setup.upstream.tokensSeen;
      assert.equal(seen.get('unavail-r'), retries + 1, `Unavailable tried 1 + ${retries} times`);
      assert.equal(seen.get('invalid-r'), 1, 'a final error is never retried');
      assert.equal(seen.get('gone-r'), 1);
      assert.equal(seen.get('ok-r'), 1);
      assert.equal(seen.get('flaky1-r'), retries > 0 ? 2 : 1);
      assert.equal(report.retries, retries + (retries > 0 ? 1 : 0));
    }
  });

  test('HTTP 5xx is retried for every token of the request; HTTP 400 is final', async (t) => {
    for (const [behaviour, tries] of [['err500', 3], ['err400', 1]] as const) {
      const setup = await startGcmDaemon(['--retries', '2'], { behaviour });
      t.after(() => setup.close());
      await setup.daemon.request({ cmd: 'send', tokens: ['ok-a', 'ok-b'], payload: {} });
      const report = await setup.daemon.settled();
      assert.equal(setup.upstream.tokensSeen.get('ok-a'), tries, behaviour);
      assert.equal(setup.upstream.tokensSeen.get('ok-b'), tries, behaviour);
      assert.equal(report.failures, 2);
      assert.equal(report.successes, 0);
    }
  });

  test('Retry-After is honoured', async (t) => {
    const times: number[] = [];
    const setup = await startGcmDaemon([], { onRequest: () => times.push(Date.now()) });
    t.after(() => setup.close());
    await setup.daemon.request({ cmd: 'send', tokens: ['retryafter1-x'], payload: {} });
    const report = await setup.daemon.settled();
    assert.equal(report.successes, 1);
    assert.equal(times.length, 2);
    // --max-backoff is 10 ms here: only Retry-After: 1 explains a second's wait.
    assert.ok((times[1] as number) - (times[0] as number) >= 950, `waited ${(times[1] as number) - (times[0] as number)} ms`);
  });

  test('more than 1000 tokens go out in requests of at most 1000', async (t) => {
    const sizes: number[] = [];
    const onRequest = (request: FakeGcmRequest): void => {
      sizes.push((request.body as { registration_ids: string[] }).registration_ids.length);
    };
    const setup = await startGcmDaemon([], { onRequest });
    t.after(() => setup.close());
    const tokens = Array.from({ length: 2500 }, (_, i) => `ok-${i}`);
    assert.equal((await setup.daemon.request({ cmd: 'send', tokens, payload: { a: 1 } })).accepted, 2500);
    const report = await setup.daemon.settled();
    assert.equal(report.successes, 2500);
    assert.deepEqual(sizes.sort((a, b) => b - a), [1000, 1000, 500]);
    assert.equal(setup.upstream.tokensSeen.size, 2500);
  });

  test('over TLS: HTTP/2 with many streams per connection, not one request at a time', async (t) => {
    const setup = await startGcmDaemon(['--connections', '2'], { tls: true, latencyMs: 200 });
    t.after(() => setup.close());
    const { daemon, upstream } = setup;
    const client = await daemon.connect();
    t.after(() => client.close());
    // One-token sends: one request each, as GoCM's users send them.
    for (let i = 0; i < 300; i++) client.write({ cmd: 'send', tokens: [`ok-${i}`], payload: { i } });
    for (let i = 0; i < 300; i++) assert.equal((await client.next()).accepted, 1);
    const report = await daemon.settled();
    assert.equal(report.successes, 300);
    assert.deepEqual([...upstream.requestsByHttpVersion], [['2.0', 300]]);
    assert.ok(upstream.connections <= 2, `${upstream.connections} connections`);
    // Through undici (allowH2, POSTs not idempotent) this stayed at one per connection.
    assert.ok(upstream.peakInFlight >= 100, `at most ${upstream.peakInFlight} requests in flight at once`);
  });

  test('the API key never appears in the daemon\'s output', async (t) => {
    const setup = await startGcmDaemon(['--log-level', 'trace'], { apiKey: 'a-different-key' });
    t.after(() => setup.close());
    await setup.daemon.request({ cmd: 'send', tokens: ['ok-1', 'bad\u0000token'], payload: {} });
    await setup.daemon.settled();
    await setup.daemon.stop();
    assert.ok(setup.daemon.output().includes('http_401'), 'the 401 was logged');
    assert.ok(!setup.daemon.output().includes('test-server-key'), 'no key in the output');
  });
});
