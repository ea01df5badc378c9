// What both providers decide the same way: Retry-After, HTTP statuses and
// network errors turned into outcomes. Pure functions; see test/providers/upstream.test.ts.
import type { Outcome } from './provider.js';

/**
 * Google asks senders that get a 429 without Retry-After to wait at least a
 * minute before trying again (FCM "throttling and quotas" guidance).
 */
export const TOO_MANY_REQUESTS_FLOOR_MS = 60_000;

const HTTP_DATE = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** Retry-After as seconds or an HTTP date → milliseconds from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | string[] | undefined, now: number): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  // Only an HTTP-date (RFC 9110 IMF-fixdate) counts: V8's Date.parse reads "-5" or "1.5" as dates in 2001.
  if (!HTTP_DATE.test(value.trim())) return undefined;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * The outcome an HTTP status decides on its own, when the body adds nothing
 * we can read: 429 and 5xx are retried, 401/403 mean our credentials are
 * wrong, everything else is final.
 */
export function statusOutcome(status: number, retryAfterMs: number | undefined): Outcome {
  if (status === 429) {
    return { kind: 'retry', reason: 'http_429', retryAfterMs: retryAfterMs ?? TOO_MANY_REQUESTS_FLOOR_MS };
  }
  if (status >= 500) return retryAfterMs === undefined ? { kind: 'retry', reason: `http_${status}` } : { kind: 'retry', reason: `http_${status}`, retryAfterMs };
  if (status === 401 || status === 403) return { kind: 'failed', reason: `http_${status}`, configProblem: true };
  return { kind: 'failed', reason: `http_${status}` };
}

/** The request never got a complete answer (refused, reset, timed out): always retryable. */
export function networkOutcome(error: unknown): Outcome {
  const code = (error as { code?: unknown } | null)?.code;
  const name = typeof code === 'string' ? code : error instanceof Error ? error.name : 'error';
  return { kind: 'retry', reason: `network: ${name}` };
}
