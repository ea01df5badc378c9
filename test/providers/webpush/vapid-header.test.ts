// The VAPID header: what a push service verifies, signed once per origin and
// reused for an hour, well inside its 12-hour lifetime.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import webpush from 'web-push';
import { VapidHeaders } from '../../../src/providers/webpush/vapid-header.js';
import { isRefusal } from '../../support/refusal.js';
import { checkVapidClaims, verifyVapidSignature } from '../../support/webpush-rules.js';

const SUBJECT = 'mailto:ops@example.com';
const MINUTE = 60_000;

test('the header verifies for its origin, with our key and subject, expiring in 12 hours', () => {
  const keys = webpush.generateVAPIDKeys();
  const now = Date.now();
  const authorization = new VapidHeaders(keys, SUBJECT, () => now).authorization('https://push.example:8443');
  const signed = verifyVapidSignature(authorization);
  assert.ok(!isRefusal(signed), String(isRefusal(signed) && signed.reason));
  const claims = checkVapidClaims(signed, 'https://push.example:8443', now, keys.publicKey);
  assert.ok(!isRefusal(claims), String(isRefusal(claims) && claims.reason));
  assert.equal(claims.sub, SUBJECT);
  assert.equal(claims.exp, Math.floor(now / 1000) + 12 * 3600);
});

test('one signature per origin for an hour, then a new one; origins apart', () => {
  const keys = webpush.generateVAPIDKeys();
  let now = Date.now();
  const vapid = new VapidHeaders(keys, SUBJECT, () => now);
  const first = vapid.authorization('https://a.example');
  const other = vapid.authorization('https://b.example');
  assert.notEqual(other, first);
  now += 59 * MINUTE;
  assert.equal(vapid.authorization('https://a.example'), first);
  now += 2 * MINUTE;
  const renewed = vapid.authorization('https://a.example');
  assert.notEqual(renewed, first);
  const signed = verifyVapidSignature(renewed);
  assert.ok(!isRefusal(signed) && !isRefusal(checkVapidClaims(signed, 'https://a.example', now, keys.publicKey)));
});
