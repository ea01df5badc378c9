// When to try a token again: GoCM's numbers (1 s, doubling) with jitter,
// capped; the service's own Retry-After honoured up to a bound. Pure.

const FIRST_BACKOFF_MS = 1000;

/** A Retry-After is honoured up to the larger of --max-backoff and an hour (SPEC.md "Faults"). */
const RETRY_AFTER_CAP_MS = 3_600_000;

/**
 * The wait before try number `attempt + 1`, where `attempt` ≥ 1 tries have
 * failed, drawn from [low, high]: high is 1.5 × the doubled step, capped at
 * `capMs`; low is the step itself, but never above ⅔ of high. So the first
 * wait is 1–1.5 s, every wait is at most the cap, and even waits at the cap
 * keep a third of it as jitter: requests that failed together come back spread
 * out, not as a wave. `floorMs` (FCM's minute after a 429) starts the
 * doubling there instead, and is then the least wait whatever the cap.
 * `random` must return a number in [0, 1).
 */
export function backoffDelay(attempt: number, capMs: number, random: () => number, floorMs?: number): number {
  const first = floorMs ?? FIRST_BACKOFF_MS;
  const step = first * 2 ** Math.max(0, Math.min(attempt - 1, 52));
  const cap = floorMs === undefined ? capMs : Math.max(capMs, floorMs * 1.5);
  const high = Math.min(step * 1.5, cap);
  const low = Math.min(step, (high * 2) / 3);
  return Math.round(low + random() * (high - low));
}

/** A Retry-After in ms as the service sent it → the wait we honour. */
export function clampRetryAfter(retryAfterMs: number, maxBackoffMs: number): number {
  return Math.min(Math.max(0, retryAfterMs), Math.max(maxBackoffMs, RETRY_AFTER_CAP_MS));
}
