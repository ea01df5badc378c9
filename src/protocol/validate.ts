// Validation of a `send` request: wire JSON in, a MessageContent and its
// de-duplicated tokens out, or a ProtocolError that says exactly what is wrong. Pure.
import { ProtocolError } from '../errors.js';
import { isObject } from '../guards.js';
import type { MessageContent } from '../message.js';

/**
 * Objects nested deeper than this are refused. Far past it, JSON.stringify
 * runs out of stack (near 5,000 levels here), so such a send could be neither
 * measured nor spooled nor sent; no FCM message needs a tenth of it.
 */
const MAX_NESTING = 64;

export interface SendRequest {
  readonly content: MessageContent;
  readonly tokens: readonly string[];
  /** The app named, if any (checked against the configured apps by the caller). */
  readonly app: string | undefined;
  /** ms since the epoch. */
  readonly sendAt: number | undefined;
  readonly expiresAt: number | undefined;
}

/** `send_at` may be at most this far ahead (SPEC.md "When to send"). */
const MAX_SCHEDULE_MS = 30 * 86_400_000;

const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 time or epoch milliseconds → ms since the epoch. */
export function parseWhen(value: unknown, key: string): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw bad(`"${key}" must be an RFC 3339 time or whole epoch milliseconds`);
    return value;
  }
  const ms = typeof value === 'string' && RFC_3339.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw bad(`"${key}" must be an RFC 3339 time (e.g. 2026-12-24T18:00:00Z) or epoch milliseconds`);
  return ms;
}

type Json = Record<string, unknown>;

function bad(message: string): ProtocolError {
  return new ProtocolError('bad_request', message);
}

/** Does `value` nest at most `levels` arrays or objects deep? Recursion bounded by `levels`. */
function nestsWithin(value: unknown, levels: number): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (levels === 0) return false;
  for (const child of Object.values(value)) {
    if (!nestsWithin(child, levels - 1)) return false;
  }
  return true;
}

function objectField(value: unknown, key: string): Json {
  if (!isObject(value)) throw bad(`"${key}" must be a JSON object`);
  if (!nestsWithin(value, MAX_NESTING)) throw bad(`"${key}" is nested more than ${MAX_NESTING} levels deep`);
  return value;
}

function tokensOf(value: unknown): string[] {
  if (value === undefined) throw bad('"tokens" is missing: give an array of device tokens');
  if (!Array.isArray(value)) throw bad('"tokens" must be an array of strings');
  if (value.length === 0) throw bad('"tokens" is empty: give at least one device token');
  for (let i = 0; i < value.length; i++) {
    const token: unknown = value[i];
    if (typeof token !== 'string') throw bad(`"tokens"[${i}] is not a string`);
    if (token.length === 0) throw bad(`"tokens"[${i}] is an empty string`);
  }
  // Most sends carry one token: no Set to allocate for them.
  if (value.length === 1) return value as string[];
  const unique = new Set<string>(value as string[]);
  return unique.size === value.length ? (value as string[]) : [...unique];
}

function optionalObject(request: Json, key: string): Json | undefined {
  const value = request[key];
  if (value === undefined) return undefined;
  return objectField(value, key);
}

function optionalString(from: Json, key: string, label = key): string | undefined {
  const value = from[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw bad(`"${label}" must be a string`);
  return value;
}

function notificationOf(request: Json): MessageContent['notification'] {
  const notification = optionalObject(request, 'notification');
  if (!notification) return undefined;
  for (const key of Object.keys(notification)) {
    if (key !== 'title' && key !== 'body' && key !== 'image') throw bad(`"notification.${key}" is not a field; use title, body and image`);
  }
  const title = optionalString(notification, 'title', 'notification.title');
  const body = optionalString(notification, 'body', 'notification.body');
  const image = optionalString(notification, 'image', 'notification.image');
  return { ...(title !== undefined && { title }), ...(body !== undefined && { body }), ...(image !== undefined && { image }) };
}

/** Check a parsed `send` line at `now`. Unknown extra keys are refused so that typos do not pass silently. */
export function validateSend(request: Json, now: number): SendRequest {
  for (const key in request) {
    if (!SEND_KEYS.has(key)) throw bad(`"${key}" is not a field of send`);
  }
  const tokens = tokensOf(request.tokens);
  // How large a payload may be depends on the app's push service: the caller checks it.
  const payload = request.payload === undefined ? {} : objectField(request.payload, 'payload');
  const priority = request.priority;
  if (priority !== undefined && priority !== 'normal' && priority !== 'high') throw bad('"priority" must be "normal" or "high"');
  const ttl = request.ttl;
  if (ttl !== undefined && !(Number.isSafeInteger(ttl) && (ttl as number) >= 0)) throw bad('"ttl" must be a whole number of seconds ≥ 0');
  const dryRun = request.dry_run;
  if (dryRun !== undefined && typeof dryRun !== 'boolean') throw bad('"dry_run" must be true or false');

  // Only the fields given: a plain send stays a one-key object (this runs per send;
  // building it from spreads allocated one object per optional field).
  const content: Mutable<MessageContent> = { payload };
  const notification = notificationOf(request);
  if (notification !== undefined) content.notification = notification;
  const android = optionalObject(request, 'android');
  if (android !== undefined) content.android = android;
  const apns = optionalObject(request, 'apns');
  if (apns !== undefined) content.apns = apns;
  const webpush = optionalObject(request, 'webpush');
  if (webpush !== undefined) content.webpush = webpush;
  const collapseKey = optionalString(request, 'collapse_key');
  if (collapseKey !== undefined) content.collapse_key = collapseKey;
  if (priority !== undefined) content.priority = priority;
  if (ttl !== undefined) content.ttl = ttl as number;
  if (dryRun !== undefined) content.dry_run = dryRun;
  const app = optionalString(request, 'app');
  const sendAt = request.send_at === undefined ? undefined : parseWhen(request.send_at, 'send_at');
  if (sendAt !== undefined && sendAt - now > MAX_SCHEDULE_MS) throw bad('"send_at" is more than 30 days ahead');
  const expiresAt = request.expires_at === undefined ? undefined : parseWhen(request.expires_at, 'expires_at');
  return { content, tokens, app, sendAt, expiresAt };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const SEND_KEYS = new Set([
  'cmd', 'id', 'app', 'tokens', 'payload', 'notification', 'android', 'apns', 'webpush', 'collapse_key', 'priority', 'ttl', 'dry_run', 'send_at', 'expires_at',
]);

/** A request id must be a string or a number; anything else is refused (and not echoed). */
export function requestIdOf(request: Json): string | number | undefined {
  const id = request.id;
  if (id === undefined || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))) return id;
  throw bad('"id" must be a string or a number');
}
