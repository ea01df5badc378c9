// A message: one accepted `send` — its id, its app, when it may and must go,
// and its validated content — as the spool keeps it.
import { randomFillSync } from 'node:crypto';

/** The content of a `send`, with SPEC.md's field names; only validated values get here. */
export interface MessageContent {
  readonly payload: Readonly<Record<string, unknown>>;
  readonly notification?: Readonly<{ title?: string; body?: string; image?: string }>;
  readonly android?: Readonly<Record<string, unknown>>;
  readonly apns?: Readonly<Record<string, unknown>>;
  readonly webpush?: Readonly<Record<string, unknown>>;
  readonly collapse_key?: string;
  readonly priority?: 'normal' | 'high';
  /** Time to live, in seconds. */
  readonly ttl?: number;
  readonly dry_run?: boolean;
}

export interface Message {
  readonly id: string;
  /** The app it is sent for (SPEC.md "Apps and providers"). */
  readonly app: string;
  /** When it was accepted (ms since the epoch): APNs' expiration counts from it. */
  readonly acceptedAt: number;
  /** A token not delivered by then fails as `expired` (ms since the epoch). */
  readonly expiresAt?: number;
  readonly content: MessageContent;
}

/** A message as `send` hands it to the spool: not before `sendAt` (ms since the epoch), if given. */
export interface NewMessage extends Message {
  readonly sendAt?: number;
}

/** Random bytes drawn 4 KiB at a time, as randomUUID() does: an id is made per send. */
const entropy = Buffer.alloc(4096);
let used = entropy.length;

/**
 * A new message id: a UUID of version 7 (RFC 9562), time first. Ids grow with
 * time, so the spool's index of them is appended to, not split at random.
 */
export function newMessageId(now: number): string {
  if (used + 16 > entropy.length) {
    randomFillSync(entropy);
    used = 0;
  }
  const bytes = Buffer.from(entropy.subarray(used, (used += 16)));
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 0x70 | ((bytes[6] as number) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
