// The Spool: where accepted work waits until it is final. Two implementations
// (memory, SQLite) pass one conformance suite (test/spool/conformance.ts).
import type { Message } from '../message.js';

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
  | { readonly delivery: Delivery; readonly result: 'failed'; readonly notRegistered: boolean }
  /** Try again at `dueAt` (ms since the epoch); the attempt counter goes up by one. */
  | { readonly delivery: Delivery; readonly result: 'retry'; readonly dueAt: number };

export interface CanonicalReplacement {
  readonly original: string;
  readonly canonical: string;
}

/** Tokens not yet final, by state, like `mailq`. */
export interface QueueCounts {
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
  claim(limit: number, now: number): Delivery[];
  /** When the earliest waiting token falls due (ms since the epoch), or undefined if none waits. */
  nextDueAt(): number | undefined;
  /**
   * Apply outcomes, all in one transaction: final ones leave the spool, lists
   * grow. A delivery is found by message id and token (message ids are unique);
   * settling one that is not in flight changes nothing.
   */
  settle(settlements: readonly Settlement[]): void;
  /** Tokens not final yet: queued + in flight + retrying. */
  pending(): number;
  counts(): QueueCounts;
  /** The canonical list; cleared in the same transaction unless `keep`. */
  takeCanonicals(keep: boolean): CanonicalReplacement[];
  /** The not-registered list; cleared in the same transaction unless `keep`. */
  takeNotRegistered(keep: boolean): string[];
  /** Commit what is pending, then release the file. Idempotent. */
  close(): Promise<void>;
}
