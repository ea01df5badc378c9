// What an outcome becomes: delivered, failed for good, or tried again at a
// given time. Pure; table-tested in test/delivery/decide.test.ts.
import type { Outcome, Reason, RetryOutcome } from '../providers/provider.js';
import type { Delivery, Settlement } from '../spool/spool.js';
import { backoffDelay, clampRetryAfter } from './backoff.js';

export interface RetryPolicy {
  /** Extra tries per token for retryable outcomes (--retries). */
  readonly retries: number;
  readonly maxBackoffMs: number;
}

/** The reason of a token not delivered by its message's `expires_at`. */
export const EXPIRED: Reason = { source: 'gocm', code: 'expired' };

/** How long a retryable outcome waits: the service's Retry-After (clamped), else the back-off. */
export function retryWait(delivery: Delivery, outcome: RetryOutcome, policy: RetryPolicy, random: number): number {
  if (outcome.retryAfterMs !== undefined) return clampRetryAfter(outcome.retryAfterMs, policy.maxBackoffMs);
  return backoffDelay(delivery.attempts + 1, policy.maxBackoffMs, () => random, outcome.floorMs);
}

/**
 * The settlement of `delivery` after `outcome`, decided at `now`. `random` is
 * the request's one jitter draw, in [0, 1): tokens that failed together come
 * back together, in one request, instead of one small request each. A retry
 * that would fall due after the message expires fails now, as `expired`.
 */
export function decide(delivery: Delivery, outcome: Outcome, policy: RetryPolicy, now: number, random: number): Settlement {
  if (outcome.kind === 'delivered') {
    return outcome.canonical === undefined ? { delivery, result: 'delivered' } : { delivery, result: 'delivered', canonical: outcome.canonical };
  }
  if (outcome.kind === 'failed') return { delivery, result: 'failed', reason: outcome.reason, notRegistered: outcome.notRegistered === true };
  if (delivery.attempts + 1 > policy.retries) return { delivery, result: 'failed', reason: outcome.reason, notRegistered: false };
  const dueAt = now + Math.round(retryWait(delivery, outcome, policy, random));
  const expiresAt = delivery.message.expiresAt;
  if (expiresAt !== undefined && dueAt >= expiresAt) return { delivery, result: 'failed', reason: EXPIRED, notRegistered: false };
  return { delivery, result: 'retry', reason: outcome.reason, dueAt };
}
