// The back-off schedule: 1 s doubling, jitter that never vanishes, the cap,
// FCM's minute after a 429, and the bound on Retry-After.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, clampRetryAfter } from '../../src/delivery/backoff.js';

const LAST = 1 - 1e-9;
const cases: Array<[string, number, number, number | undefined, number, number]> = [
  // name, attempt, cap, floor, random, expected
  ['the first wait starts at 1 s', 1, 60_000, undefined, 0, 1000],
  ['the first wait, most jitter', 1, 60_000, undefined, LAST, 1500],
  ['the second doubles', 2, 60_000, undefined, 0, 2000],
  ['the third doubles again', 3, 60_000, undefined, 0.5, 5000],
  ['at the cap, never past it', 10, 5000, undefined, LAST, 5000],
  ['at the cap, a third of it still jitter', 10, 6000, undefined, 0, 4000],
  ['a cap below the first step', 1, 30, undefined, 0, 20],
  ['a cap below the first step, most jitter', 1, 30, undefined, LAST, 30],
  ['a huge attempt count stays finite', 5000, 60_000, undefined, 0, 40_000],
  ["FCM's 429 floor: at least a minute", 1, 60_000, 60_000, 0, 60_000],
  ["FCM's 429 floor with jitter, even with the cap at the floor", 1, 60_000, 60_000, LAST, 90_000],
  ["FCM's 429 floor: doubling above a larger cap", 2, 600_000, 60_000, 0, 120_000],
  ["FCM's 429 floor: a small cap does not cut it", 3, 10, 60_000, 0, 60_000],
];

for (const [name, attempt, cap, floor, random, expected] of cases) {
  test(`backoff: ${name}`, () => assert.equal(backoffDelay(attempt, cap, () => random, floor), expected));
}

test('backoff: jitter spreads tokens that failed together, within [step, 1.5 step]', () => {
  const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(2, 60_000, Math.random)));
  assert.ok(delays.size > 10, `only ${delays.size} distinct delays`);
  for (const delay of delays) assert.ok(delay >= 2000 && delay <= 3000, `delay ${delay}`);
});

test('backoff: requests told 429 together do not come back together (one draw per request)', () => {
  const delays = Array.from({ length: 200 }, () => backoffDelay(1, 60_000, Math.random, 60_000));
  assert.ok(Math.min(...delays) >= 60_000, 'never before the minute');
  assert.ok(Math.max(...delays) - Math.min(...delays) > 20_000, `spread over ${Math.max(...delays) - Math.min(...delays)} ms`);
});

test('Retry-After is honoured up to max(--max-backoff, 1 h) and clamped there', () => {
  const cases: Array<[number, number, number]> = [
    [7000, 60_000, 7000],
    [0, 60_000, 0],
    [-5, 60_000, 0],
    [31_536_000_000, 60_000, 3_600_000],
    [1e23, 60_000, 3_600_000],
    [Infinity, 60_000, 3_600_000],
    [5 * 3_600_000, 7_200_000, 7_200_000],
  ];
  for (const [retryAfter, maxBackoff, expected] of cases) assert.equal(clampRetryAfter(retryAfter, maxBackoff), expected, `${retryAfter} with --max-backoff ${maxBackoff}`);
});
