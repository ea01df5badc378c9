// Push-service statuses → outcomes, one row per case of RFC 8030 and the brief.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Outcome } from '../../../src/providers/provider.js';
import { webPushOutcome } from '../../../src/providers/webpush/outcome.js';

const http = (code: number) => ({ source: 'http', code: String(code) }) as const;
const rows: Array<[number, number | undefined, Outcome]> = [
  [201, undefined, { kind: 'delivered' }],
  [200, undefined, { kind: 'delivered' }],
  [202, undefined, { kind: 'delivered' }],
  [404, undefined, { kind: 'failed', reason: http(404), notRegistered: true }],
  [410, undefined, { kind: 'failed', reason: http(410), notRegistered: true }],
  [429, undefined, { kind: 'retry', reason: http(429), quota: true }],
  [429, 30_000, { kind: 'retry', reason: http(429), retryAfterMs: 30_000, quota: true }],
  [500, undefined, { kind: 'retry', reason: http(500) }],
  [503, 2000, { kind: 'retry', reason: http(503), retryAfterMs: 2000 }],
  [401, undefined, { kind: 'failed', reason: http(401), configProblem: true }],
  [403, undefined, { kind: 'failed', reason: http(403), configProblem: true }],
  [400, undefined, { kind: 'failed', reason: http(400) }],
  [413, undefined, { kind: 'failed', reason: http(413) }],
];
for (const [status, retryAfterMs, expected] of rows) {
  test(`${status}${retryAfterMs === undefined ? '' : ` with Retry-After ${retryAfterMs} ms`}`, () => assert.deepEqual(webPushOutcome(status, retryAfterMs), expected));
}
