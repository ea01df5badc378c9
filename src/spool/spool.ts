// The Spool: where accepted work waits until it is final, and what became of
// it is remembered. Every implementation (memory, SQLite) passes one
// conformance suite (test/spool/conformance.ts). Every call may fail (a busy
// or full disk): callers retry, and nothing is ever half done.
import type { Message, NewMessage } from '../message.js';
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
  readonly app: string;
  readonly original: string;
  readonly canonical: string;
}

export interface NotRegisteredToken {
  readonly app: string;
  readonly token: string;
}

/** Tokens not yet final, by state, like `mailq`. */
export interface QueueCounts {
  /** queued + scheduled + inflight + retrying. */
  readonly pending: number;
  /** Never tried, due now. */
  readonly queued: number;
  /** Never tried, held until a later `send_at`. */
  readonly scheduled: number;
  /** Claimed and not yet settled. */
  readonly inflight: number;
  /** Tried at least once, waiting for their next try. */
  readonly retrying: number;
  /** When the oldest pending token was accepted (ms since the epoch), if any. */
  readonly oldestAcceptedAt: number | undefined;
}

/** What became of one message's tokens, as `status` tells it. */
export interface MessageStatus {
  readonly id: string;
  readonly app: string;
  readonly tokens: number;
  readonly pending: number;
  readonly delivered: number;
  readonly failed: number;
  /** The first MAX_STATUS_FAILURES final failures, with the SPEC reason label. */
  readonly failures: ReadonlyArray<{ readonly token: string; readonly reason: string }>;
  /** When its last token became final (ms since the epoch); undefined while some are pending. */
  readonly finishedAt: number | undefined;
}

/** `status` lists at most this many failures of a message (SPEC.md "Observing it"). */
export const MAX_STATUS_FAILURES = 1000;

/** A list read: every app, or one. */
export type AppFilter = string | undefined;

export interface Spool {
  /** Tokens found not final when the spool was opened (left by an earlier run). */
  readonly recovered: number;
  /**
   * Keep `message` for `tokens` (already de-duplicated), due at its `sendAt`
   * or now. Resolves once the work is as durable as the spool promises
   * (committed, for SQLite); sends that arrive together share one commit.
   * Rejects with a `busy` ProtocolError when the spool cannot take it; then
   * nothing of it was kept.
   */
  add(message: NewMessage, tokens: readonly string[]): Promise<void>;
  /**
   * Up to `limit` tokens of `app` due at `now`, oldest first, marked in
   * flight. Tokens of the same message come out next to each other.
   */
  claim(app: string, limit: number, now: number): Promise<Delivery[]>;
  /** Give claimed deliveries back unsent: due as they were, no try counted (a stop, an abandoned request). */
  release(deliveries: readonly Delivery[]): Promise<void>;
  /** When the earliest waiting token of `app` falls due (ms since the epoch), or undefined if none waits. */
  nextDueAt(app: string): Promise<number | undefined>;
  /**
   * Apply outcomes decided at `now`, all in one transaction: final ones leave
   * the queue and count in their message's status, lists grow. A delivery is
   * found by message id and token; settling one that is not in flight changes
   * nothing. When it rejects, nothing was applied and the same settlements
   * may be given again.
   */
  settle(settlements: readonly Settlement[], now: number): Promise<void>;
  /** Pending tokens by state, of one app or all, as of `now` (what is scheduled depends on it). */
  counts(app: AppFilter, now: number): Promise<QueueCounts>;
  /** A message's status, kept until `retentionMs` after it became final; undefined if unknown or expired. */
  status(id: string): Promise<MessageStatus | undefined>;
  /** The canonical list (of one app, or all), oldest first; cleared in the same transaction unless `keep`. */
  takeCanonicals(app: AppFilter, keep: boolean): Promise<CanonicalReplacement[]>;
  /** Remove exactly these originals from the canonical list (the second step of a careful read); how many were there. */
  clearCanonicals(app: AppFilter, originals: readonly string[]): Promise<number>;
  /** The not-registered list (of one app, or all), oldest first; cleared in the same transaction unless `keep`. */
  takeNotRegistered(app: AppFilter, keep: boolean): Promise<NotRegisteredToken[]>;
  /** Remove exactly these tokens from the not-registered list; resolves with how many were there. */
  clearNotRegistered(app: AppFilter, tokens: readonly string[]): Promise<number>;
  /**
   * Whether the spool can take a write now: a real write, and room left on
   * its disk. Rejects with the reason when it cannot (for /healthz).
   */
  probe(): Promise<void>;
  /** Commit what is pending, then release the store. Idempotent. */
  close(): Promise<void>;
  /** A shared spool: call `listener` when work may have come from another daemon. */
  onWork?(listener: () => void): void;
  /** A shared spool: the daemons sharing it (SPEC.md "Spools", `fleet`). */
  fleet?(): Promise<FleetMember[]>;
}

/** A daemon sharing the spool, as `fleet` lists it. */
export interface FleetMember {
  readonly name: string;
  readonly host: string;
  readonly pid: number;
  readonly started_at: string;
  readonly seen_at: string;
  readonly inflight: number;
}

/** How long statuses are kept once final, and how many at most (SPEC.md "Observing it"). */
export interface StatusPolicy {
  readonly retentionMs: number;
  /** Past this many final messages remembered, the oldest are forgotten early: the store stays bounded. */
  readonly maxFinished: number;
}

export const DEFAULT_STATUS_POLICY: StatusPolicy = { retentionMs: 24 * 3_600_000, maxFinished: 1_000_000 };
