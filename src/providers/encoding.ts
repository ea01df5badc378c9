// What the signing providers share: base64url (the JWTs of FCM and APNs, Web
// Push's keys) and the one curve ES256 and Web Push's ECDH use.
import type { KeyObject } from 'node:crypto';

export function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/** base64url as Web Push writes it, padding allowed; Buffer.from alone would skip stray characters. */
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/** The bytes of a base64url string; undefined for anything else. */
export function fromBase64url(value: unknown): Buffer | undefined {
  return typeof value === 'string' && BASE64URL.test(value) ? Buffer.from(value, 'base64url') : undefined;
}

/** An EC key on P-256 (prime256v1), as ES256 and VAPID need. */
export function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}
