// FCM v1's answers → outcomes: messages:send replies by their documented
// google.rpc.Status body, token-endpoint replies by OAuth2's. Pure; see
// test/providers/fcm/outcome.test.ts. Error codes:
// https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode
import type { Outcome } from '../provider.js';
import { TOO_MANY_REQUESTS_FLOOR_MS, statusOutcome } from '../upstream.js';

const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';

/** The parts of a google.rpc.Status error body we act on. */
export interface RpcError {
  /** The canonical status, e.g. "NOT_FOUND". */
  readonly status: string | undefined;
  /** FcmError.errorCode from `details`, e.g. "UNREGISTERED". */
  readonly errorCode: string | undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseObject(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `{"error":{"code":…,"status":…,"details":[…]}}` → its status and FcmError code; undefined for any other body. */
export function parseRpcError(body: string): RpcError | undefined {
  const error = parseObject(body)?.error;
  if (!isObject(error) || typeof error.code !== 'number') return undefined;
  const details = Array.isArray(error.details) ? error.details : [];
  const fcmError = details.find((detail): detail is Record<string, unknown> => isObject(detail) && detail['@type'] === FCM_ERROR_TYPE);
  return {
    status: typeof error.status === 'string' ? error.status : undefined,
    errorCode: typeof fcmError?.errorCode === 'string' ? fcmError.errorCode : undefined,
  };
}

type Rule = (retryAfterMs: number | undefined) => Outcome;

const retry = (reason: string): Rule => (retryAfterMs) =>
  retryAfterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs };

/** FcmError codes whose meaning does not depend on the HTTP status. UNSPECIFIED_ERROR is left to the status. */
const BY_ERROR_CODE: Readonly<Record<string, Rule>> = {
  UNREGISTERED: () => ({ kind: 'failed', reason: 'UNREGISTERED', notRegistered: true }),
  // Every token answers this when the credentials belong to another project:
  // purging them would wreck the caller's database (SPEC.md), so it is never listed.
  SENDER_ID_MISMATCH: () => ({ kind: 'failed', reason: 'SENDER_ID_MISMATCH', configProblem: true }),
  INVALID_ARGUMENT: () => ({ kind: 'failed', reason: 'INVALID_ARGUMENT' }),
  // The APNs certificate or web-push key in the Firebase project is wrong.
  THIRD_PARTY_AUTH_ERROR: () => ({ kind: 'failed', reason: 'THIRD_PARTY_AUTH_ERROR', configProblem: true }),
  QUOTA_EXCEEDED: (retryAfterMs) => ({ kind: 'retry', reason: 'QUOTA_EXCEEDED', retryAfterMs: retryAfterMs ?? TOO_MANY_REQUESTS_FLOOR_MS }),
  UNAVAILABLE: retry('UNAVAILABLE'),
  INTERNAL: retry('INTERNAL'),
};

/** A messages:send answer → outcome. */
export function sendOutcome(status: number, body: string, retryAfterMs: number | undefined): Outcome {
  if (status >= 200 && status < 300) {
    // FCM's success is a JSON object ({"name": …}). Anything else came from
    // something in between (a portal, a proxy page) and delivered nothing.
    return parseObject(body) ? { kind: 'delivered' } : { kind: 'retry', reason: `http_${status} without a JSON body` };
  }
  const rpc = parseRpcError(body);
  const rule = rpc?.errorCode === undefined ? undefined : BY_ERROR_CODE[rpc.errorCode];
  if (rule) return rule(retryAfterMs);
  const outcome = statusOutcome(status, retryAfterMs);
  return rpc?.status === undefined ? outcome : reworded(outcome, (reason) => `${reason} ${rpc.status}`);
}

/** The same outcome with its reason reworded (a delivery has none). */
export function reworded(outcome: Outcome, reword: (reason: string) => string): Outcome {
  return outcome.kind === 'delivered' ? outcome : { ...outcome, reason: reword(outcome.reason) };
}

/**
 * A 401 that says our access token is stale or revoked, so a new one may help.
 * THIRD_PARTY_AUTH_ERROR is also a 401 but about APNs/web-push credentials.
 */
export function isStaleAccessToken(status: number, body: string): boolean {
  return status === 401 && parseRpcError(body)?.errorCode !== 'THIRD_PARTY_AUTH_ERROR';
}

export interface AccessTokenGrant {
  readonly kind: 'granted';
  /** A secret: never log it. */
  readonly accessToken: string;
  readonly expiresInMs: number;
}

/** Google's tokens live an hour; used when an endpoint leaves `expires_in` out. */
const DEFAULT_EXPIRES_IN_S = 3600;

/** An OAuth2 error code (RFC 6749 §5.2) is a short ASCII word; anything else is not echoed. */
const OAUTH_ERROR = /^[a-z_]{1,64}$/;

/**
 * A token-endpoint answer → a grant, or the outcome every token waiting on it gets.
 * 429 and 5xx are retried; any other refusal (400 invalid_grant, 401 …) means the
 * key, its account or the token_uri is wrong: final, and a configuration problem.
 */
export function tokenAnswer(status: number, body: string, retryAfterMs: number | undefined): AccessTokenGrant | Outcome {
  const answer = parseObject(body);
  if (status === 200) {
    const expiresIn = Number(answer?.expires_in ?? DEFAULT_EXPIRES_IN_S);
    if (typeof answer?.access_token !== 'string' || answer.access_token === '' || !Number.isFinite(expiresIn) || expiresIn < 0) {
      return { kind: 'retry', reason: 'token endpoint: http_200 without an access token' };
    }
    return { kind: 'granted', accessToken: answer.access_token, expiresInMs: expiresIn * 1000 };
  }
  const outcome = statusOutcome(status, retryAfterMs);
  const code = typeof answer?.error === 'string' && OAUTH_ERROR.test(answer.error) ? ` ${answer.error}` : '';
  if (outcome.kind === 'retry') return { ...outcome, reason: `token endpoint: ${outcome.reason}${code}` };
  return { kind: 'failed', reason: `token endpoint: http_${status}${code}`, configProblem: true };
}
