// APNs answers → outcomes, by the `reason` of Apple's error body and then by
// the status. Pure; see test/providers/apns/outcome.test.ts.
// https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns
import { parseObject } from '../../guards.js';
import { statusOutcome } from '../answers.js';
import type { Outcome } from '../provider.js';

/** Apple's reasons are short CamelCase words; anything else is not echoed into logs and metrics. */
const REASON = /^[A-Za-z]{1,64}$/;

/** `{"reason":"BadDeviceToken"}` → its reason; undefined for any other body. */
export function parseReason(body: string): string | undefined {
  const reason = parseObject(body)?.reason;
  return typeof reason === 'string' && REASON.test(reason) ? reason : undefined;
}

/** The device is gone: the token joins the notregistered list. */
const GONE = new Set(['Unregistered', 'ExpiredToken']);

/**
 * Final, never listed: a wrong environment (a sandbox token sent to production),
 * topic or key answers these for every token, and purging them all would wreck
 * the caller's database. The engine logs them as a configuration problem.
 */
const CONFIG_PROBLEMS = new Set(['BadDeviceToken', 'DeviceTokenNotForTopic', 'TopicDisallowed', 'InvalidProviderToken', 'ExpiredProviderToken']);

/** 403 ExpiredProviderToken: a new JWT may help, once. */
export function isExpiredProviderToken(status: number, body: string): boolean {
  return status === 403 && parseReason(body) === 'ExpiredProviderToken';
}

/**
 * An answer → outcome. 429 and 5xx are retried (429 pauses the app, with no
 * minimum wait: that floor is FCM's rule); an ExpiredProviderToken that gets
 * here came back for a token signed a moment before, so our clock is wrong.
 */
export function apnsOutcome(status: number, body: string, retryAfterMs: number | undefined): Outcome {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  const reason = parseReason(body);
  const apns = reason === undefined ? undefined : ({ source: 'apns', code: reason } as const);
  if (apns && status === 410 && GONE.has(apns.code)) return { kind: 'failed', reason: apns, notRegistered: true };
  if (apns && CONFIG_PROBLEMS.has(apns.code)) return { kind: 'failed', reason: apns, configProblem: true };
  return statusOutcome(status, retryAfterMs, undefined, apns);
}
