// APNs provider tokens: ES256 JWTs ({alg, kid}, {iss, iat}) signed with the
// .p8 key and shared by every request. Apple refuses a token older than an
// hour, and answers 429 TooManyProviderTokenUpdates to one renewed more often
// than every 20 minutes, so a token is renewed at 40 minutes, in the middle
// of that window, and sooner only when APNs itself calls it expired.
// https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-connection-to-apns
import { createHash, sign, type KeyObject } from 'node:crypto';
import { base64url } from '../encoding.js';

interface SigningKey {
  readonly privateKey: KeyObject;
  /** The key's 10-character id: the JWT's `kid`. */
  readonly keyId: string;
  /** The developer team's id: the JWT's `iss`. */
  readonly teamId: string;
}

/** A token and the header that carries it. A secret: never log it. */
export interface ProviderToken {
  /** Seconds since the epoch. */
  readonly iat: number;
  readonly authorization: string;
}

/** Apple's window is 20 to 60 minutes; 40 keeps clear of both ends, whatever the clocks' skew. */
const RENEW_AFTER_MS = 40 * 60_000;
/** A token issued this far ahead of our clock (the clock stepped back) would be refused as InvalidProviderToken. */
const CLOCK_STEP_BACK_MS = 5 * 60_000;


export function signProviderToken(key: SigningKey, iat: number): string {
  const input = `${base64url(JSON.stringify({ alg: 'ES256', kid: key.keyId }))}.${base64url(JSON.stringify({ iss: key.teamId, iat }))}`;
  // JWS wants the raw r||s signature (RFC 7518 §3.4), not node's default DER.
  const signature = sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${base64url(signature)}`;
}

export class ProviderTokens {
  readonly #key: SigningKey;
  readonly #now: () => number;
  #current: { readonly token: ProviderToken; readonly issuedAt: number } | undefined;
  /** The iat of the last token APNs called expired: the next must be later. */
  #refusedIat = -Infinity;

  constructor(key: SigningKey, now: () => number = Date.now) {
    this.#key = key;
    this.#now = now;
  }

  /** The token to send now: the one held, unless it is due for renewal. */
  current(): ProviderToken {
    const now = this.#now();
    const held = this.#current;
    if (held) {
      const age = now - held.issuedAt;
      if (age < RENEW_AFTER_MS && age > -CLOCK_STEP_BACK_MS) return held.token;
    }
    // After an ExpiredProviderToken APNs takes no token issued at or before the
    // refused one's second: a renewal within that second must still move iat on.
    const iat = Math.max(Math.floor(now / 1000), this.#refusedIat + 1);
    const token = { iat, authorization: `bearer ${signProviderToken(this.#key, iat)}` };
    this.#current = { token, issuedAt: now };
    return token;
  }

  /**
   * APNs answered ExpiredProviderToken to `token`: the next current() signs a
   * new one, unless another request has already had it replaced. Requests
   * refused together share one renewal.
   */
  expired(token: ProviderToken): void {
    if (this.#current?.token !== token) return;
    this.#current = undefined;
    this.#refusedIat = token.iat;
  }
}

/** Keys whose tokens are kept across reloads; more than a daemon's apps will ever name. */
const MAX_SHARED = 32;
const shared = new Map<string, ProviderTokens>();

/**
 * The ProviderTokens of `key`, the same object for the same key, key id and
 * team id: a SIGHUP rebuilds every app's provider, and a fresh token for an
 * unchanged key would be the renewal within 20 minutes that Apple refuses.
 */
export function sharedProviderTokens(key: SigningKey): ProviderTokens {
  const der = key.privateKey.export({ type: 'pkcs8', format: 'der' });
  const id = `${key.keyId}\0${key.teamId}\0${createHash('sha256').update(der).digest('hex')}`;
  let tokens = shared.get(id);
  if (!tokens) {
    if (shared.size >= MAX_SHARED) shared.delete(shared.keys().next().value as string);
    tokens = new ProviderTokens(key);
    shared.set(id, tokens);
  }
  return tokens;
}
