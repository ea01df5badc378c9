// Content → FCM v1 body: data values as strings, GoCM's fields mapped into
// `android`, dry runs as validate_only, and the token spliced into a template.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MessageContent } from '../../../src/message.js';
import { bodyFor, bodyTemplate } from '../../../src/providers/fcm/message.js';

function body(content: MessageContent, token = 'tok', dryRun = false): unknown {
  return JSON.parse(bodyFor(bodyTemplate(content, dryRun), token));
}

describe('bodyTemplate', () => {
  test('data values: strings as they are, everything else JSON-encoded', () => {
    const payload = { title: 'Hi', n: 3, ok: true, none: null, list: [1, 'a'], nested: { a: 1 }, quote: 'say "x"' };
    assert.deepEqual(body({ payload }), {
      message: {
        token: 'tok',
        data: { title: 'Hi', n: '3', ok: 'true', none: 'null', list: '[1,"a"]', nested: '{"a":1}', quote: 'say "x"' },
      },
    });
  });

  test('an empty payload sends no data block', () => {
    assert.deepEqual(body({ payload: {} }), { message: { token: 'tok' } });
  });

  test('notification, apns and webpush pass through', () => {
    const content: MessageContent = {
      payload: { a: 'b' },
      notification: { title: 'T', body: 'B', image: 'https://x/i.png' },
      apns: { headers: { 'apns-priority': '10' } },
      webpush: { headers: { Urgency: 'high' } },
    };
    assert.deepEqual(body(content), {
      message: { token: 'tok', data: { a: 'b' }, notification: content.notification, apns: content.apns, webpush: content.webpush },
    });
  });

  const androidCases: Array<[string, Partial<MessageContent>, unknown]> = [
    ['collapse_key', { collapse_key: 'news' }, { collapse_key: 'news' }],
    ['priority high', { priority: 'high' }, { priority: 'HIGH' }],
    ['priority normal', { priority: 'normal' }, { priority: 'NORMAL' }],
    ['ttl in seconds', { ttl: 3600 }, { ttl: '3600s' }],
    ['ttl zero', { ttl: 0 }, { ttl: '0s' }],
    [
      'merged into a given android object',
      { ttl: 60, priority: 'high', android: { notification: { channel_id: 'c' } } },
      { ttl: '60s', priority: 'HIGH', notification: { channel_id: 'c' } },
    ],
    ["the android object's own keys win", { priority: 'high', android: { priority: 'NORMAL' } }, { priority: 'NORMAL' }],
  ];
  for (const [name, fields, android] of androidCases) {
    test(`android: ${name}`, () => {
      assert.deepEqual(body({ payload: {}, ...fields }), { message: { token: 'tok', android } });
    });
  }

  test('dry_run in the content or --dry-run → validate_only', () => {
    assert.deepEqual(body({ payload: {}, dry_run: true }), { validate_only: true, message: { token: 'tok' } });
    assert.deepEqual(body({ payload: {} }, 'tok', true), { validate_only: true, message: { token: 'tok' } });
    assert.deepEqual(body({ payload: {}, dry_run: false }), { message: { token: 'tok' } });
  });

  test('tokens are JSON-escaped', () => {
    assert.deepEqual(body({ payload: { a: '1' } }, 'a"b\\c'), { message: { token: 'a"b\\c', data: { a: '1' } } });
  });
});
