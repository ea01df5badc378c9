// When to try a token again: GoCM's numbers (1 s, doubling) with jitter, capped,
// and the upstream's own Retry-After honoured over our guess. Pure.

const FIRST_BACKOFF_MS = 1000;

/**
 * Delay before try number `attempt + 1`, where `attempt` ≥ 1 tries have failed.
 * Jitter is "equal jitter": half the step fixed, half random, so that tokens
 * that failed together do not come back together.
 * `random` is injectable for tests; it must return a number in [0, 1).
 */
export function backoffDelay(
  attempt: number,
  maxBackoffMs: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  // The upstream knows its own load: Retry-After is honoured even past our cap.
  if (retryAfterMs !== undefined) return retryAfterMs;
  const step = Math.min(FIRST_BACKOFF_MS * 2 ** Math.max(0, attempt - 1), maxBackoffMs);
  return Math.round(step / 2 + random() * (step / 2));
}
