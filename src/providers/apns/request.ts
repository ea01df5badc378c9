// A message's content → the APNs request: the JSON payload (Apple's `aps`
// dictionary and the custom keys) and Apple's headers, the same for every
// token of the message. Pure. FCM's ApnsConfig is the model for the `apns`
// field: {"headers": {…}, "payload": {…}}, merged over what gocm generates.
// https://developer.apple.com/documentation/usernotifications/generating-a-remote-notification
// https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns
import { isObject } from '../../guards.js';
import type { MessageContent } from '../../message.js';
import type { SizeCheck } from '../limits.js';

export interface ApnsRequest {
  readonly body: string;
  /** Apple's headers for this message; the provider adds authorization. */
  readonly headers: Readonly<Record<string, string>>;
  readonly pushType: string;
}

/** Apple's limit on the payload; VoIP pushes may take 5 KB. */
const MAX_PAYLOAD_BYTES = 4096;
const MAX_VOIP_PAYLOAD_BYTES = 5120;

/** The aps keys that make a notification the user sees or hears: Apple's `alert` push type. */
const USER_FACING = ['alert', 'sound', 'badge'];

type Json = Record<string, unknown>;

function generatedAps(content: MessageContent): Json {
  const aps: Json = {};
  const { title, body, image } = content.notification ?? {};
  if (title !== undefined || body !== undefined) aps.alert = { ...(title !== undefined && { title }), ...(body !== undefined && { body }) };
  // APNs carries no image; a notification service extension fetches it, and runs only with mutable-content.
  if (image !== undefined) aps['mutable-content'] = 1;
  return aps;
}

/** `theirs` over `ours`, key by key; an alert dictionary on both sides is merged one level further. */
function mergeAps(ours: Json, theirs: unknown): Json {
  if (!isObject(theirs)) return ours;
  const merged = { ...ours, ...theirs };
  if (isObject(ours.alert) && isObject(theirs.alert)) merged.alert = { ...ours.alert, ...theirs.alert };
  return merged;
}

/**
 * Only Apple's own headers pass from `apns.headers`: authorization and HTTP/2's
 * forbidden connection headers would break every request of the message.
 */
function callerHeaders(headers: unknown): Record<string, string> {
  const passed: Record<string, string> = {};
  if (!isObject(headers)) return passed;
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower.startsWith('apns-') && (typeof value === 'string' || typeof value === 'number')) passed[lower] = String(value);
  }
  return passed;
}

export function apnsRequest(content: MessageContent, acceptedAtMs: number, topic: string): ApnsRequest {
  const apns = content.apns ?? {};
  const apnsPayload: Json = isObject(apns.payload) ? apns.payload : {};
  const given = callerHeaders(apns.headers);
  // A `payload` key named aps can only mean Apple's dictionary: it is merged as apns.payload.aps is.
  const aps = mergeAps(mergeAps(generatedAps(content), content.payload.aps), apnsPayload.aps);
  const pushType = given['apns-push-type'] ?? (USER_FACING.some((key) => aps[key] !== undefined) ? 'alert' : 'background');

  const headers: Record<string, string> = { 'apns-topic': topic, 'apns-push-type': pushType };
  if (pushType === 'background') {
    // Apple: a background push has content-available and goes at priority 5; 10 is an error for it.
    aps['content-available'] ??= 1;
    headers['apns-priority'] = '5';
  } else if (content.priority !== undefined) {
    headers['apns-priority'] = content.priority === 'high' ? '10' : '5';
  }
  // ttl 0 is "now or never", which apns-expiration 0 says; otherwise seconds since the epoch.
  if (content.ttl !== undefined) headers['apns-expiration'] = content.ttl === 0 ? '0' : String(Math.floor(acceptedAtMs / 1000) + content.ttl);
  if (content.collapse_key !== undefined) headers['apns-collapse-id'] = content.collapse_key;

  const body = JSON.stringify({ ...content.payload, ...apnsPayload, aps });
  return { body, headers: { ...headers, ...given }, pushType };
}

function payloadLimit(pushType: string): number {
  return pushType === 'voip' ? MAX_VOIP_PAYLOAD_BYTES : MAX_PAYLOAD_BYTES;
}

/** The payload's size as APNs counts it, checked at `send`. */
export const apnsPayloadLimit: SizeCheck = (content) => {
  const { body, pushType } = apnsRequest(content, 0, '');
  const size = Buffer.byteLength(body);
  const limit = payloadLimit(pushType);
  return size > limit ? `the APNs payload is ${size} bytes; APNs takes at most ${limit}` : undefined;
};
