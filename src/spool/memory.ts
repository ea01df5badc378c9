// The `:memory:` spool: the SQLite spool's contract with nothing durable, as GoCM
// kept it. Built for 1M pending: tokens never tried wait in a FIFO of whole sends
// (a pointer each, no object per token), retries in a min-heap by due time, so a
// claim costs what it takes, never a walk over what waits.
import { type Clock, systemClock } from '../clock.js';
import { SpoolFullError } from '../errors.js';
import type { Message } from '../message.js';
import { MinHeap } from './heap.js';
import { InFlight } from './inflight.js';
import type { CanonicalReplacement, Delivery, QueueCounts, Settlement, Spool } from './spool.js';

/** An accepted send, linked in accept order among those with tokens left. */
interface StoredMessage {
  readonly message: Message;
  /** Accept order: ties in due time go to the older send, as in SQLite. */
  readonly seq: number;
  readonly acceptedAt: number;
  remaining: number;
  older: StoredMessage | undefined;
  newer: StoredMessage | undefined;
}

/** A send's tokens never tried; `next` is the first not yet claimed. */
interface QueuedSend {
  readonly stored: StoredMessage;
  readonly tokens: readonly string[];
  readonly dueAt: number;
  next: number;
}

/** One token waiting to retry, or in flight. */
interface TokenPlace {
  readonly stored: StoredMessage;
  readonly token: string;
  /** Its place in the send: ties in due time keep send order. */
  readonly index: number;
  readonly attempts: number;
  readonly dueAt: number;
}

function comesBefore(dueAt: number, seq: number, index: number, other: TokenPlace): boolean {
  if (dueAt !== other.dueAt) return dueAt < other.dueAt;
  if (seq !== other.stored.seq) return seq < other.stored.seq;
  return index < other.index;
}

export class MemorySpool implements Spool {
  private readonly sends: (QueuedSend | undefined)[] = [];
  private head = 0;
  private queued = 0;
  private readonly retries = new MinHeap<TokenPlace>((a, b) => comesBefore(a.dueAt, a.stored.seq, a.index, b));
  private readonly inflight = new InFlight<TokenPlace>();
  /** Tokens in `retries` never tried: given back unsent by release(). */
  private released = 0;
  private total = 0;
  private seq = 0;
  private lastDueAt = 0;
  private oldest: StoredMessage | undefined;
  private newest: StoredMessage | undefined;
  private readonly canonicals = new Map<string, string>();
  private readonly notRegistered = new Set<string>();
  private closed = false;
  /** Nothing survives a restart, so nothing is ever found at open. */
  readonly recovered = 0;

  /** `spoolMax`: most tokens held; add() beyond it rejects with SpoolFullError. */
  constructor(
    private readonly spoolMax: number,
    private readonly clock: Clock = systemClock,
  ) {}

  add(message: Message, tokens: readonly string[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the spool is closed'));
    if (tokens.length === 0) return Promise.resolve();
    if (this.total + tokens.length > this.spoolMax) {
      return Promise.reject(new SpoolFullError(`the spool holds ${this.total} tokens; ${tokens.length} more would pass --spool-max ${this.spoolMax}`));
    }
    const acceptedAt = this.clock.now();
    // Kept monotonic, so the FIFO stays in due order even if the clock steps back.
    this.lastDueAt = Math.max(this.lastDueAt, acceptedAt);
    const stored: StoredMessage = { message, seq: this.seq++, acceptedAt, remaining: tokens.length, older: this.newest, newer: undefined };
    if (this.newest) this.newest.newer = stored;
    else this.oldest = stored;
    this.newest = stored;
    this.sends.push({ stored, tokens: tokens.slice(), dueAt: this.lastDueAt, next: 0 });
    this.total += tokens.length;
    this.queued += tokens.length;
    return Promise.resolve();
  }

  claim(limit: number, now: number): Promise<Delivery[]> {
    const claimed: Delivery[] = [];
    while (claimed.length < limit) {
      const place = this.takeDue(now);
      if (!place) break;
      claimed.push(this.inflight.claim(place.stored.message, place.token, place.attempts, place));
    }
    return Promise.resolve(claimed);
  }

  release(deliveries: readonly Delivery[]): Promise<void> {
    for (const delivery of deliveries) {
      const place = this.inflight.find(delivery);
      if (!place) continue;
      this.inflight.release(delivery);
      // Back among the waiting, in its old place: same due time, same order.
      this.retries.push(place);
      if (place.attempts === 0) this.released++;
    }
    return Promise.resolve();
  }

  /** The earliest due token of the FIFO head and the heap top, if it is due at `now`. */
  private takeDue(now: number): TokenPlace | undefined {
    const send = this.sends[this.head];
    const retry = this.retries.peek();
    if (send && send.dueAt <= now && (!retry || comesBefore(send.dueAt, send.stored.seq, send.next, retry))) {
      const index = send.next++;
      this.queued--;
      if (send.next === send.tokens.length) this.advance();
      return { stored: send.stored, token: send.tokens[index] as string, index, attempts: 0, dueAt: send.dueAt };
    }
    if (retry && retry.dueAt <= now) {
      if (retry.attempts === 0) this.released--;
      return this.retries.pop();
    }
    return undefined;
  }

  private advance(): void {
    this.sends[this.head++] = undefined;
    // Drop the spent front now and then: amortised O(1), and the array stays at most twice what waits.
    if (this.head >= 1024 && this.head * 2 >= this.sends.length) {
      this.sends.splice(0, this.head);
      this.head = 0;
    }
  }

  nextDueAt(): Promise<number | undefined> {
    const send = this.sends[this.head]?.dueAt;
    const retry = this.retries.peek()?.dueAt;
    if (send === undefined) return Promise.resolve(retry);
    return Promise.resolve(retry === undefined ? send : Math.min(send, retry));
  }

  settle(settlements: readonly Settlement[]): Promise<void> {
    for (const settlement of settlements) {
      const place = this.inflight.find(settlement.delivery);
      if (!place) continue;
      this.inflight.release(settlement.delivery);
      if (settlement.result === 'retry') {
        this.retries.push({ ...place, attempts: place.attempts + 1, dueAt: settlement.dueAt });
        continue;
      }
      this.finish(place.stored);
      if (settlement.result === 'delivered' && settlement.canonical !== undefined) this.canonicals.set(place.token, settlement.canonical);
      if (settlement.result === 'failed' && settlement.notRegistered) this.notRegistered.add(place.token);
    }
    return Promise.resolve();
  }

  /** One token of `stored` is final; a message with none left is unlinked and forgotten. */
  private finish(stored: StoredMessage): void {
    this.total--;
    if (--stored.remaining > 0) return;
    if (stored.older) stored.older.newer = stored.newer;
    else this.oldest = stored.newer;
    if (stored.newer) stored.newer.older = stored.older;
    else this.newest = stored.older;
  }

  counts(): Promise<QueueCounts> {
    return Promise.resolve({
      pending: this.total,
      queued: this.queued + this.released,
      inflight: this.inflight.size,
      retrying: this.retries.size - this.released,
      oldestAcceptedAt: this.oldest?.acceptedAt,
    });
  }

  takeCanonicals(keep: boolean): Promise<CanonicalReplacement[]> {
    const list = Array.from(this.canonicals, ([original, canonical]) => ({ original, canonical }));
    if (!keep) this.canonicals.clear();
    return Promise.resolve(list);
  }

  clearCanonicals(originals: readonly string[]): Promise<number> {
    let cleared = 0;
    for (const original of originals) if (this.canonicals.delete(original)) cleared++;
    return Promise.resolve(cleared);
  }

  takeNotRegistered(keep: boolean): Promise<string[]> {
    const list = [...this.notRegistered];
    if (!keep) this.notRegistered.clear();
    return Promise.resolve(list);
  }

  clearNotRegistered(tokens: readonly string[]): Promise<number> {
    let cleared = 0;
    for (const token of tokens) if (this.notRegistered.delete(token)) cleared++;
    return Promise.resolve(cleared);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}
