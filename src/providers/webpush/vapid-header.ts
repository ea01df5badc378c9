// The VAPID Authorization header (RFC 8292 §3) per push-service origin, its
// `aud`. web-push signs a new JWT on every call and parses its PEM each time
// (measured here: 0.6–2.6 ms a call on a loaded 2-core machine, more than the
// message's own encryption), so one header serves an origin for an hour, well
// inside the 12 hours it is signed for.
import { lazily } from '../../lazy.js';
import type { VapidKeys } from './vapid-keys.js';

const webpush = lazily<typeof import('web-push')>('web-push');

/** The JWT's lifetime: web-push's default; push services take up to 24 hours. */
const LIFETIME_S = 12 * 60 * 60;
/** Re-signed this long after signing: far from the expiry whatever the clocks' skew. */
const REUSE_MS = 60 * 60_000;
/** Origins remembered: browsers use a handful of push services; tokens may name any. */
const MAX_ORIGINS = 256;

export class VapidHeaders {
  readonly #keys: VapidKeys;
  readonly #subject: string;
  readonly #now: () => number;
  readonly #signed = new Map<string, { readonly authorization: string; readonly signedAt: number }>();

  constructor(keys: VapidKeys, subject: string, now: () => number = Date.now) {
    // Loaded here, at start, so that a broken install fails as itself, not as the subject's fault.
    webpush();
    this.#keys = keys;
    this.#subject = subject;
    this.#now = now;
  }

  /** `vapid t=…, k=…` for pushes to `origin`. Throws only for a subject or key web-push refuses (checked at start). */
  authorization(origin: string): string {
    const now = this.#now();
    const held = this.#signed.get(origin);
    if (held && now - held.signedAt < REUSE_MS && now >= held.signedAt) return held.authorization;
    const expiration = Math.floor(now / 1000) + LIFETIME_S;
    const { Authorization: authorization } = webpush().getVapidHeaders(origin, this.#subject, this.#keys.publicKey, this.#keys.privateKey, 'aes128gcm', expiration);
    this.#signed.delete(origin);
    // Maps iterate in insertion order: the first key is the least recently signed.
    if (this.#signed.size >= MAX_ORIGINS) this.#signed.delete(this.#signed.keys().next().value as string);
    this.#signed.set(origin, { authorization, signedAt: now });
    return authorization;
  }
}
