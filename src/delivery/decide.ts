// What an outcome becomes: delivered, failed for good, or tried again at a
// given time. Pure; table-tested in test/delivery/decide.test.ts.
import type { Outcome } from '../providers/provider.js';
import type { Delivery, Settlement } from '../spool/spool.js';
import { backoffDelay, clampRetryAfter } from './backoff.js';

export interface RetryPolicy {
  /** Extra tries per token for retryable outcomes (--retries). */
  readonly retries: number;
  readonly maxBackoffMs: number;
}

/**
 * The settlement of `delivery` after `outcome`, decided at `now`. `random` is
 * the request's one jitter draw, in [0, 1): tokens that failed together come
 * back together, in one request, instead of one small request each.
 */
export function decide(delivery: Delivery, outcome: Outcome, policy: RetryPolicy, now: number, random: number): Settlement {
  if (outcome.kind === 'delivered') {
    return outcome.canonical === undefined ? { delivery, result: 'delivered' } : { delivery, result: 'delivered', canonical: outcome.canonical };
  }
  if (outcome.kind === 'failed') return { delivery, result: 'failed', reason: outcome.reason, notRegistered: outcome.notRegistered === true };
  const attempt = delivery.attempts + 1;
  if (attempt > policy.retries) return { delivery, result: 'failed', reason: outcome.reason, notRegistered: false };
  const wait =
    outcome.retryAfterMs === undefined
      ? backoffDelay(attempt, policy.maxBackoffMs, () => random, outcome.floorMs)
      : clampRetryAfter(outcome.retryAfterMs, policy.maxBackoffMs);
  return { delivery, result: 'retry', reason: outcome.reason, dueAt: now + Math.round(wait) };
}
