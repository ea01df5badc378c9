// A message → the plaintext every subscription gets and the RFC 8030 headers,
// and the size check, measured against a real encryption. Pure.
import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import webpush from 'web-push';
import type { MessageContent } from '../../../src/message.js';
import { DEFAULT_TTL_S, plaintextOf, topicOf, webPushMessage, webPushSizeLimit } from '../../../src/providers/webpush/message.js';

const json = (content: MessageContent): unknown => JSON.parse(plaintextOf(content).toString('utf8'));

describe('the plaintext', () => {
  test('notification and data, values keeping their JSON types', () => {
    assert.deepEqual(json({ payload: { n: 3, s: 'x', deep: { a: [1, null] }, yes: false }, notification: { title: 'Hi', body: 'there' } }), {
      notification: { title: 'Hi', body: 'there' },
      data: { n: 3, s: 'x', deep: { a: [1, null] }, yes: false },
    });
  });

  test('absent parts are left out', () => {
    assert.deepEqual(json({ payload: { n: 1 } }), { data: { n: 1 } });
    assert.deepEqual(json({ payload: {}, notification: { title: 't' } }), { notification: { title: 't' } });
    assert.deepEqual(json({ payload: {} }), {});
  });

  test("webpush.notification and webpush.data are merged over gocm's, as FCM's WebpushConfig", () => {
    assert.deepEqual(json({ payload: { a: 1, b: 2 }, notification: { title: 't' }, webpush: { notification: { icon: '/i.png', title: 'T' }, data: { b: 'theirs' } } }), {
      notification: { title: 'T', icon: '/i.png' },
      data: { a: 1, b: 'theirs' },
    });
  });
});

describe('the headers', () => {
  test('TTL defaults to 28 days; aes128gcm; no Urgency or Topic unless asked', () => {
    assert.deepEqual(webPushMessage({ payload: {} }).headers, { ttl: String(DEFAULT_TTL_S), 'content-encoding': 'aes128gcm', 'content-type': 'application/octet-stream' });
    assert.equal(DEFAULT_TTL_S, 2_419_200);
  });

  test('ttl → TTL, priority → Urgency, collapse_key → Topic', () => {
    const { headers } = webPushMessage({ payload: {}, ttl: 0, priority: 'high', collapse_key: 'news-1' });
    assert.equal(headers.ttl, '0');
    assert.equal(headers.urgency, 'high');
    assert.equal(headers.topic, 'news-1');
    assert.equal(webPushMessage({ payload: {}, priority: 'normal' }).headers.urgency, 'normal');
  });

  test('a collapse_key that is no valid Topic becomes the same 32-character hash each time', () => {
    const topic = topicOf('news: the latest, in full');
    assert.match(topic, /^[A-Za-z0-9_-]{32}$/);
    assert.equal(topicOf('news: the latest, in full'), topic);
    assert.notEqual(topicOf('news: other'), topic);
    assert.match(topicOf('x'.repeat(33)), /^[A-Za-z0-9_-]{32}$/);
  });

  test('webpush.headers may set TTL, Urgency and Topic, by any case', () => {
    const { headers } = webPushMessage({ payload: {}, ttl: 5, webpush: { headers: { TTL: '60', Urgency: 'very-low', topic: 't1', Authorization: 'no' } } });
    assert.deepEqual(headers, { ttl: '60', 'content-encoding': 'aes128gcm', 'content-type': 'application/octet-stream', urgency: 'very-low', topic: 't1' });
  });
});

describe('the size check', () => {
  const browser = createECDH('prime256v1');
  const p256dh = browser.generateKeys().toString('base64url');
  const auth = randomBytes(16).toString('base64url');
  const encryptedBytes = (content: MessageContent) => webpush.encrypt(p256dh, auth, plaintextOf(content), 'aes128gcm').cipherText.length;
  const padded = (bytes: number): MessageContent => ({ payload: { p: 'x'.repeat(bytes - plaintextOf({ payload: { p: '' } }).length) } });

  test('an encrypted body of exactly 4096 bytes passes; one more byte is refused at send', () => {
    const largest = padded(4096 - 103);
    assert.equal(encryptedBytes(largest), 4096, 'the overhead the check counts is the real one');
    assert.equal(webPushSizeLimit(largest), undefined);
    const over = padded(4096 - 102);
    assert.equal(encryptedBytes(over), 4097);
    assert.match(webPushSizeLimit(over) ?? '', /would be 4097 bytes; push services take at most 4096/);
  });
});
