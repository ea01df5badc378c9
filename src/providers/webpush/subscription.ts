// A Web Push token: the browser's PushSubscription as JSON,
// {"endpoint":"https://…","keys":{"p256dh":"…","auth":"…"}}, read and checked
// so that a bad one is a clear final failure rather than a throw in the crypto.
import { isObject, parseObject } from '../../guards.js';
import { fromBase64url } from '../encoding.js';

interface Subscription {
  readonly endpoint: URL;
  /** The browser's P-256 public key, base64url (65 bytes, uncompressed). */
  readonly p256dh: string;
  /** The browser's auth secret, base64url (16 bytes). */
  readonly auth: string;
}

/** The subscription in `token`, or what is wrong with it (a few words, never the token's secrets). */
export function parseSubscription(token: string): Subscription | string {
  const subscription = parseObject(token);
  if (!subscription) return 'the token is not a JSON PushSubscription';
  const { endpoint, keys } = subscription;
  if (typeof endpoint !== 'string' || !URL.canParse(endpoint)) return 'the subscription has no endpoint URL';
  const url = new URL(endpoint);
  // RFC 8030 §8: push services are reached over HTTPS only.
  if (url.protocol !== 'https:') return 'the subscription endpoint is not an https:// URL';
  if (!isObject(keys)) return 'the subscription has no keys (a push with a payload needs p256dh and auth)';
  const p256dh = fromBase64url(keys.p256dh);
  if (p256dh?.length !== 65 || p256dh[0] !== 0x04) return 'keys.p256dh is not a base64url P-256 public key';
  const auth = fromBase64url(keys.auth);
  if (auth === undefined || auth.length < 16) return 'keys.auth is not a base64url secret of 16 bytes';
  return { endpoint: url, p256dh: keys.p256dh as string, auth: keys.auth as string };
}
