// The one interface every upstream speaks: a message and some tokens in,
// an outcome per token out. Providers never throw for upstream trouble.
import type { Message } from '../message.js';

export type Outcome =
  | { readonly kind: 'delivered'; readonly canonical?: string }
  /**
   * Final: never retried. `notRegistered` puts the token on the purge list;
   * `configProblem` marks failures that say the daemon is misconfigured
   * (wrong project, bad key) rather than that the token is bad.
   */
  | {
      readonly kind: 'failed';
      readonly reason: string;
      readonly notRegistered?: boolean;
      readonly configProblem?: boolean;
    }
  /** Retryable; `retryAfterMs` is the upstream's own wish (Retry-After) or its documented floor. */
  | { readonly kind: 'retry'; readonly reason: string; readonly retryAfterMs?: number };

export interface Provider {
  readonly name: 'fcm' | 'gcm';
  /** How many tokens of one message one request may carry (gcm 1000, fcm 1). */
  readonly maxTokensPerRequest: number;
  /**
   * Deliver `message` to `tokens` (at most maxTokensPerRequest). Resolves with one
   * outcome per token, in order; upstream and network trouble become outcomes.
   */
  send(message: Message, tokens: readonly string[]): Promise<Outcome[]>;
  /** Let requests in flight finish, then release connections. Idempotent. */
  close(): Promise<void>;
  /** Abort requests in flight (they become `retry` outcomes) and release connections. Idempotent. */
  destroy(): Promise<void>;
}
