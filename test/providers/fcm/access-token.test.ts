// The token cache, on a scripted clock and a scripted token endpoint: one
// fetch shared by all, early renewal in the background, renewal after a 401.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AccessTokenCache, type FetchAccessToken } from '../../../src/providers/fcm/access-token.js';
import type { AccessTokenGrant } from '../../../src/providers/fcm/outcome.js';
import type { Outcome } from '../../../src/providers/provider.js';

/** A token endpoint whose answers the test releases one at a time. */
function scriptedEndpoint() {
  const waiting: Array<(answer: AccessTokenGrant | Outcome) => void> = [];
  let calls = 0;
  const fetch: FetchAccessToken = () => {
    calls += 1;
    return new Promise((resolve) => waiting.push(resolve));
  };
  return {
    fetch,
    get calls() {
      return calls;
    },
    answer(value: AccessTokenGrant | Outcome) {
      const next = waiting.shift();
      assert.ok(next, 'no token request is waiting');
      next(value);
    },
  };
}

const grant = (accessToken: string, expiresInMs = 3_600_000): AccessTokenGrant => ({ kind: 'granted', accessToken, expiresInMs });

describe('AccessTokenCache', () => {
  test('concurrent callers share one fetch, and later ones use the cached token', async () => {
    const endpoint = scriptedEndpoint();
    const cache = new AccessTokenCache(endpoint.fetch, () => 0);
    const pending = Array.from({ length: 50 }, () => cache.get());
    endpoint.answer(grant('a'));
    for (const answer of await Promise.all(pending)) assert.deepEqual(answer, grant('a'));
    assert.deepEqual(await cache.get(), grant('a'));
    assert.equal(endpoint.calls, 1);
  });

  test('renews in the background five minutes before expiry, then waits once expired', async () => {
    const endpoint = scriptedEndpoint();
    let now = 0;
    const cache = new AccessTokenCache(endpoint.fetch, () => now);
    const first = cache.get();
    endpoint.answer(grant('a'));
    await first;

    now = 3_600_000 - 300_001;
    assert.deepEqual(await cache.get(), grant('a'));
    assert.equal(endpoint.calls, 1, 'not yet');

    now = 3_600_000 - 300_000;
    assert.deepEqual(await cache.get(), grant('a'), 'the old token still serves while renewing');
    assert.deepEqual(await cache.get(), grant('a'));
    assert.equal(endpoint.calls, 2, 'one renewal, shared');
    endpoint.answer(grant('b'));
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.deepEqual(await cache.get(), grant('b'));

    now += 3_600_000;
    const waiting = cache.get();
    assert.equal(endpoint.calls, 3, 'expired: a fetch the caller waits for');
    endpoint.answer(grant('c'));
    assert.deepEqual(await waiting, grant('c'));
  });

  test('a short-lived token renews at half its lifetime', async () => {
    const endpoint = scriptedEndpoint();
    let now = 0;
    const cache = new AccessTokenCache(endpoint.fetch, () => now);
    const first = cache.get();
    endpoint.answer(grant('a', 10_000));
    await first;
    now = 4_999;
    await cache.get();
    assert.equal(endpoint.calls, 1);
    now = 5_000;
    await cache.get();
    assert.equal(endpoint.calls, 2);
  });

  test('invalidate forgets the token that drew a 401, but not a newer one', async () => {
    const endpoint = scriptedEndpoint();
    const cache = new AccessTokenCache(endpoint.fetch, () => 0);
    const first = cache.get();
    endpoint.answer(grant('a'));
    await first;
    cache.invalidate('a');
    const second = cache.get();
    endpoint.answer(grant('b'));
    assert.deepEqual(await second, grant('b'));
    cache.invalidate('a');
    assert.deepEqual(await cache.get(), grant('b'), 'a late 401 for the old token changes nothing');
    assert.equal(endpoint.calls, 2);
  });

  test('a failed fetch is the outcome of everyone waiting; until a back-off of 1 s, doubling, passes, callers get it at once and the endpoint is left alone', async () => {
    const endpoint = scriptedEndpoint();
    let now = 0;
    const cache = new AccessTokenCache(endpoint.fetch, () => now);
    const unavailable: Outcome = { kind: 'retry', reason: { source: 'token', code: 'http_503' } };
    const pending = [cache.get(), cache.get()];
    endpoint.answer(unavailable);
    assert.deepEqual(await Promise.all(pending), [unavailable, unavailable]);
    now = 999;
    assert.deepEqual(await cache.get(), unavailable, 'at once, without asking');
    assert.equal(endpoint.calls, 1);
    now = 1000;
    const second = cache.get();
    assert.equal(endpoint.calls, 2, 'after 1 s, one more try');
    endpoint.answer(unavailable);
    await second;
    now = 2999;
    assert.deepEqual(await cache.get(), unavailable);
    assert.equal(endpoint.calls, 2, 'then 2 s');
    now = 3000;
    const third = cache.get();
    endpoint.answer(grant('a'));
    assert.deepEqual(await third, grant('a'));
    assert.equal(endpoint.calls, 3);
  });

  test("the token endpoint's Retry-After is honoured, and the back-off is capped at 30 s", async () => {
    const endpoint = scriptedEndpoint();
    let now = 0;
    const cache = new AccessTokenCache(endpoint.fetch, () => now);
    const busy: Outcome = { kind: 'retry', reason: { source: 'token', code: 'http_429' }, retryAfterMs: 120_000 };
    const first = cache.get();
    endpoint.answer(busy);
    await first;
    now = 119_999;
    assert.deepEqual(await cache.get(), busy);
    assert.equal(endpoint.calls, 1);
    // Failures in a row without Retry-After (the 429 was the first): 2, 4, 8 … s apart, never more than 30 s.
    const down: Outcome = { kind: 'retry', reason: { source: 'token', code: 'network' } };
    const fetchedAt: number[] = [];
    for (now = 120_000; fetchedAt.length < 10; now += 500) {
      const calls = endpoint.calls;
      const answered = cache.get();
      if (endpoint.calls > calls) {
        fetchedAt.push(now);
        endpoint.answer(down);
      }
      assert.deepEqual(await answered, down);
    }
    const gaps = fetchedAt.slice(1).map((at, i) => at - (fetchedAt[i] as number));
    assert.deepEqual(gaps, [2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000, 30_000]);
  });

  test('a background renewal that fails is not asked again back to back: the held token serves meanwhile', async () => {
    const endpoint = scriptedEndpoint();
    let now = 0;
    const cache = new AccessTokenCache(endpoint.fetch, () => now);
    const first = cache.get();
    endpoint.answer(grant('a'));
    await first;
    now = 3_600_000 - 300_000;
    assert.deepEqual(await cache.get(), grant('a'));
    assert.equal(endpoint.calls, 2, 'a renewal in the background');
    endpoint.answer({ kind: 'retry', reason: { source: 'token', code: 'http_503' }, retryAfterMs: 10_000 });
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (const later of [1, 5000, 9999]) {
      now = 3_600_000 - 300_000 + later;
      assert.deepEqual(await cache.get(), grant('a'), 'the held token still serves');
    }
    assert.equal(endpoint.calls, 2, 'no renewal before the Retry-After');
    now = 3_600_000 - 300_000 + 10_000;
    assert.deepEqual(await cache.get(), grant('a'));
    assert.equal(endpoint.calls, 3, 'then one');
    endpoint.answer(grant('b'));
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.deepEqual(await cache.get(), grant('b'));
  });

  test('a fetch that throws becomes a retry outcome', async () => {
    const cache = new AccessTokenCache(() => Promise.reject(Object.assign(new Error('boom'), { code: 'ECONNREFUSED' })), () => 0);
    assert.deepEqual(await cache.get(), { kind: 'retry', reason: { source: 'network', code: 'ECONNREFUSED' } });
  });
});
