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

  test('a failed fetch is the outcome of everyone waiting, and the next call tries again', async () => {
    const endpoint = scriptedEndpoint();
    const cache = new AccessTokenCache(endpoint.fetch, () => 0);
    const pending = [cache.get(), cache.get()];
    endpoint.answer({ kind: 'retry', reason: { source: 'token', code: 'http_503' } });
    assert.deepEqual(await Promise.all(pending), [{ kind: 'retry', reason: { source: 'token', code: 'http_503' } }, { kind: 'retry', reason: { source: 'token', code: 'http_503' } }]);
    const again = cache.get();
    assert.equal(endpoint.calls, 2);
    endpoint.answer(grant('a'));
    assert.deepEqual(await again, grant('a'));
  });

  test('a fetch that throws becomes a retry outcome', async () => {
    const cache = new AccessTokenCache(() => Promise.reject(Object.assign(new Error('boom'), { code: 'ECONNREFUSED' })), () => 0);
    assert.deepEqual(await cache.get(), { kind: 'retry', reason: { source: 'network', code: 'ECONNREFUSED' } });
  });
});
