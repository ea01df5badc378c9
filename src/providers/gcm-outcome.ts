// The legacy (GCM / FCM "legacy HTTP") answer turned into one outcome per token. Pure;
// see test/providers/gcm-outcome.test.ts. The protocol's result table:
// https://firebase.google.com/docs/cloud-messaging/http-server-ref#error-codes
import { isObject, parseObject } from '../guards.js';
import { GOOGLE_429_FLOOR_MS, retryOutcome, statusOutcome } from './answers.js';
import type { Outcome, Reason } from './provider.js';

/** Per-token errors the legacy endpoint asks us to retry, honouring Retry-After. */
const RETRYABLE_ERRORS = new Set(['Unavailable', 'InternalServerError']);

/**
 * Final errors that say the daemon is misconfigured, not that the token is bad:
 * with the wrong key every token answers MismatchSenderId, so these tokens
 * must never reach the purge list.
 */
const CONFIG_ERRORS = new Set(['MismatchSenderId', 'InvalidApnsCredential']);

const gcm = (code: string): Reason => ({ source: 'gcm', code });

function retry(code: string, retryAfterMs: number | undefined): Outcome {
  return retryOutcome(gcm(code), retryAfterMs);
}

function hasMessageId(result: Record<string, unknown>): boolean {
  const id = result.message_id;
  return (typeof id === 'string' && id !== '') || typeof id === 'number';
}

/** One entry of `results` for the token it answers. */
function resultOutcome(result: unknown, token: string, retryAfterMs: number | undefined): Outcome {
  if (!isObject(result)) return retry('bad_response', retryAfterMs);
  if (hasMessageId(result)) {
    const canonical = result.registration_id;
    if (typeof canonical === 'string' && canonical !== '' && canonical !== token) return { kind: 'delivered', canonical };
    return { kind: 'delivered' };
  }
  const error = result.error;
  if (typeof error !== 'string' || error === '') return retry('bad_response', retryAfterMs);
  if (error === 'NotRegistered') return { kind: 'failed', reason: gcm(error), notRegistered: true };
  if (RETRYABLE_ERRORS.has(error)) return retry(error, retryAfterMs);
  if (CONFIG_ERRORS.has(error)) return { kind: 'failed', reason: gcm(error), configProblem: true };
  return { kind: 'failed', reason: gcm(error) };
}

/**
 * Status, body text, Retry-After and the tokens sent →
 * one outcome per token, in the order sent. A 200 we cannot read is an
 * fault of the endpoint and is retried, never a crash: FACTS.md notes that GoCM's
 * own endpoint answers `200 ok` to anything.
 */
export function gcmOutcomes(
  status: number,
  body: string,
  retryAfterMs: number | undefined,
  tokens: readonly string[],
): Outcome[] {
  if (status !== 200) {
    // The legacy API is Google's: its minute after a 429 applies here too.
    const outcome = statusOutcome(status, retryAfterMs, GOOGLE_429_FLOOR_MS);
    return tokens.map(() => outcome);
  }
  const results = parseObject(body)?.results;
  if (!Array.isArray(results) || results.length !== tokens.length) {
    const outcome = retry('bad_response', retryAfterMs);
    return tokens.map(() => outcome);
  }
  return tokens.map((token, i) => resultOutcome(results[i], token, retryAfterMs));
}
