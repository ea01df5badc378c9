// The FCM v1 provider against the fake over plain HTTP, in-process: one token
// for many sends, renewals, every scripted error code, timeouts, and no secrets in logs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Outcome } from '../../../src/providers/provider.js';
import { generateServiceAccountKey } from '../../support/service-account.js';
import { message, startHarness, type Harness } from './setup.js';

async function sendOne(h: Harness, token: string, id = 'm1'): Promise<Outcome | undefined> {
  const [outcome] = await h.provider.send(message(id), [token]);
  return outcome;
}

describe('FCM provider over HTTP/1.1', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  test('says what it is', () => {
    assert.equal(h.provider.name, 'fcm');
    assert.equal(h.provider.maxTokensPerRequest, 1);
  });

  test('1,000 concurrent sends share one access token', async () => {
    const outcomes = await Promise.all(Array.from({ length: 1000 }, (_, i) => h.provider.send(message(`bulk-${i % 7}`), [`ok-bulk-${i}`])));
    assert.deepEqual(new Set(outcomes.map((o) => JSON.stringify(o))), new Set([JSON.stringify([{ kind: 'delivered' }])]));
    assert.equal(h.fake.grants, 1);
    for (let i = 0; i < 1000; i++) assert.equal(h.fake.sends.get(`ok-bulk-${i}`), 1);
    // Plain http://: HTTP/1.1 over kept-alive connections, at most one per request in flight (concurrency 64).
    assert.deepEqual([...h.fake.requestsByHttpVersion.keys()], ['1.1']);
    assert.ok(h.fake.connections <= 64 + 1, `${h.fake.connections} connections`);
  });

  test('data values arrive as strings; GoCM fields land in android', async () => {
    const outcomes = await h.provider.send(
      { id: 'shape', content: { payload: { title: 'Hi', n: 3, deep: { a: [1] } }, collapse_key: 'c', priority: 'high', ttl: 60 } },
      ['ok-shape'],
    );
    assert.deepEqual(outcomes, [{ kind: 'delivered' }]);
    assert.deepEqual(h.fake.bodies.at(-1), {
      message: { token: 'ok-shape', data: { title: 'Hi', n: '3', deep: '{"a":[1]}' }, android: { collapse_key: 'c', priority: 'HIGH', ttl: '60s' } },
    });
  });

  const fcm = (code: string) => ({ source: 'fcm', code }) as const;
  const errorRows: Array<[string, Outcome]> = [
    ['gone-1', { kind: 'failed', reason: fcm('UNREGISTERED'), notRegistered: true }],
    ['mismatch-1', { kind: 'failed', reason: fcm('SENDER_ID_MISMATCH'), configProblem: true }],
    ['invalid-1', { kind: 'failed', reason: fcm('INVALID_ARGUMENT') }],
    ['thirdparty-1', { kind: 'failed', reason: fcm('THIRD_PARTY_AUTH_ERROR'), configProblem: true }],
    ['quota-1', { kind: 'retry', reason: fcm('QUOTA_EXCEEDED'), retryAfterMs: 1000, quota: true }],
    ['flaky1-1', { kind: 'retry', reason: fcm('UNAVAILABLE') }],
    ['internal-1', { kind: 'retry', reason: fcm('INTERNAL') }],
    ['garbage200-1', { kind: 'retry', reason: fcm('bad_response') }],
    ['garbage-1', { kind: 'retry', reason: { source: 'http', code: '502' } }],
  ];
  test('each FCM error code becomes its outcome', async () => {
    const outcomes = await Promise.all(errorRows.map(([token]) => sendOne(h, token, 'errors')));
    assert.deepEqual(outcomes, errorRows.map(([, outcome]) => outcome));
  });

  test('retryable tokens succeed when the fake relents', async () => {
    assert.deepEqual(await sendOne(h, 'quota-2'), { kind: 'retry', reason: fcm('QUOTA_EXCEEDED'), retryAfterMs: 1000, quota: true });
    assert.deepEqual(await sendOne(h, 'quota-2'), { kind: 'delivered' });
    assert.deepEqual(await sendOne(h, 'flaky2-2'), { kind: 'retry', reason: fcm('UNAVAILABLE') });
    assert.deepEqual(await sendOne(h, 'flaky2-2'), { kind: 'retry', reason: fcm('UNAVAILABLE') });
    assert.deepEqual(await sendOne(h, 'flaky2-2'), { kind: 'delivered' });
    assert.deepEqual(await sendOne(h, 'internal-2'), { kind: 'retry', reason: fcm('INTERNAL') });
  });

  test('a forced 401 renews the token once and the send goes through', async () => {
    const grants = h.fake.grants;
    h.fake.rejectNextSends(1);
    assert.deepEqual(await sendOne(h, 'ok-after-401'), { kind: 'delivered' });
    assert.equal(h.fake.grants, grants + 1);
    assert.equal(h.fake.sends.get('ok-after-401'), 1);
  });

  test('revoked tokens: 100 concurrent 401s share one renewal', async () => {
    const grants = h.fake.grants;
    h.fake.revokeAccessTokens();
    const outcomes = await Promise.all(Array.from({ length: 100 }, (_, i) => sendOne(h, `ok-revoked-${i}`)));
    assert.ok(outcomes.every((o) => o?.kind === 'delivered'));
    assert.equal(h.fake.grants, grants + 1);
  });

  test('a 401 after a renewal is final and a configuration problem', async () => {
    const grants = h.fake.grants;
    h.fake.rejectNextSends(2);
    assert.deepEqual(await sendOne(h, 'ok-401-twice'), { kind: 'failed', reason: { source: 'fcm', code: 'UNAUTHENTICATED' }, configProblem: true });
    assert.equal(h.fake.grants, grants + 1, 'one renewal, not a loop');
  });

  test('THIRD_PARTY_AUTH_ERROR (a 401) does not renew the token', async () => {
    const grants = h.fake.grants;
    await sendOne(h, 'thirdparty-2');
    assert.equal(h.fake.grants, grants);
  });

  test('a failing token endpoint gives retries, then recovers', async () => {
    const provider = h.newProvider();
    const grants = h.fake.grants;
    // Retry-After: 0, so that the next send may ask again at once.
    h.fake.failNextTokenRequests(1, 503, 0);
    assert.deepEqual(await provider.send(message('m'), ['ok-token-503']), [{ kind: 'retry', reason: { source: 'token', code: 'internal_failure' }, retryAfterMs: 0 }]);
    assert.deepEqual(await provider.send(message('m'), ['ok-token-503']), [{ kind: 'delivered' }]);
    assert.equal(h.fake.grants, grants + 1);
  });

  test('a key the token endpoint does not know: failed, a configuration problem', async () => {
    const provider = h.newProvider({}, { key: generateServiceAccountKey() });
    const outcomes = await Promise.all([provider.send(message('m'), ['ok-bad-key-1']), provider.send(message('m'), ['ok-bad-key-2'])]);
    const refused = { kind: 'failed', reason: { source: 'token', code: 'invalid_grant' }, configProblem: true };
    assert.deepEqual(outcomes, [[refused], [refused]]);
    assert.equal(h.fake.sends.has('ok-bad-key-1'), false);
  });

  test('a token that expires at once is renewed for every send', async () => {
    const short = await startHarness({ expiresInS: 0 });
    try {
      for (let i = 0; i < 3; i++) assert.deepEqual(await short.provider.send(message('m'), [`ok-short-${i}`]), [{ kind: 'delivered' }]);
      assert.equal(short.fake.grants, 3);
    } finally {
      await short.close();
    }
  });

  test('--dry-run asks for validate_only, even of a message that says "dry_run": false', async () => {
    const provider = h.newProvider({ dryRun: true });
    assert.deepEqual(await provider.send(message('dry'), ['ok-dry']), [{ kind: 'delivered' }]);
    assert.deepEqual(h.fake.bodies.at(-1), { validate_only: true, message: { token: 'ok-dry', data: { title: 'Hi' } } });
    const wet = { id: 'wet', content: { payload: { title: 'Hi' }, dry_run: false } };
    assert.deepEqual(await provider.send(wet, ['ok-wet']), [{ kind: 'delivered' }]);
    assert.deepEqual(h.fake.bodies.at(-1), { validate_only: true, message: { token: 'ok-wet', data: { title: 'Hi' } } });
  });

  test('FCM never answering times out into a retry', async () => {
    const provider = h.newProvider({ requestTimeoutMs: 200 });
    const [outcome] = await provider.send(message('m'), ['hang-1']);
    assert.deepEqual(outcome, { kind: 'retry', reason: { source: 'network', code: 'ERR_REQUEST_TIMEOUT' } });
  });

  test('destroy turns requests in flight into retries; close and destroy are idempotent', async () => {
    const provider = h.newProvider();
    await provider.send(message('m'), ['ok-warm']);
    const inFlight = provider.send(message('m'), ['hang-2']);
    await waitFor(() => h.fake.sends.has('hang-2'));
    await Promise.all([provider.destroy(), provider.destroy()]);
    const [outcome] = await inFlight;
    assert.equal(outcome?.kind, 'retry');
    await provider.close();
  });

  test('close lets requests in flight finish', async () => {
    const provider = h.newProvider();
    const inFlight = provider.send(message('m'), ['ok-closing']);
    await Promise.all([provider.close(), provider.close()]);
    assert.deepEqual(await inFlight, [{ kind: 'delivered' }]);
  });

  test('no secret reaches a log line', () => {
    const logged = h.logText();
    assert.match(logged, /access token granted/, 'the log was captured');
    assert.match(logged, /invalid_grant/);
    assert.doesNotMatch(logged, /ya29\./, 'an access token');
    assert.doesNotMatch(logged, /eyJ/, 'a JWT');
    assert.doesNotMatch(logged, /PRIVATE KEY|Bearer/);
    for (const word of logged.match(/[A-Za-z0-9+/]{16,}/g) ?? []) assert.ok(!h.account.privateKeyPem.includes(word), 'key material');
  });
});

describe('FCM provider when nothing listens', () => {
  test('an unreachable FCM or token endpoint is a retry', async () => {
    const h = await startHarness();
    try {
      const deadFcm = h.newProvider({ endpoint: 'http://127.0.0.1:9' });
      assert.deepEqual(await deadFcm.send(message('m'), ['ok-1']), [{ kind: 'retry', reason: { source: 'network', code: 'ECONNREFUSED' } }]);
      const deadTokens = h.newProvider({}, { tokenUri: 'http://127.0.0.1:9/token' });
      assert.deepEqual(await deadTokens.send(message('m'), ['ok-1']), [{ kind: 'retry', reason: { source: 'token', code: 'network' } }]);
    } finally {
      await h.close();
    }
  });
});

/** Resolve once `condition` holds, checking after each turn of the event loop. */
async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise<void>((resolve) => setImmediate(resolve));
}
