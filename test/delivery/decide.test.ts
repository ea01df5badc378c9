// What an outcome becomes, one row per rule: delivered, final, retried at a
// time, or final once the retries are spent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, type RetryPolicy } from '../../src/delivery/decide.js';
import type { Outcome, Reason } from '../../src/providers/provider.js';
import type { Delivery, Settlement } from '../../src/spool/spool.js';

const NOW = 1_000_000;
const policy: RetryPolicy = { retries: 2, maxBackoffMs: 60_000 };
const delivery = (attempts: number): Delivery => ({ message: { id: 'm', app: 'default', acceptedAt: 0, content: { payload: {} } }, token: 't', attempts });
const http = (code: number): Reason => ({ source: 'http', code: String(code) });
const fcm = (code: string): Reason => ({ source: 'fcm', code });

/** A settlement without its delivery, for each kind. */
type Expected = Settlement extends infer S ? (S extends Settlement ? Omit<S, 'delivery'> : never) : never;

const rows: Array<[string, number, Outcome, number, RetryPolicy, Expected]> = [
  // name, attempts so far, outcome, random, policy, settlement
  ['delivered', 0, { kind: 'delivered' }, 0, policy, { result: 'delivered' }],
  ['delivered with a canonical id', 1, { kind: 'delivered', canonical: 'new' }, 0, policy, { result: 'delivered', canonical: 'new' }],
  ['final', 0, { kind: 'failed', reason: http(400) }, 0, policy, { result: 'failed', reason: http(400), notRegistered: false }],
  ['final and listed', 0, { kind: 'failed', reason: fcm('UNREGISTERED'), notRegistered: true }, 0, policy, { result: 'failed', reason: fcm('UNREGISTERED'), notRegistered: true }],
  ['a configuration problem is final, not listed', 0, { kind: 'failed', reason: fcm('SENDER_ID_MISMATCH'), configProblem: true }, 0, policy, { result: 'failed', reason: fcm('SENDER_ID_MISMATCH'), notRegistered: false }],
  ['the first retry: 1 s', 0, { kind: 'retry', reason: http(503) }, 0, policy, { result: 'retry', reason: http(503), dueAt: NOW + 1000 }],
  ['the first retry, most jitter: 1.5 s', 0, { kind: 'retry', reason: http(503) }, 1 - 1e-9, policy, { result: 'retry', reason: http(503), dueAt: NOW + 1500 }],
  ['the second retry doubles', 1, { kind: 'retry', reason: http(503) }, 0, policy, { result: 'retry', reason: http(503), dueAt: NOW + 2000 }],
  ['retries spent: final, with the last reason', 2, { kind: 'retry', reason: http(503) }, 0, policy, { result: 'failed', reason: http(503), notRegistered: false }],
  ['--retries 0: a retryable outcome is final at once', 0, { kind: 'retry', reason: http(500) }, 0, { retries: 0, maxBackoffMs: 60_000 }, { result: 'failed', reason: http(500), notRegistered: false }],
  ['Retry-After wins over the schedule', 0, { kind: 'retry', reason: http(503), retryAfterMs: 7000 }, 0.5, policy, { result: 'retry', reason: http(503), dueAt: NOW + 7000 }],
  ['Retry-After past the cap, within an hour: honoured', 0, { kind: 'retry', reason: http(503), retryAfterMs: 600_000 }, 0.5, policy, { result: 'retry', reason: http(503), dueAt: NOW + 600_000 }],
  ['Retry-After of a year: an hour', 0, { kind: 'retry', reason: http(503), retryAfterMs: 31_536_000_000 }, 0.5, policy, { result: 'retry', reason: http(503), dueAt: NOW + 3_600_000 }],
  ['Retry-After of 10^23 ms: an hour, a whole number', 0, { kind: 'retry', reason: http(503), retryAfterMs: 1e23 }, 0.5, policy, { result: 'retry', reason: http(503), dueAt: NOW + 3_600_000 }],
  ['Retry-After past an hour with --max-backoff 2h: 2 h', 0, { kind: 'retry', reason: http(503), retryAfterMs: 1e9 }, 0.5, { retries: 2, maxBackoffMs: 7_200_000 }, { result: 'retry', reason: http(503), dueAt: NOW + 7_200_000 }],
  ["FCM's 429 floor: a minute at least", 0, { kind: 'retry', reason: fcm('QUOTA_EXCEEDED'), floorMs: 60_000 }, 0, policy, { result: 'retry', reason: fcm('QUOTA_EXCEEDED'), dueAt: NOW + 60_000 }],
  ["FCM's 429 floor, with jitter", 0, { kind: 'retry', reason: http(429), floorMs: 60_000 }, 0.5, policy, { result: 'retry', reason: http(429), dueAt: NOW + 75_000 }],
];

for (const [name, attempts, outcome, random, retryPolicy, expected] of rows) {
  test(`decide: ${name}`, () => {
    const claimed = delivery(attempts);
    assert.deepEqual(decide(claimed, outcome, retryPolicy, NOW, random), { delivery: claimed, ...expected });
  });
}
