// The Spool: where accepted work waits until it is final. Every implementation
// (memory, SQLite) passes one conformance suite (test/spool/conformance.ts).
// Every call may fail (a busy or full disk): callers retry, nothing is half done.
import type { Message } from '../message.js';
import type { Reason } from '../providers/provider.js';

/** One token of one message, claimed for delivery. */
export interface Delivery {
  readonly message: Message;
  readonly token: string;
  /** Tries already made before this one. */
  readonly attempts: number;
}

/** What became of a claimed delivery; applied by `settle`. */
export type Settlement =
  | { readonly delivery: Delivery; readonly result: 'delivered'; readonly canonical?: string }
  | { readonly delivery: Delivery; readonly result: 'failed'; readonly reason: Reason; readonly notRegistered: boolean }
  /** Try again at `dueAt` (ms since the epoch); the attempt counter goes up by one. */
  | { readonly delivery: Delivery; readonly result: 'retry'; readonly reason: Reason; readonly dueAt: number };

export interface CanonicalReplacement {
  readonly original: string;
  readonly canonical: string;
}

/** Tokens not yet final, by state, like `mailq`. */
export interface QueueCounts {
  /** queued + inflight + retrying. */
  readonly pending: number;
  /** Never tried, due now or later. */
  readonly queued: number;
  /** Claimed and not yet settled. */
  readonly inflight: number;
  /** Tried at least once, waiting for their next try. */
  readonly retrying: number;
  /** When the oldest pending token was accepted (ms since the epoch), if any. */
  readonly oldestAcceptedAt: number | undefined;
}

export interface Spool {
  /** Tokens found not final when the spool was opened (left by an earlier run). */
  readonly recovered: number;
  /**
   * Keep `message` for `tokens` (already de-duplicated). Resolves once the work
   * is as durable as the spool promises (committed, for SQLite); sends that
   * arrive together share one commit. Rejects with SpoolFullError when the
   * spool cannot take it; then nothing of it was kept.
   */
  add(message: Message, tokens: readonly string[]): Promise<void>;
  /**
   * Up to `limit` tokens due at `now`, oldest first, marked in flight. Tokens of
   * the same message come out next to each other.
   */
  claim(limit: number, now: number): Promise<Delivery[]>;
  /** Give claimed deliveries back unsent: due as they were, no try counted (a stop, an abandoned request). */
  release(deliveries: readonly Delivery[]): Promise<void>;
  /** When the earliest waiting token falls due (ms since the epoch), or undefined if none waits. */
  nextDueAt(): Promise<number | undefined>;
  /**
   * Apply outcomes, all in one transaction: final ones leave the spool, lists
   * grow. A delivery is found by message id and token (message ids are unique);
   * settling one that is not in flight changes nothing. When it rejects,
   * nothing was applied and the same settlements may be given again.
   */
  settle(settlements: readonly Settlement[]): Promise<void>;
  counts(): Promise<QueueCounts>;
  /** The canonical list, oldest first; cleared in the same transaction unless `keep`. */
  takeCanonicals(keep: boolean): Promise<CanonicalReplacement[]>;
  /** Remove exactly these originals from the canonical list (the second step of a careful read). */
  clearCanonicals(originals: readonly string[]): Promise<number>;
  /** The not-registered list, oldest first; cleared in the same transaction unless `keep`. */
  takeNotRegistered(keep: boolean): Promise<string[]>;
  /** Remove exactly these tokens from the not-registered list; resolves with how many were there. */
  clearNotRegistered(tokens: readonly string[]): Promise<number>;
  /** Commit what is pending, then release the store. Idempotent. */
  close(): Promise<void>;
}
