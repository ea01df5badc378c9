// What each push service refuses as too large, checked at `send` so that such
// a message is answered payload_too_large instead of failing later. Pure.
import type { MessageContent } from '../message.js';

/** A message's problem with a service's size limit, in words; undefined when it fits. */
export type SizeCheck = (content: MessageContent) => string | undefined;

/** FCM (v1 and legacy) refuses a data payload over 4096 bytes. */
export const MAX_DATA_BYTES = 4096;

/** The size FCM counts: the data values as strings, keys included. */
export function dataBytes(payload: Readonly<Record<string, unknown>>): number {
  let bytes = 0;
  for (const [key, value] of Object.entries(payload)) {
    const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
    bytes += Buffer.byteLength(key) + Buffer.byteLength(text);
  }
  return bytes;
}

export const fcmDataLimit: SizeCheck = (content) => {
  const size = dataBytes(content.payload);
  return size > MAX_DATA_BYTES ? `the data payload is ${size} bytes; FCM takes at most ${MAX_DATA_BYTES}` : undefined;
};
