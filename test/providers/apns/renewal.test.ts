// Provider tokens against the fake APNs: a new JWT after ExpiredProviderToken,
// shared by the requests it refused and by a provider rebuilt for the same key,
// and renewals every 20 to 50 minutes of a driven clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { apnsAnswers, randomDeviceToken } from '../../support/fake-apns.js';
import { MINUTE, sendOne, start } from './setup.js';

// APNs takes no JWT of a key issued at or before one it called expired, so
// each of these has a fake and a key of its own.
describe('ExpiredProviderToken', () => {
  test('one new JWT, then the send goes through', async () => {
    const h = await start();
    try {
      const provider = h.provider();
      const token = randomDeviceToken();
      h.fake.script(token, [apnsAnswers.expiredProviderToken]);
      assert.deepEqual(await sendOne(provider, token), { kind: 'delivered' });
      assert.equal(h.fake.tries.get(token), 2);
      assert.equal(h.fake.providerTokens.length, 2);
    } finally {
      await h.close();
    }
  });

  test('50 requests in flight with the refused JWT share one new one', async () => {
    const h = await start();
    try {
      const provider = h.provider();
      const tokens = Array.from({ length: 50 }, () => randomDeviceToken());
      // The first token's answer makes the JWT stale; the fake refuses the others' as stale too.
      h.fake.script(tokens[0] as string, [apnsAnswers.expiredProviderToken]);
      const outcomes = await Promise.all(tokens.map((token) => sendOne(provider, token)));
      assert.ok(outcomes.every((outcome) => outcome?.kind === 'delivered'), JSON.stringify(outcomes));
      assert.equal(h.fake.providerTokens.length, 2);
    } finally {
      await h.close();
    }
  });

  test('again after the renewal: final, a configuration problem, no loop', async () => {
    const h = await start();
    try {
      const token = randomDeviceToken();
      h.fake.script(token, [apnsAnswers.expiredProviderToken, apnsAnswers.expiredProviderToken]);
      assert.deepEqual(await sendOne(h.provider(), token), { kind: 'failed', reason: { source: 'apns', code: 'ExpiredProviderToken' }, configProblem: true });
      assert.equal(h.fake.tries.get(token), 2);
      assert.equal(h.fake.providerTokens.length, 2);
    } finally {
      await h.close();
    }
  });
});

test('a provider rebuilt for the same key (a reload) goes on with its JWT: Apple refuses a renewal within 20 minutes', async () => {
  const h = await start({ minTokenUpdateIntervalMs: 20 * MINUTE });
  try {
    assert.deepEqual(await sendOne(h.provider(), randomDeviceToken()), { kind: 'delivered' });
    assert.deepEqual(await sendOne(h.provider(), randomDeviceToken()), { kind: 'delivered' });
    assert.equal(h.fake.providerTokens.length, 1);
  } finally {
    await h.close();
  }
});

test('driven by a clock for three hours, with APNs refusing updates within 20 minutes: renewed every 20 to 50 minutes, never refused', async () => {
  let now = Date.now();
  const clock = () => now;
  const h = await start({ now: clock, minTokenUpdateIntervalMs: 20 * MINUTE });
  try {
    const provider = h.provider({ now: clock });
    for (let minute = 0; minute <= 180; minute += 1, now += MINUTE) {
      assert.deepEqual(await sendOne(provider, randomDeviceToken()), { kind: 'delivered' }, `minute ${minute}`);
    }
    const seen = h.fake.providerTokens.map((token) => token.firstSeenAt);
    assert.ok(seen.length >= 4, `${seen.length} tokens`);
    for (let i = 1; i < seen.length; i++) {
      const gap = ((seen[i] as number) - (seen[i - 1] as number)) / MINUTE;
      assert.ok(gap >= 20 && gap <= 50, `renewed after ${gap} minutes`);
    }
  } finally {
    await h.close();
  }
});

