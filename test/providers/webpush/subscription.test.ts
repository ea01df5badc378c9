// A token → the browser's subscription, or a few words on what is wrong with it.
import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { parseSubscription } from '../../../src/providers/webpush/subscription.js';

const p256dh = createECDH('prime256v1').generateKeys().toString('base64url');
const auth = randomBytes(16).toString('base64url');
const token = (fields: Record<string, unknown>) => JSON.stringify({ endpoint: 'https://push.example/s/1', keys: { p256dh, auth }, ...fields });

test('a browser subscription parses, expirationTime and all', () => {
  const subscription = parseSubscription(token({ expirationTime: null }));
  assert.ok(typeof subscription !== 'string');
  assert.equal(subscription.endpoint.href, 'https://push.example/s/1');
  assert.deepEqual([subscription.p256dh, subscription.auth], [p256dh, auth]);
});

const bad: Array<[string, string, RegExp]> = [
  ['not JSON', 'eyJhbGciOi', /not a JSON PushSubscription/],
  ['a JSON array', '[]', /not a JSON PushSubscription/],
  ['no endpoint', JSON.stringify({ keys: { p256dh, auth } }), /no endpoint/],
  ['an endpoint that is no URL', token({ endpoint: 'push' }), /no endpoint/],
  ['plain http', token({ endpoint: 'http://push.example/s/1' }), /not an https/],
  ['no keys', JSON.stringify({ endpoint: 'https://push.example/s/1' }), /no keys/],
  ['a short p256dh', token({ keys: { p256dh: p256dh.slice(0, 20), auth } }), /p256dh/],
  ['a p256dh that is not base64url', token({ keys: { p256dh: `${p256dh.slice(1)}*`, auth } }), /p256dh/],
  ['a short auth', token({ keys: { p256dh, auth: 'AAAA' } }), /auth/],
];
for (const [name, text, expected] of bad) {
  test(`refused: ${name}`, () => {
    const problem = parseSubscription(text);
    assert.equal(typeof problem, 'string');
    assert.match(problem as string, expected);
    assert.ok(!(problem as string).includes(auth), 'no secret in the words');
  });
}
