// Validation of `send`: every wrong shape gets the right code and a message naming the field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError } from '../../src/errors.js';
import { fcmDataLimit, MAX_DATA_BYTES } from '../../src/providers/limits.js';
import { requestIdOf, validateSend } from '../../src/protocol/validate.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');

const refused: Array<[string, Record<string, unknown>, string, RegExp]> = [
  ['tokens missing', { cmd: 'send', payload: {} }, 'bad_request', /"tokens" is missing/],
  ['tokens not an array', { cmd: 'send', tokens: 't1', payload: {} }, 'bad_request', /array of strings/],
  ['tokens empty', { cmd: 'send', tokens: [], payload: {} }, 'bad_request', /empty/],
  ['token not a string', { cmd: 'send', tokens: ['a', 7], payload: {} }, 'bad_request', /\[1\] is not a string/],
  ['token empty string', { cmd: 'send', tokens: [''], payload: {} }, 'bad_request', /\[0\] is an empty string/],
  ['payload an array', { cmd: 'send', tokens: ['a'], payload: [1] }, 'bad_request', /"payload" must be a JSON object/],
  ['payload a string', { cmd: 'send', tokens: ['a'], payload: 'x' }, 'bad_request', /"payload" must be a JSON object/],
  ['payload null', { cmd: 'send', tokens: ['a'], payload: null }, 'bad_request', /"payload" must be a JSON object/],
  ['priority', { cmd: 'send', tokens: ['a'], priority: 'urgent' }, 'bad_request', /"priority"/],
  ['ttl negative', { cmd: 'send', tokens: ['a'], ttl: -1 }, 'bad_request', /"ttl"/],
  ['ttl fractional', { cmd: 'send', tokens: ['a'], ttl: 1.5 }, 'bad_request', /"ttl"/],
  ['dry_run', { cmd: 'send', tokens: ['a'], dry_run: 'yes' }, 'bad_request', /"dry_run"/],
  ['notification not an object', { cmd: 'send', tokens: ['a'], notification: 'hi' }, 'bad_request', /"notification"/],
  ['notification.title', { cmd: 'send', tokens: ['a'], notification: { title: 3 } }, 'bad_request', /notification.title/],
  ['notification extra key', { cmd: 'send', tokens: ['a'], notification: { colour: 'red' } }, 'bad_request', /notification.colour/],
  ['android', { cmd: 'send', tokens: ['a'], android: [] }, 'bad_request', /"android"/],
  ['unknown field', { cmd: 'send', tokens: ['a'], tokenz: ['b'] }, 'bad_request', /"tokenz" is not a field/],
  ['__proto__ field', JSON.parse('{"cmd":"send","tokens":["a"],"__proto__":{"x":1}}') as Record<string, unknown>, 'bad_request', /"__proto__" is not a field/],
  ['app not a string', { cmd: 'send', tokens: ['a'], app: 7 }, 'bad_request', /"app" must be a string/],
  ['send_at unparsable', { cmd: 'send', tokens: ['a'], send_at: 'tomorrow' }, 'bad_request', /"send_at" must be an RFC 3339 time/],
  ['send_at a date without time', { cmd: 'send', tokens: ['a'], send_at: '2026-12-02' }, 'bad_request', /"send_at"/],
  ['send_at more than 30 days ahead', { cmd: 'send', tokens: ['a'], send_at: NOW + 31 * 86_400_000 }, 'bad_request', /30 days/],
  ['send_at negative', { cmd: 'send', tokens: ['a'], send_at: -1 }, 'bad_request', /"send_at"/],
  ['expires_at fractional ms', { cmd: 'send', tokens: ['a'], expires_at: 1.5 }, 'bad_request', /"expires_at"/],
];

for (const [name, request, code, message] of refused) {
  test(`send refuses: ${name}`, () => {
    assert.throws(
      () => validateSend(request, NOW),
      (error: unknown) => error instanceof ProtocolError && error.code === code && message.test(error.message),
    );
  });
}

test('send accepts the full set of fields and keeps only what was given', () => {
  const { content, tokens } = validateSend({
    cmd: 'send',
    id: 7,
    tokens: ['t1', 't2'],
    payload: { title: 'Hi', n: 3 },
    notification: { title: 'T', body: 'B' },
    collapse_key: 'news',
    priority: 'high',
    ttl: 60,
    dry_run: true,
    android: { direct_boot_ok: true },
  }, NOW);
  assert.deepEqual(tokens, ['t1', 't2']);
  assert.deepEqual(content, {
    payload: { title: 'Hi', n: 3 },
    notification: { title: 'T', body: 'B' },
    android: { direct_boot_ok: true },
    collapse_key: 'news',
    priority: 'high',
    ttl: 60,
    dry_run: true,
  });
});

test('duplicate tokens are sent once, first place kept', () => {
  assert.deepEqual(validateSend({ tokens: ['b', 'a', 'b', 'a'], payload: {} }, NOW).tokens, ['b', 'a']);
});

test("FCM's limit: a data payload of exactly 4096 bytes (keys and string values) fits, one more does not", () => {
  const content = (payload: Record<string, unknown>) => validateSend({ tokens: ['a'], payload }, NOW).content;
  assert.equal(fcmDataLimit(content({ k: 'x'.repeat(MAX_DATA_BYTES - 1) })), undefined);
  assert.match(fcmDataLimit(content({ k: 'x'.repeat(MAX_DATA_BYTES) })) ?? '', /4097 bytes/);
});

test("FCM's limit counts non-string data values by their JSON encoding", () => {
  const values = Array.from({ length: 1000 }, (_, i) => i); // "[0,1,…]" is 3,891 bytes
  assert.equal(fcmDataLimit({ payload: { v: values } }), undefined);
  assert.match(fcmDataLimit({ payload: { v: values, w: values } }) ?? '', /payload/);
});

test('send_at and expires_at: RFC 3339 (any offset) or epoch milliseconds', () => {
  const at = (value: unknown) => validateSend({ tokens: ['a'], send_at: value, expires_at: value }, NOW);
  assert.deepEqual([at('2026-12-01T13:00:00Z').sendAt, at('2026-12-01T13:00:00Z').expiresAt], [NOW + 3_600_000, NOW + 3_600_000]);
  assert.equal(at('2026-12-01T14:00:00.5+01:00').sendAt, NOW + 3_600_500);
  assert.equal(at(NOW + 5).sendAt, NOW + 5);
  assert.equal(validateSend({ tokens: ['a'], expires_at: NOW - 1000 }, NOW).expiresAt, NOW - 1000, 'already past: accepted, it fails at once');
  assert.equal(validateSend({ tokens: ['a'], app: 'ios' }, NOW).app, 'ios');
});

test('request ids: strings and numbers echo, other types are refused', () => {
  assert.equal(requestIdOf({ id: 'abc' }), 'abc');
  assert.equal(requestIdOf({ id: 12 }), 12);
  assert.equal(requestIdOf({}), undefined);
  assert.throws(() => requestIdOf({ id: { x: 1 } }), /"id" must be a string or a number/);
  assert.throws(() => requestIdOf({ id: null }), /"id"/);
});
