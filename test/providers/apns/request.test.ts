// A message → the APNs payload and headers: notification → aps.alert, payload →
// custom keys with their JSON types, apns merged as FCM's ApnsConfig, and
// Apple's rules for background pushes. Pure.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { apnsPayloadLimit, apnsRequest } from '../../../src/providers/apns/request.js';
import type { MessageContent } from '../../../src/message.js';

const ACCEPTED = Date.parse('2026-03-01T12:00:00Z');
const TOPIC = 'com.example.app';
const build = (content: MessageContent) => {
  const request = apnsRequest(content, ACCEPTED, TOPIC);
  return { ...request, payload: JSON.parse(request.body) as Record<string, unknown> };
};

describe('apnsRequest', () => {
  test('an alert: notification → aps.alert, custom keys keep their types, GoCM fields → headers', () => {
    const request = build({
      payload: { n: 3, s: 'x', deep: { a: [1, null] }, yes: true },
      notification: { title: 'Hi', body: 'there' },
      priority: 'high',
      ttl: 60,
      collapse_key: 'news',
    });
    assert.deepEqual(request.payload, { n: 3, s: 'x', deep: { a: [1, null] }, yes: true, aps: { alert: { title: 'Hi', body: 'there' } } });
    assert.deepEqual(request.headers, {
      'apns-topic': TOPIC,
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-expiration': String(ACCEPTED / 1000 + 60),
      'apns-collapse-id': 'news',
    });
  });

  test('normal priority is 5; ttl 0 is apns-expiration 0 (now or never); no ttl, no expiration', () => {
    assert.equal(build({ payload: {}, notification: { body: 'b' }, priority: 'normal' }).headers['apns-priority'], '5');
    assert.equal(build({ payload: {}, notification: { body: 'b' }, ttl: 0 }).headers['apns-expiration'], '0');
    const plain = build({ payload: {}, notification: { body: 'b' } });
    assert.equal(plain.headers['apns-expiration'], undefined);
    assert.equal(plain.headers['apns-priority'], undefined);
  });

  test('no alert, sound or badge: a background push, content-available, priority 5 even when asked for high', () => {
    const request = build({ payload: { sync: 1 }, priority: 'high' });
    assert.equal(request.pushType, 'background');
    assert.deepEqual(request.payload, { sync: 1, aps: { 'content-available': 1 } });
    assert.equal(request.headers['apns-push-type'], 'background');
    assert.equal(request.headers['apns-priority'], '5');
  });

  test('apns.payload is merged over the generated payload, its aps key by key, an alert one level further', () => {
    const request = build({
      payload: { a: 1, b: 2 },
      notification: { title: 'Hi', body: 'there' },
      apns: { payload: { aps: { sound: 'default', badge: 2, alert: { subtitle: 'sub' } }, b: 'theirs', c: [3] } },
    });
    assert.deepEqual(request.payload, { a: 1, b: 'theirs', c: [3], aps: { alert: { title: 'Hi', body: 'there', subtitle: 'sub' }, sound: 'default', badge: 2 } });
  });

  test('a sound alone is an alert push', () => {
    assert.equal(build({ payload: {}, apns: { payload: { aps: { sound: 'ping.caf' } } } }).pushType, 'alert');
  });

  test("apns.headers win, but only Apple's own (authorization and connection headers would break every request)", () => {
    const request = build({
      payload: {},
      notification: { title: 't' },
      priority: 'high',
      apns: { headers: { 'apns-priority': '5', 'APNS-Push-Type': 'voip', 'apns-topic': `${TOPIC}.voip`, authorization: 'bearer evil', connection: 'close', 'apns-expiration': 12 } },
    });
    assert.deepEqual(request.headers, { 'apns-topic': `${TOPIC}.voip`, 'apns-push-type': 'voip', 'apns-priority': '5', 'apns-expiration': '12' });
  });

  test('an image sets mutable-content, for the notification service extension that fetches it', () => {
    assert.deepEqual(build({ payload: {}, notification: { title: 't', image: 'https://example.com/i.png' } }).payload.aps, { alert: { title: 't' }, 'mutable-content': 1 });
  });
});

describe('apnsPayloadLimit', () => {
  const padded = (bytes: number, extra: Partial<MessageContent> = {}): MessageContent => {
    const empty = apnsRequest({ payload: { p: '' }, ...extra }, 0, '').body;
    return { payload: { p: 'x'.repeat(bytes - Buffer.byteLength(empty)) }, ...extra };
  };

  test('4096 bytes pass, 4097 are refused at send', () => {
    assert.equal(apnsPayloadLimit(padded(4096)), undefined);
    assert.match(apnsPayloadLimit(padded(4097)) ?? '', /4097 bytes; APNs takes at most 4096/);
  });

  test('VoIP pushes take 5120 bytes', () => {
    const voip = { apns: { headers: { 'apns-push-type': 'voip' } } };
    assert.equal(apnsPayloadLimit(padded(5120, voip)), undefined);
    assert.match(apnsPayloadLimit(padded(5121, voip)) ?? '', /at most 5120/);
  });
});
