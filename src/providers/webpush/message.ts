// A message's content → what every subscription of it gets: the plaintext
// JSON {"notification":{…},"data":{…}} (values keep their JSON types) and the
// RFC 8030 headers. Pure. The `webpush` field follows FCM's WebpushConfig:
// its `notification` and `data` are merged over gocm's, its `headers` may set
// TTL, Urgency and Topic.
import { createHash } from 'node:crypto';
import { isObject } from '../../guards.js';
import type { MessageContent } from '../../message.js';
import type { SizeCheck } from '../limits.js';

export interface WebPushMessage {
  readonly plaintext: Buffer;
  /** ttl, content-encoding, content-type, and urgency and topic when set; the provider adds authorization. */
  readonly headers: Readonly<Record<string, string>>;
}

/** What a push service keeps a message for when the sender names no TTL: FCM's most, four weeks. */
export const DEFAULT_TTL_S = 28 * 24 * 60 * 60;
/** RFC 8030 §7.2: push services must take 4096 bytes of body, the aes128gcm header included. */
const MAX_BODY_BYTES = 4096;
/**
 * What aes128gcm adds to the plaintext (RFC 8188, 8291): salt 16, record
 * size 4, key id length 1, the sender's key 65; the padding delimiter 1 and
 * the tag 16 of its one record.
 */
const ENCRYPTION_OVERHEAD_BYTES = 16 + 4 + 1 + 65 + 1 + 16;
/** RFC 8030 §5.4: a Topic is at most 32 characters of the URL-safe base64 alphabet. */
const TOPIC = /^[A-Za-z0-9_-]{1,32}$/;

type Json = Record<string, unknown>;

/**
 * collapse_key as a Topic. One that is not a valid Topic is replaced by its
 * hash, which collapses the same messages and which every push service takes.
 */
export function topicOf(collapseKey: string): string {
  return TOPIC.test(collapseKey) ? collapseKey : createHash('sha256').update(collapseKey).digest('base64url').slice(0, 32);
}

/** A `webpush.headers` value, by a case-insensitive name. */
function given(headers: unknown, name: string): string | undefined {
  if (!isObject(headers)) return undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && (typeof value === 'string' || typeof value === 'number')) return String(value);
  }
  return undefined;
}

export function plaintextOf(content: MessageContent): Buffer {
  const webpush = content.webpush ?? {};
  const notification: Json = { ...content.notification, ...(isObject(webpush.notification) ? webpush.notification : {}) };
  const data: Json = { ...content.payload, ...(isObject(webpush.data) ? webpush.data : {}) };
  const message: Json = {};
  if (Object.keys(notification).length > 0) message.notification = notification;
  if (Object.keys(data).length > 0) message.data = data;
  return Buffer.from(JSON.stringify(message));
}

export function webPushMessage(content: MessageContent): WebPushMessage {
  const extra = content.webpush?.headers;
  const headers: Record<string, string> = {
    ttl: given(extra, 'ttl') ?? String(content.ttl ?? DEFAULT_TTL_S),
    'content-encoding': 'aes128gcm',
    'content-type': 'application/octet-stream',
  };
  // gocm's two priorities are two of RFC 8030's four urgencies, spelt the same.
  const urgency = given(extra, 'urgency') ?? content.priority;
  if (urgency !== undefined) headers.urgency = urgency;
  const topic = given(extra, 'topic') ?? (content.collapse_key === undefined ? undefined : topicOf(content.collapse_key));
  if (topic !== undefined) headers.topic = topic;
  return { plaintext: plaintextOf(content), headers };
}

/** The encrypted body's size, checked at `send`: the plaintext's plus what the encryption adds, the same for every subscription. */
export const webPushSizeLimit: SizeCheck = (content) => {
  const size = plaintextOf(content).length + ENCRYPTION_OVERHEAD_BYTES;
  return size > MAX_BODY_BYTES ? `the encrypted Web Push message would be ${size} bytes; push services take at most ${MAX_BODY_BYTES}` : undefined;
};
