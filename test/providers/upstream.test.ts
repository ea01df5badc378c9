// Table tests for the rules both providers share: Retry-After, statuses, network errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Outcome } from '../../src/providers/provider.js';
import { networkOutcome, parseRetryAfter, statusOutcome, TOO_MANY_REQUESTS_FLOOR_MS } from '../../src/providers/upstream.js';

const NOW = Date.parse('2024-07-22T12:00:00Z');

test('parseRetryAfter reads seconds and HTTP dates, and ignores what it cannot read', () => {
  const cases: [string | string[] | undefined, number | undefined][] = [
    [undefined, undefined],
    ['', undefined],
    ['   ', undefined],
    ['0', 0],
    ['7', 7000],
    [' 120 ', 120_000],
    [['3', '9'], 3000],
    ['Mon, 22 Jul 2024 12:00:30 GMT', 30_000],
    ['Mon, 22 Jul 2024 11:59:00 GMT', 0],
    ['soon', undefined],
    ['7 days', undefined],
  ];
  for (const [header, expected] of cases) {
    assert.equal(parseRetryAfter(header, NOW), expected, `Retry-After ${JSON.stringify(header)}`);
  }
});

// V8's Date.parse is lenient: "-5" and "1.5" read as dates in 2001, so they come
// out as 0 ms (retry at once) instead of being ignored. RFC 9110 §10.2.3 allows
// only delay-seconds or an HTTP-date. Left to the owner of upstream.ts.
test('parseRetryAfter ignores numbers that are neither whole seconds nor HTTP dates', () => {
  for (const header of ['-5', '1.5']) {
    assert.equal(parseRetryAfter(header, NOW), undefined, `Retry-After ${JSON.stringify(header)}`);
  }
});

test('statusOutcome: 429 and 5xx retry, 401/403 are configuration problems, the rest is final', () => {
  const cases: [number, number | undefined, Outcome][] = [
    [429, undefined, { kind: 'retry', reason: 'http_429', retryAfterMs: TOO_MANY_REQUESTS_FLOOR_MS }],
    [429, 5000, { kind: 'retry', reason: 'http_429', retryAfterMs: 5000 }],
    [500, undefined, { kind: 'retry', reason: 'http_500' }],
    [502, undefined, { kind: 'retry', reason: 'http_502' }],
    [503, 2000, { kind: 'retry', reason: 'http_503', retryAfterMs: 2000 }],
    [504, undefined, { kind: 'retry', reason: 'http_504' }],
    [400, undefined, { kind: 'failed', reason: 'http_400' }],
    [400, 1000, { kind: 'failed', reason: 'http_400' }],
    [401, undefined, { kind: 'failed', reason: 'http_401', configProblem: true }],
    [403, undefined, { kind: 'failed', reason: 'http_403', configProblem: true }],
    [404, undefined, { kind: 'failed', reason: 'http_404' }],
    [413, undefined, { kind: 'failed', reason: 'http_413' }],
  ];
  for (const [status, retryAfterMs, expected] of cases) {
    assert.deepEqual(statusOutcome(status, retryAfterMs), expected, `HTTP ${status}, Retry-After ${retryAfterMs}`);
  }
});

test('a 429 without Retry-After waits at least a minute', () => {
  assert.equal(TOO_MANY_REQUESTS_FLOOR_MS, 60_000);
});

test('networkOutcome is always a retry, named by the error code, else its name', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  const cases: [unknown, Outcome][] = [
    [refused, { kind: 'retry', reason: 'network: ECONNREFUSED' }],
    [Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), { kind: 'retry', reason: 'network: UND_ERR_HEADERS_TIMEOUT' }],
    [new TypeError('boom'), { kind: 'retry', reason: 'network: TypeError' }],
    [Object.assign(new Error('x'), { code: 42 }), { kind: 'retry', reason: 'network: Error' }],
    [null, { kind: 'retry', reason: 'network: error' }],
    ['a string', { kind: 'retry', reason: 'network: error' }],
  ];
  for (const [error, expected] of cases) {
    assert.deepEqual(networkOutcome(error), expected, String(error));
  }
});
