// What every provider reads the same way in an HTTP answer: Retry-After, a
// status that decides on its own, and a request that got no answer at all.
// Pure functions; see test/providers/answers.test.ts.
import { errorCode } from '../guards.js';
import type { FailedOutcome, Reason, RetryOutcome } from './provider.js';

/**
 * Google asks senders that get a 429 without Retry-After to wait at least a
 * minute before trying again (FCM "throttling and quotas" guidance).
 */
export const GOOGLE_429_FLOOR_MS = 60_000;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// RFC 9110 §5.6.7: the three forms of an HTTP-date, all in GMT.
const IMF_FIXDATE = new RegExp(`^[A-Z][a-z]{2}, (\\d{2}) ([A-Z][a-z]{2}) (\\d{4}) ${TIME} GMT$`);
const RFC_850 = new RegExp(`^[A-Z][a-z]{5,8}, (\\d{2})-([A-Z][a-z]{2})-(\\d{2}) ${TIME} GMT$`);
const ASCTIME = new RegExp(`^[A-Z][a-z]{2} ([A-Z][a-z]{2}) ([ \\d]\\d) ${TIME} (\\d{4})$`);

function utc(year: number, month: string, day: number, hh: string, mm: string, ss: string): number | undefined {
  const index = MONTHS.indexOf(month);
  if (index < 0 || day < 1 || day > 31) return undefined;
  return Date.UTC(year, index, day, Number(hh), Number(mm), Number(ss));
}

/** An HTTP-date in any of its three forms → ms since the epoch; undefined otherwise. */
export function parseHttpDate(value: string, now: number): number | undefined {
  let match = IMF_FIXDATE.exec(value);
  if (match) return utc(Number(match[3]), match[2] as string, Number(match[1]), match[4] as string, match[5] as string, match[6] as string);
  match = RFC_850.exec(value);
  if (match) {
    // A two-digit year more than 50 years ahead is in the past century (RFC 9110 §5.6.7).
    const thisYear = new Date(now).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(match[3]);
    if (year > thisYear + 50) year -= 100;
    return utc(year, match[2] as string, Number(match[1]), match[4] as string, match[5] as string, match[6] as string);
  }
  match = ASCTIME.exec(value);
  if (match) return utc(Number(match[6]), match[1] as string, Number((match[2] as string).trim()), match[3] as string, match[4] as string, match[5] as string);
  return undefined;
}

/**
 * Retry-After as delay-seconds or an HTTP-date → ms from `now`, as large as
 * the server said (the engine clamps it); undefined when absent or unreadable.
 */
export function parseRetryAfter(header: string | string[] | undefined, now: number): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (value === undefined || value === '') return undefined;
  // Only whole seconds or a date: V8's Date.parse reads "-5" or "1.5" as dates in 2001.
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = parseHttpDate(value, now);
  return date === undefined ? undefined : Math.max(0, date - now);
}

/** A retry for `reason`: the service's Retry-After when it sent one, else its documented least wait, if any. */
export function retryOutcome(reason: Reason, retryAfterMs: number | undefined, floorMs?: number): RetryOutcome {
  if (retryAfterMs !== undefined) return { kind: 'retry', reason, retryAfterMs };
  return floorMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, floorMs };
}

/**
 * The outcome an error status decides on its own: 429 and 5xx are retried,
 * 401/403 mean our credentials are wrong, everything else is final.
 * `floor429Ms`: the service's documented least wait after a 429 that names
 * none. `reason`: the service's own code for it, when the body gave one
 * (else the status).
 */
export function statusOutcome(status: number, retryAfterMs: number | undefined, floor429Ms?: number, reason: Reason = { source: 'http', code: String(status) }): RetryOutcome | FailedOutcome {
  if (status === 429) return { ...retryOutcome(reason, retryAfterMs, floor429Ms), quota: true };
  if (status >= 500) return retryOutcome(reason, retryAfterMs);
  if (status === 401 || status === 403) return { kind: 'failed', reason, configProblem: true };
  return { kind: 'failed', reason };
}

/** The request never got a complete answer (refused, reset, timed out): always retryable. */
export function networkOutcome(error: unknown): RetryOutcome {
  const code = errorCode(error) ?? (error instanceof Error ? error.name : 'error');
  return { kind: 'retry', reason: { source: 'network', code } };
}
