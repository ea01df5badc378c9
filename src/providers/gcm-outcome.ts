// The legacy (GCM / FCM "legacy HTTP") answer turned into one outcome per token. Pure;
// see test/providers/gcm-outcome.test.ts. The protocol's result table:
// https://firebase.google.com/docs/cloud-messaging/http-server-ref#error-codes
import type { Outcome } from './provider.js';
import { statusOutcome } from './upstream.js';

/** Stands for a response body that is not JSON at all (an HTML error page, a truncated answer). */
export const NOT_JSON: unique symbol = Symbol('not JSON');

/** The body as JSON, or NOT_JSON; never throws. */
export function parseGcmBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

/** Per-token errors the upstream asks us to retry, honouring Retry-After. */
const RETRYABLE_ERRORS = new Set(['Unavailable', 'InternalServerError']);

/**
 * Final errors that say the daemon is misconfigured, not that the token is bad:
 * with the wrong key every token answers MismatchSenderId, so these tokens
 * must never reach the purge list.
 */
const CONFIG_ERRORS = new Set(['MismatchSenderId', 'InvalidApnsCredential']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function badResponse(retryAfterMs: number | undefined): Outcome {
  return retryAfterMs === undefined
    ? { kind: 'retry', reason: 'bad_response' }
    : { kind: 'retry', reason: 'bad_response', retryAfterMs };
}

function hasMessageId(result: Record<string, unknown>): boolean {
  const id = result.message_id;
  return (typeof id === 'string' && id !== '') || typeof id === 'number';
}

/** One entry of `results` for the token it answers. */
function resultOutcome(result: unknown, token: string, retryAfterMs: number | undefined): Outcome {
  if (!isRecord(result)) return badResponse(retryAfterMs);
  if (hasMessageId(result)) {
    const canonical = result.registration_id;
    if (typeof canonical === 'string' && canonical !== '' && canonical !== token) return { kind: 'delivered', canonical };
    return { kind: 'delivered' };
  }
  const error = result.error;
  if (typeof error !== 'string' || error === '') return badResponse(retryAfterMs);
  if (error === 'NotRegistered') return { kind: 'failed', reason: error, notRegistered: true };
  if (RETRYABLE_ERRORS.has(error)) {
    return retryAfterMs === undefined ? { kind: 'retry', reason: error } : { kind: 'retry', reason: error, retryAfterMs };
  }
  if (CONFIG_ERRORS.has(error)) return { kind: 'failed', reason: error, configProblem: true };
  return { kind: 'failed', reason: error };
}

/**
 * Status, body (parsed JSON or NOT_JSON), Retry-After and the tokens sent →
 * one outcome per token, in the order sent. A 200 we cannot read is an
 * upstream fault and is retried, never a crash: FACTS.md notes that GoCM's
 * own endpoint answers `200 ok` to anything.
 */
export function gcmOutcomes(
  status: number,
  body: unknown,
  retryAfterMs: number | undefined,
  tokens: readonly string[],
): Outcome[] {
  if (status !== 200) {
    const outcome = statusOutcome(status, retryAfterMs);
    return tokens.map(() => outcome);
  }
  const results = isRecord(body) ? body.results : undefined;
  if (!Array.isArray(results) || results.length !== tokens.length) {
    const outcome = badResponse(retryAfterMs);
    return tokens.map(() => outcome);
  }
  return tokens.map((token, i) => resultOutcome(results[i], token, retryAfterMs));
}
