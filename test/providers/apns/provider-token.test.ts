// Provider tokens: signed as APNs verifies them, renewed no sooner than 20
// minutes and no later than 50, and replaced at once when APNs calls one expired.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProviderTokens } from '../../../src/providers/apns/provider-token.js';
import { generateApnsKey } from '../../support/apns-key.js';
import { verifyProviderToken } from '../../support/apns-rules.js';
import { isRefusal } from '../../support/refusal.js';

const MINUTE = 60_000;
const key = generateApnsKey();
const signingKey = { privateKey: key.privateKey, keyId: key.keyId, teamId: key.teamId };

test('a token is an ES256 JWT with kid and iss that verifies against the public key', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const token = new ProviderTokens(signingKey, () => now).current();
  const verified = verifyProviderToken(token.authorization, [key]);
  assert.ok(!isRefusal(verified), 'verifies');
  assert.deepEqual({ kid: verified.kid, iss: verified.iss, iat: verified.iat }, { kid: key.keyId, iss: key.teamId, iat: now / 1000 });
  const header = JSON.parse(Buffer.from(token.authorization.split(' ')[1]?.split('.')[0] ?? '', 'base64url').toString()) as unknown;
  assert.deepEqual(header, { alg: 'ES256', kid: key.keyId });
});

test('over five hours of sends a minute apart, every renewal comes 20 to 50 minutes after the last', () => {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const tokens = new ProviderTokens(signingKey, () => now);
  const issued: number[] = [];
  let last: unknown;
  for (let minute = 0; minute <= 300; minute += 1, now += MINUTE) {
    const token = tokens.current();
    if (token !== last) issued.push(minute);
    last = token;
  }
  assert.ok(issued.length >= 6, `renewed at ${issued.join(', ')}`);
  for (let i = 1; i < issued.length; i++) {
    const gap = (issued[i] as number) - (issued[i - 1] as number);
    assert.ok(gap >= 20 && gap <= 50, `a renewal ${gap} minutes after the last (${issued.join(', ')})`);
  }
});

test('many sends within a minute share one token', () => {
  const now = Date.now();
  const tokens = new ProviderTokens(signingKey, () => now);
  const first = tokens.current();
  for (let i = 0; i < 1000; i++) assert.equal(tokens.current(), first);
});

test('expired(): the next token is new and issued later than the refused one, even within the same second', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const tokens = new ProviderTokens(signingKey, () => now);
  const refused = tokens.current();
  tokens.expired(refused);
  const renewed = tokens.current();
  assert.notEqual(renewed, refused);
  assert.ok(renewed.iat > refused.iat);
  // Requests refused with the old one, answered later, do not renew again.
  tokens.expired(refused);
  assert.equal(tokens.current(), renewed);
});

test('a clock stepped back by hours gets a token it can stand by', () => {
  let now = Date.parse('2026-01-01T12:00:00Z');
  const tokens = new ProviderTokens(signingKey, () => now);
  const before = tokens.current();
  now -= 3 * 60 * MINUTE;
  const after = tokens.current();
  assert.notEqual(after, before);
  assert.equal(after.iat, now / 1000);
});
