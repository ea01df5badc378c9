// FCM v1's answers → outcomes: messages:send replies by their documented
// google.rpc.Status body, token-endpoint replies by OAuth2's. Pure; see
// test/providers/fcm/outcome.test.ts. Error codes:
// https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode
import { isObject, parseObject } from '../../guards.js';
import { GOOGLE_429_FLOOR_MS, retryOutcome, statusOutcome } from '../answers.js';
import type { Outcome } from '../provider.js';

const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';

/** The parts of a google.rpc.Status error body we act on. */
export interface RpcError {
  /** The canonical status, e.g. "NOT_FOUND". */
  readonly status: string | undefined;
  /** FcmError.errorCode from `details`, e.g. "UNREGISTERED". */
  readonly errorCode: string | undefined;
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

const fcm = (code: string) => ({ source: 'fcm', code }) as const;

const retry = (code: string, floorMs?: number): Rule => (retryAfterMs) => retryOutcome(fcm(code), retryAfterMs, floorMs);

/** FcmError codes whose meaning does not depend on the HTTP status. UNSPECIFIED_ERROR is left to the status. */
const BY_ERROR_CODE: Readonly<Record<string, Rule>> = {
  UNREGISTERED: () => ({ kind: 'failed', reason: fcm('UNREGISTERED'), notRegistered: true }),
  // Every token answers this when the credentials belong to another project:
  // purging them would wreck the caller's database (SPEC.md), so it is never listed.
  SENDER_ID_MISMATCH: () => ({ kind: 'failed', reason: fcm('SENDER_ID_MISMATCH'), configProblem: true }),
  INVALID_ARGUMENT: () => ({ kind: 'failed', reason: fcm('INVALID_ARGUMENT') }),
  // The APNs certificate or web-push key in the Firebase project is wrong.
  THIRD_PARTY_AUTH_ERROR: () => ({ kind: 'failed', reason: fcm('THIRD_PARTY_AUTH_ERROR'), configProblem: true }),
  QUOTA_EXCEEDED: (retryAfterMs) => ({ ...retry('QUOTA_EXCEEDED', GOOGLE_429_FLOOR_MS)(retryAfterMs), quota: true }),
  UNAVAILABLE: retry('UNAVAILABLE'),
  INTERNAL: retry('INTERNAL'),
};

/** A messages:send answer → outcome. */
export function sendOutcome(status: number, body: string, retryAfterMs: number | undefined): Outcome {
  if (status >= 200 && status < 300) {
    // FCM's success is a JSON object ({"name": …}). Anything else came from
    // something in between (a portal, a proxy page) and delivered nothing.
    return parseObject(body) ? { kind: 'delivered' } : { kind: 'retry', reason: fcm('bad_response') };
  }
  const rpc = parseRpcError(body);
  const rule = rpc?.errorCode === undefined ? undefined : BY_ERROR_CODE[rpc.errorCode];
  if (rule) return rule(retryAfterMs);
  // The canonical status (NOT_FOUND, PERMISSION_DENIED…) is FCM's own code: it names the reason; the status decides.
  return statusOutcome(status, retryAfterMs, GOOGLE_429_FLOOR_MS, rpc?.status === undefined ? undefined : fcm(rpc.status));
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
      return { kind: 'retry', reason: { source: 'token', code: 'bad_response' } };
    }
    return { kind: 'granted', accessToken: answer.access_token, expiresInMs: expiresIn * 1000 };
  }
  const outcome = statusOutcome(status, retryAfterMs, GOOGLE_429_FLOOR_MS);
  const oauthError = typeof answer?.error === 'string' && OAUTH_ERROR.test(answer.error) ? answer.error : undefined;
  const reason = { source: 'token', code: oauthError ?? `http_${status}` } as const;
  if (outcome.kind === 'retry') return { ...outcome, reason };
  return { kind: 'failed', reason, configProblem: true };
}
