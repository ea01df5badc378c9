// The shared OAuth2 access token: fetched once, used by every request, renewed
// ahead of expiry in the background or at once after a 401. Concurrent
// renewals share one request to the token endpoint.
import type { Outcome } from '../provider.js';
import { networkOutcome } from '../answers.js';
import type { AccessTokenGrant } from './outcome.js';

/** Asks the token endpoint once; resolves with a grant or the outcome that stands for the failure. */
export type FetchAccessToken = () => Promise<AccessTokenGrant | Outcome>;

/** Renew this long before expiry, or at half the lifetime for short-lived tokens. */
const RENEW_MARGIN_MS = 5 * 60_000;

interface Held {
  readonly grant: AccessTokenGrant;
  /** After this, a renewal starts in the background while the token is still used. */
  readonly renewAt: number;
  /** After this, requests wait for a new token. */
  readonly expiresAt: number;
}

export class AccessTokenCache {
  readonly #fetch: FetchAccessToken;
  readonly #now: () => number;
  #held: Held | undefined;
  #renewal: Promise<AccessTokenGrant | Outcome> | undefined;

  constructor(fetch: FetchAccessToken, now: () => number = Date.now) {
    this.#fetch = fetch;
    this.#now = now;
  }

  /** A usable token, or the outcome the request should take when none can be had. */
  async get(): Promise<AccessTokenGrant | Outcome> {
    const held = this.#held;
    const now = this.#now();
    if (held && now < held.expiresAt) {
      // Still good: renew early without making anyone wait for it.
      if (now >= held.renewAt) void this.#renew();
      return held.grant;
    }
    return this.#renew();
  }

  /** `accessToken` drew a 401: forget it unless a newer one has already replaced it. */
  invalidate(accessToken: string): void {
    if (this.#held?.grant.accessToken === accessToken) this.#held = undefined;
  }

  #renew(): Promise<AccessTokenGrant | Outcome> {
    this.#renewal ??= this.#fetch()
      .catch((error: unknown) => networkOutcome(error))
      .then((answer) => {
        this.#renewal = undefined;
        if (answer.kind === 'granted') this.#hold(answer);
        return answer;
      });
    return this.#renewal;
  }

  #hold(grant: AccessTokenGrant): void {
    const now = this.#now();
    const margin = Math.min(RENEW_MARGIN_MS, grant.expiresInMs / 2);
    this.#held = { grant, renewAt: now + grant.expiresInMs - margin, expiresAt: now + grant.expiresInMs };
  }
}
