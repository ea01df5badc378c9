// Table tests for the rules every provider shares: Retry-After, statuses, network errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GOOGLE_429_FLOOR_MS, networkOutcome, parseRetryAfter, statusOutcome } from '../../src/providers/answers.js';
import { type Outcome, reasonLabel } from '../../src/providers/provider.js';
import {
  BodyTooLargeError,
  ConnectTimeoutError,
  PoolDestroyedError,
  RequestTimeoutError,
  SessionClosedError,
  SessionDeadError,
  StreamRefusedError,
  StreamResetError,
} from '../../src/providers/transport/errors.js';

const NOW = Date.parse('2024-07-22T12:00:00Z');

test('parseRetryAfter reads seconds and the three HTTP-date forms, and ignores what it cannot read', () => {
  const cases: [string | string[] | undefined, number | undefined][] = [
    [undefined, undefined],
    ['', undefined],
    ['   ', undefined],
    ['0', 0],
    ['7', 7000],
    [' 120 ', 120_000],
    [['3', '9'], 3000],
    // As large as sent: the engine clamps it, so nothing here overflows into garbage.
    ['99999999999999999999', 1e23],
    ['Mon, 22 Jul 2024 12:00:30 GMT', 30_000],
    ['Mon, 22 Jul 2024 11:59:00 GMT', 0],
    ['Monday, 22-Jul-24 12:01:00 GMT', 60_000],
    ['Mon Jul 22 12:00:05 2024', 5000],
    ['Mon Jul  2 12:00:05 2024', 0],
    ['Thu Aug  1 12:00:00 2024', 10 * 86_400_000],
    ['soon', undefined],
    ['7 days', undefined],
    ['-5', undefined],
    ['1.5', undefined],
    ['Mon, 22 Foo 2024 12:00:30 GMT', undefined],
    ['Mon, 22 Jul 2024 12:00:30 CET', undefined],
  ];
  for (const [header, expected] of cases) {
    assert.equal(parseRetryAfter(header, NOW), expected, `Retry-After ${JSON.stringify(header)}`);
  }
});

test('an RFC 850 date with a two-digit year more than 50 years ahead is in the past century', () => {
  assert.equal(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', NOW), 0);
  assert.equal(parseRetryAfter('Tuesday, 23-Jul-24 12:00:00 GMT', NOW), 86_400_000);
});

test('statusOutcome: 429 and 5xx retry, 401/403 are configuration problems, the rest is final', () => {
  const http = (code: number) => ({ source: 'http', code: String(code) }) as const;
  const cases: [number, number | undefined, number | undefined, Outcome][] = [
    [429, undefined, undefined, { kind: 'retry', reason: http(429), quota: true }],
    [429, undefined, GOOGLE_429_FLOOR_MS, { kind: 'retry', reason: http(429), floorMs: GOOGLE_429_FLOOR_MS, quota: true }],
    [429, 5000, GOOGLE_429_FLOOR_MS, { kind: 'retry', reason: http(429), retryAfterMs: 5000, quota: true }],
    [500, undefined, undefined, { kind: 'retry', reason: http(500) }],
    [502, undefined, GOOGLE_429_FLOOR_MS, { kind: 'retry', reason: http(502) }],
    [503, 2000, undefined, { kind: 'retry', reason: http(503), retryAfterMs: 2000 }],
    [400, undefined, undefined, { kind: 'failed', reason: http(400) }],
    [400, 1000, undefined, { kind: 'failed', reason: http(400) }],
    [401, undefined, undefined, { kind: 'failed', reason: http(401), configProblem: true }],
    [403, undefined, undefined, { kind: 'failed', reason: http(403), configProblem: true }],
    [404, undefined, undefined, { kind: 'failed', reason: http(404) }],
    [413, undefined, undefined, { kind: 'failed', reason: http(413) }],
  ];
  for (const [status, retryAfterMs, floor, expected] of cases) {
    assert.deepEqual(statusOutcome(status, retryAfterMs, floor), expected, `HTTP ${status}, Retry-After ${retryAfterMs}, floor ${floor}`);
  }
});

test('a 429 from Google without Retry-After waits at least a minute', () => {
  assert.equal(GOOGLE_429_FLOOR_MS, 60_000);
});

test('networkOutcome is always a retry from the network, named by the error code, else its name', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  const net = (code: string) => ({ kind: 'retry', reason: { source: 'network', code } }) as const;
  const cases: [unknown, Outcome][] = [
    [refused, net('ECONNREFUSED')],
    [Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }), net('UND_ERR_SOCKET')],
    [new RequestTimeoutError(10), net('ERR_REQUEST_TIMEOUT')],
    [new StreamRefusedError(6), net('ERR_STREAM_REFUSED')],
    [new BodyTooLargeError(200, 1024), net('ERR_BODY_TOO_LARGE')],
    [new TypeError('boom'), net('TypeError')],
    [Object.assign(new Error('x'), { code: 42 }), net('Error')],
    [null, net('error')],
    ['a string', net('error')],
  ];
  for (const [error, expected] of cases) assert.deepEqual(networkOutcome(error), expected, String(error));
});

test("the transport's timeouts are labelled timeout; its other failures, network", () => {
  const label = (code: string) => reasonLabel({ source: 'network', code });
  const timeouts = [new RequestTimeoutError(1), new ConnectTimeoutError(1), new SessionDeadError(1)].map((error) => label(error.code));
  assert.deepEqual(timeouts, ['timeout', 'timeout', 'timeout']);
  assert.equal(label('ETIMEDOUT'), 'timeout');
  const others = [new StreamResetError(2), new SessionClosedError(), new PoolDestroyedError(), new BodyTooLargeError(200, 1)].map((error) => label(error.code));
  assert.deepEqual(others, ['network', 'network', 'network', 'network']);
});
