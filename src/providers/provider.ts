// The one interface every push service speaks: a message and some tokens in,
// an outcome per token out. Providers never throw for trouble on the way.
import type { Message } from '../message.js';

/**
 * Who decided an outcome: `network` means we never got a complete answer;
 * `http` an answer whose status alone decides; a provider's name, that
 * provider's own code in its body; `token`, the OAuth2 token endpoint; `gocm`,
 * the daemon itself (e.g. `expired`). So "the service said no" and "we never
 * got through" differ by type, not by the spelling of a string.
 */
export type ReasonSource = 'network' | 'http' | 'fcm' | 'gcm' | 'apns' | 'webpush' | 'token' | 'gocm';

export interface Reason {
  readonly source: ReasonSource;
  /** network: a transport error code (ECONNREFUSED, ERR_REQUEST_TIMEOUT…); http: the status; else the service's own code. */
  readonly code: string;
}

/**
 * Transport error codes (transport/errors.ts, and the system's ETIMEDOUT)
 * that mean "no answer in time" rather than "no connection".
 */
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ERR_REQUEST_TIMEOUT', 'ERR_CONNECT_TIMEOUT', 'ERR_SESSION_DEAD']);

/**
 * The reason as SPEC.md spells it in `status`, events and metrics: the
 * service's own code, else `http_<status>`, `network` or `timeout`.
 * A small, bounded set: it labels metrics.
 */
export function reasonLabel(reason: Reason): string {
  switch (reason.source) {
    case 'network':
      return TIMEOUT_CODES.has(reason.code) ? 'timeout' : 'network';
    case 'http':
      return `http_${reason.code}`;
    case 'token':
      return `token_${reason.code}`;
    default:
      return reason.code;
  }
}

/** The reason for a log line: the label, with the transport's own code where the label hides it. */
export function describeReason(reason: Reason): string {
  return reason.source === 'network' ? `network: ${reason.code}` : reasonLabel(reason);
}

export type Outcome =
  | { readonly kind: 'delivered'; readonly canonical?: string }
  /**
   * Final: never retried. `notRegistered` puts the token on the purge list;
   * `configProblem` marks failures that say the daemon is misconfigured
   * (wrong project, bad key) rather than that the token is bad.
   */
  | {
      readonly kind: 'failed';
      readonly reason: Reason;
      readonly notRegistered?: boolean;
      readonly configProblem?: boolean;
    }
  /**
   * Retryable. `retryAfterMs`: the service's own wish (Retry-After), as sent;
   * the engine clamps it. `floorMs`: the least wait the service documents when
   * it sends none (FCM's minute after a 429). `quota`: the service says the
   * app sends too much (HTTP 429, QUOTA_EXCEEDED): the whole app waits.
   */
  | { readonly kind: 'retry'; readonly reason: Reason; readonly retryAfterMs?: number; readonly floorMs?: number; readonly quota?: boolean };

export type RetryOutcome = Extract<Outcome, { kind: 'retry' }>;
export type FailedOutcome = Extract<Outcome, { kind: 'failed' }>;

/** What a provider needs of a message: its id (to cache per message), content, and when it was accepted (APNs' expiration). */
export type MessageToSend = Pick<Message, 'id' | 'content'> & Partial<Pick<Message, 'acceptedAt' | 'app'>>;

export interface Provider {
  readonly name: 'fcm' | 'gcm' | 'apns' | 'webpush';
  /** How many tokens of one message one request may carry (gcm 1000, fcm 1). */
  readonly maxTokensPerRequest: number;
  /**
   * Deliver `message` to `tokens` (at most maxTokensPerRequest). Resolves with one
   * outcome per token, in order; trouble on the way becomes outcomes.
   */
  send(message: MessageToSend, tokens: readonly string[]): Promise<Outcome[]>;
  /** Let requests in flight finish, then release connections. Idempotent. */
  close(): Promise<void>;
  /** Abort requests in flight (they become `retry` outcomes) and release connections. Idempotent. */
  destroy(): Promise<void>;
}
