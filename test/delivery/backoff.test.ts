// The back-off schedule: GoCM's 1 s doubling, jitter within bounds, the cap, Retry-After first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../../src/delivery/backoff.js';

const cases: Array<[string, number, number, number | undefined, number, number]> = [
  // name, attempt, maxBackoff, retryAfter, random, expected
  ['first retry, no jitter drawn', 1, 60_000, undefined, 0, 500],
  ['first retry, most jitter', 1, 60_000, undefined, 1 - 1e-9, 1000],
  ['second retry doubles', 2, 60_000, undefined, 0, 1000],
  ['third retry doubles again', 3, 60_000, undefined, 0.5, 3000],
  ['capped by max-backoff', 10, 5000, undefined, 1 - 1e-9, 5000],
  ['cap below the first step', 1, 40, undefined, 0, 20],
  ['Retry-After wins over the schedule', 1, 60_000, 7000, 0.5, 7000],
  ['Retry-After is honoured past the cap', 1, 1000, 60_000, 0.5, 60_000],
  ['Retry-After of 0 means now', 3, 60_000, 0, 0.5, 0],
];

for (const [name, attempt, max, retryAfter, random, expected] of cases) {
  test(`backoff: ${name}`, () => {
    assert.equal(backoffDelay(attempt, max, retryAfter, () => random), expected);
  });
}

test('backoff: jitter spreads tokens that failed together', () => {
  const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(2, 60_000, undefined)));
  assert.ok(delays.size > 10, `only ${delays.size} distinct delays`);
  for (const delay of delays) assert.ok(delay >= 1000 && delay <= 2000, `delay ${delay}`);
});
