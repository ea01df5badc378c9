// The shared OAuth2 access token: fetched once, used by every request, renewed
// ahead of expiry in the background or at once after a 401. Concurrent
// renewals share one request to the token endpoint, and after a failed one
// the endpoint is left alone for its Retry-After or a back-off.
import type { Outcome } from '../provider.js';
import { networkOutcome } from '../answers.js';
import type { AccessTokenGrant } from './outcome.js';

/** Asks the token endpoint once; resolves with a grant or the outcome that stands for the failure. */
export type FetchAccessToken = () => Promise<AccessTokenGrant | Outcome>;

/** Renew this long before expiry, or at half the lifetime for short-lived tokens. */
const RENEW_MARGIN_MS = 5 * 60_000;
/** After failed fetches: wait 1 s, doubling, at most 30 s, unless the endpoint names its own wait. */
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** A Retry-After beyond this is taken as this, as the engine clamps its own (SPEC "Faults"). */
const MAX_RETRY_AFTER_MS = 3_600_000;

interface Held {
  readonly grant: AccessTokenGrant;
  /** After this, a renewal starts in the background while the token is still used. */
  readonly renewAt: number;
  /** After this, requests wait for a new token. */
  readonly expiresAt: number;
}

interface Failure {
  /** What callers without a usable token get until `until`. */
  readonly outcome: Outcome;
  /** No fetch before this. */
  readonly until: number;
  /** Failed fetches in a row. */
  readonly count: number;
}

/** How long to leave the token endpoint alone after the `count`th failure in a row. */
function holdOffMs(outcome: Outcome, count: number): number {
  if (outcome.kind === 'retry' && outcome.retryAfterMs !== undefined) return Math.min(outcome.retryAfterMs, MAX_RETRY_AFTER_MS);
  const backoff = Math.min(FIRST_BACKOFF_MS * 2 ** (count - 1), MAX_BACKOFF_MS);
  return outcome.kind === 'retry' && outcome.floorMs !== undefined ? Math.max(backoff, outcome.floorMs) : backoff;
}

export class AccessTokenCache {
  readonly #fetch: FetchAccessToken;
  readonly #now: () => number;
  #held: Held | undefined;
  #failure: Failure | undefined;
  #renewal: Promise<AccessTokenGrant | Outcome> | undefined;

  constructor(fetch: FetchAccessToken, now: () => number = Date.now) {
    this.#fetch = fetch;
    this.#now = now;
  }

  /** A usable token, or the outcome the request should take when none can be had. */
  async get(): Promise<AccessTokenGrant | Outcome> {
    const held = this.#held;
    const now = this.#now();
    const holdingOff = this.#failure !== undefined && now < this.#failure.until;
    if (held && now < held.expiresAt) {
      // Still good: renew early without making anyone wait for it.
      if (now >= held.renewAt && !holdingOff) void this.#renew();
      return held.grant;
    }
    if (holdingOff && this.#failure) return this.#failure.outcome;
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
        if (answer.kind === 'granted') {
          this.#failure = undefined;
          this.#hold(answer);
        } else {
          const count = (this.#failure?.count ?? 0) + 1;
          this.#failure = { outcome: answer, until: this.#now() + holdOffMs(answer, count), count };
        }
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
