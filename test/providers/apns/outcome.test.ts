// APNs answers → outcomes, one row per documented case.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { apnsOutcome, isExpiredProviderToken, parseReason } from '../../../src/providers/apns/outcome.js';
import type { Outcome, Reason } from '../../../src/providers/provider.js';

const apns = (code: string): Reason => ({ source: 'apns', code });
const http = (code: number): Reason => ({ source: 'http', code: String(code) });
const body = (reason: string, extra: Record<string, unknown> = {}) => JSON.stringify({ reason, ...extra });
const HTML = '<html><body>Bad Gateway</body></html>';

describe('apnsOutcome', () => {
  const rows: Array<[string, number, string, number | undefined, Outcome]> = [
    ['200: delivered', 200, '', undefined, { kind: 'delivered' }],
    ['410 Unregistered: listed', 410, body('Unregistered', { timestamp: 1 }), undefined, { kind: 'failed', reason: apns('Unregistered'), notRegistered: true }],
    ['410 ExpiredToken: listed', 410, body('ExpiredToken', { timestamp: 1 }), undefined, { kind: 'failed', reason: apns('ExpiredToken'), notRegistered: true }],
    ['410 without a reason is not listed', 410, HTML, undefined, { kind: 'failed', reason: http(410) }],
    ['BadDeviceToken: final, never listed', 400, body('BadDeviceToken'), undefined, { kind: 'failed', reason: apns('BadDeviceToken'), configProblem: true }],
    ['DeviceTokenNotForTopic', 400, body('DeviceTokenNotForTopic'), undefined, { kind: 'failed', reason: apns('DeviceTokenNotForTopic'), configProblem: true }],
    ['TopicDisallowed', 400, body('TopicDisallowed'), undefined, { kind: 'failed', reason: apns('TopicDisallowed'), configProblem: true }],
    ['InvalidProviderToken', 403, body('InvalidProviderToken'), undefined, { kind: 'failed', reason: apns('InvalidProviderToken'), configProblem: true }],
    ['ExpiredProviderToken after a renewal: our clock is wrong', 403, body('ExpiredProviderToken'), undefined, { kind: 'failed', reason: apns('ExpiredProviderToken'), configProblem: true }],
    ['another 403 (MissingProviderToken)', 403, body('MissingProviderToken'), undefined, { kind: 'failed', reason: apns('MissingProviderToken'), configProblem: true }],
    ['another 400 (BadCollapseId): final', 400, body('BadCollapseId'), undefined, { kind: 'failed', reason: apns('BadCollapseId') }],
    ['413 PayloadTooLarge: final', 413, body('PayloadTooLarge'), undefined, { kind: 'failed', reason: apns('PayloadTooLarge') }],
    ['429 without Retry-After: quota, the ordinary back-off (no FCM floor)', 429, body('TooManyRequests'), undefined, { kind: 'retry', reason: apns('TooManyRequests'), quota: true }],
    ['429 with Retry-After', 429, body('TooManyRequests'), 3000, { kind: 'retry', reason: apns('TooManyRequests'), retryAfterMs: 3000, quota: true }],
    ['429 TooManyProviderTokenUpdates', 429, body('TooManyProviderTokenUpdates'), undefined, { kind: 'retry', reason: apns('TooManyProviderTokenUpdates'), quota: true }],
    ['500 InternalServerError', 500, body('InternalServerError'), undefined, { kind: 'retry', reason: apns('InternalServerError') }],
    ['503 ServiceUnavailable with Retry-After', 503, body('ServiceUnavailable'), 2000, { kind: 'retry', reason: apns('ServiceUnavailable'), retryAfterMs: 2000 }],
    ['502 from a proxy', 502, HTML, undefined, { kind: 'retry', reason: http(502) }],
    ['a reason that is not a word is not echoed', 400, body('<b>x</b>'), undefined, { kind: 'failed', reason: http(400) }],
  ];
  for (const [name, status, text, retryAfterMs, expected] of rows) {
    test(name, () => assert.deepEqual(apnsOutcome(status, text, retryAfterMs), expected));
  }
});

test('ExpiredProviderToken is told apart from other 403s', () => {
  assert.equal(isExpiredProviderToken(403, body('ExpiredProviderToken')), true);
  assert.equal(isExpiredProviderToken(403, body('InvalidProviderToken')), false);
  assert.equal(isExpiredProviderToken(400, body('ExpiredProviderToken')), false);
  assert.equal(parseReason('[]'), undefined);
  assert.equal(parseReason('{"reason":7}'), undefined);
});
