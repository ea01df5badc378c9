// The `:memory:` spool: the SQLite spool's contract with nothing durable, as GoCM
// kept it. Built for 1M pending: per app, tokens never tried wait in a FIFO of
// whole sends (a pointer each, no object per token), retries and scheduled
// sends in a min-heap by due time, so a claim costs what it takes, never a
// walk over what waits.
import { type Clock, systemClock } from '../clock.js';
import { SpoolFullError } from '../errors.js';
import type { Message, NewMessage } from '../message.js';
import { reasonLabel } from '../providers/provider.js';
import { MinHeap } from './heap.js';
import { InFlight } from './inflight.js';
import {
  type AppFilter,
  type CanonicalReplacement,
  DEFAULT_STATUS_POLICY,
  type Delivery,
  MAX_STATUS_FAILURES,
  type MessageStatus,
  type NotRegisteredToken,
  type QueueCounts,
  type Settlement,
  type Spool,
  type StatusPolicy,
} from './spool.js';

/** An accepted send: its status, and its place in accept order among those with tokens left. */
interface StoredMessage {
  readonly message: Message;
  /** Accept order: ties in due time go to the older send, as in SQLite. */
  readonly seq: number;
  readonly tokens: number;
  remaining: number;
  delivered: number;
  failed: number;
  readonly failures: Array<{ token: string; reason: string }>;
  finishedAt: number | undefined;
  older: StoredMessage | undefined;
  newer: StoredMessage | undefined;
}

/** A send's tokens never tried and due at once; `next` is the first not yet claimed. */
interface QueuedSend {
  readonly stored: StoredMessage;
  readonly tokens: readonly string[];
  readonly dueAt: number;
  next: number;
}

/** One token waiting in the heap (to retry, scheduled, or given back), or in flight. */
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

/** One app's waiting tokens. */
class AppQueue {
  readonly sends: (QueuedSend | undefined)[] = [];
  head = 0;
  /** Tokens in `sends` not yet claimed. */
  queued = 0;
  readonly heap = new MinHeap<TokenPlace>((a, b) => comesBefore(a.dueAt, a.stored.seq, a.index, b));
  /** Tokens in `heap` never tried (scheduled, or given back unsent). */
  fresh = 0;
  /** The latest due time in `sends`, kept monotonic so the FIFO stays in due order if the clock steps back. */
  lastDueAt = 0;

  /** The earliest due token of the FIFO head and the heap top, if it is due at `now`. */
  takeDue(now: number): TokenPlace | undefined {
    const send = this.sends[this.head];
    const top = this.heap.peek();
    if (send && send.dueAt <= now && (!top || comesBefore(send.dueAt, send.stored.seq, send.next, top))) {
      const index = send.next++;
      this.queued--;
      if (send.next === send.tokens.length) this.advance();
      return { stored: send.stored, token: send.tokens[index] as string, index, attempts: 0, dueAt: send.dueAt };
    }
    if (!top || top.dueAt > now) return undefined;
    if (top.attempts === 0) this.fresh--;
    return this.heap.pop();
  }

  push(place: TokenPlace): void {
    this.heap.push(place);
    if (place.attempts === 0) this.fresh++;
  }

  nextDueAt(): number | undefined {
    const send = this.sends[this.head]?.dueAt;
    const top = this.heap.peek()?.dueAt;
    if (send === undefined) return top;
    return top === undefined ? send : Math.min(send, top);
  }

  /** Never-tried tokens in the heap due after `now`: the scheduled ones. A walk, but only when there are any. */
  scheduled(now: number): number {
    if (this.fresh === 0) return 0;
    let count = 0;
    for (const place of this.heap.items()) if (place.attempts === 0 && place.dueAt > now) count++;
    return count;
  }

  private advance(): void {
    this.sends[this.head++] = undefined;
    // Drop the spent front now and then: amortised O(1), and the array stays at most twice what waits.
    if (this.head >= 1024 && this.head * 2 >= this.sends.length) {
      this.sends.splice(0, this.head);
      this.head = 0;
    }
  }
}

export class MemorySpool implements Spool {
  private readonly apps = new Map<string, AppQueue>();
  private readonly inflight = new InFlight<TokenPlace>();
  private readonly messages = new Map<string, StoredMessage>();
  /** Final messages in the order they became final: the oldest are forgotten first. */
  private finished: (StoredMessage | undefined)[] = [];
  private finishedHead = 0;
  private total = 0;
  private seq = 0;
  private oldest: StoredMessage | undefined;
  private newest: StoredMessage | undefined;
  /** Keyed `app\0token`, in first-recorded order. */
  private readonly canonicals = new Map<string, CanonicalReplacement>();
  private readonly notRegistered = new Map<string, NotRegisteredToken>();
  private closed = false;
  /** Nothing survives a restart, so nothing is ever found at open. */
  readonly recovered = 0;

  /** `spoolMax`: most tokens held; add() beyond it rejects with SpoolFullError. */
  constructor(
    private readonly spoolMax: number,
    private readonly clock: Clock = systemClock,
    private readonly statusPolicy: StatusPolicy = DEFAULT_STATUS_POLICY,
  ) {}

  private queue(app: string): AppQueue {
    let queue = this.apps.get(app);
    if (!queue) this.apps.set(app, (queue = new AppQueue()));
    return queue;
  }

  add(message: NewMessage, tokens: readonly string[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the spool is closed'));
    if (tokens.length === 0) return Promise.resolve();
    if (this.total + tokens.length > this.spoolMax) {
      return Promise.reject(new SpoolFullError(`the spool holds ${this.total} tokens; ${tokens.length} more would pass --spool-max ${this.spoolMax}`));
    }
    const { sendAt } = message;
    const stored: StoredMessage = {
      // The message as given (sendAt aside, which no delivery needs).
      message: sendAt === undefined ? message : withoutSendAt(message),
      seq: this.seq++,
      tokens: tokens.length,
      remaining: tokens.length,
      delivered: 0,
      failed: 0,
      failures: [],
      finishedAt: undefined,
      older: this.newest,
      newer: undefined,
    };
    if (this.newest) this.newest.newer = stored;
    else this.oldest = stored;
    this.newest = stored;
    this.messages.set(message.id, stored);
    const queue = this.queue(message.app);
    if (sendAt !== undefined && sendAt > message.acceptedAt) {
      // Held until then: a heap entry per token, as for retries.
      tokens.forEach((token, index) => queue.push({ stored, token, index, attempts: 0, dueAt: sendAt }));
    } else {
      queue.lastDueAt = Math.max(queue.lastDueAt, message.acceptedAt);
      queue.sends.push({ stored, tokens: tokens.slice(), dueAt: queue.lastDueAt, next: 0 });
      queue.queued += tokens.length;
    }
    this.total += tokens.length;
    return Promise.resolve();
  }

  claim(app: string, limit: number, now: number): Promise<Delivery[]> {
    const claimed: Delivery[] = [];
    const queue = this.apps.get(app);
    while (queue && claimed.length < limit) {
      const place = queue.takeDue(now);
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
      this.queue(place.stored.message.app).push(place);
    }
    return Promise.resolve();
  }

  nextDueAt(app: string): Promise<number | undefined> {
    return Promise.resolve(this.apps.get(app)?.nextDueAt());
  }

  settle(settlements: readonly Settlement[], now: number): Promise<void> {
    for (const settlement of settlements) {
      const place = this.inflight.find(settlement.delivery);
      if (!place) continue;
      this.inflight.release(settlement.delivery);
      const { stored, token } = place;
      const app = stored.message.app;
      if (settlement.result === 'retry') {
        this.queue(app).push({ ...place, attempts: place.attempts + 1, dueAt: settlement.dueAt });
        continue;
      }
      if (settlement.result === 'delivered') {
        stored.delivered++;
        if (settlement.canonical !== undefined) this.setCanonical(app, token, settlement.canonical);
      } else {
        stored.failed++;
        if (stored.failures.length < MAX_STATUS_FAILURES) stored.failures.push({ token, reason: reasonLabel(settlement.reason) });
        if (settlement.notRegistered) this.notRegistered.set(`${app}\0${token}`, { app, token });
      }
      this.finish(stored, now);
    }
    this.forget(now);
    return Promise.resolve();
  }

  /** A token replaced twice keeps its latest canonical, in its first place. */
  private setCanonical(app: string, original: string, canonical: string): void {
    const key = `${app}\0${original}`;
    this.canonicals.set(key, { app, original, canonical });
  }

  /** One token of `stored` is final; a message with none left leaves accept order and is remembered as finished. */
  private finish(stored: StoredMessage, now: number): void {
    this.total--;
    if (--stored.remaining > 0) return;
    stored.finishedAt = now;
    this.finished.push(stored);
    if (stored.older) stored.older.newer = stored.newer;
    else this.oldest = stored.newer;
    if (stored.newer) stored.newer.older = stored.older;
    else this.newest = stored.older;
  }

  /** Statuses past their retention, or past the most kept, are forgotten, oldest first. */
  private forget(now: number): void {
    const { retentionMs, maxFinished } = this.statusPolicy;
    for (;;) {
      const first = this.finished[this.finishedHead];
      const kept = this.finished.length - this.finishedHead;
      if (!first || (kept <= maxFinished && now - (first.finishedAt as number) < retentionMs)) break;
      this.messages.delete(first.message.id);
      this.finished[this.finishedHead++] = undefined;
    }
    if (this.finishedHead >= 1024 && this.finishedHead * 2 >= this.finished.length) {
      this.finished = this.finished.slice(this.finishedHead);
      this.finishedHead = 0;
    }
  }

  counts(app: AppFilter, now: number): Promise<QueueCounts> {
    const queues = app === undefined ? [...this.apps.values()] : [this.apps.get(app)].filter((queue) => queue !== undefined);
    let queued = 0;
    let scheduled = 0;
    let retrying = 0;
    for (const queue of queues) {
      const later = queue.scheduled(now);
      scheduled += later;
      queued += queue.queued + queue.fresh - later;
      retrying += queue.heap.size - queue.fresh;
    }
    const inflight = app === undefined ? this.inflight.size : this.inflight.countOf((message) => message.app === app);
    let oldest = this.oldest;
    while (app !== undefined && oldest && oldest.message.app !== app) oldest = oldest.newer;
    return Promise.resolve({ pending: queued + scheduled + retrying + inflight, queued, scheduled, inflight, retrying, oldestAcceptedAt: oldest?.message.acceptedAt });
  }

  status(id: string): Promise<MessageStatus | undefined> {
    this.forget(this.clock.now());
    const stored = this.messages.get(id);
    if (!stored) return Promise.resolve(undefined);
    return Promise.resolve({
      id,
      app: stored.message.app,
      tokens: stored.tokens,
      pending: stored.remaining,
      delivered: stored.delivered,
      failed: stored.failed,
      failures: stored.failures.slice(),
      finishedAt: stored.finishedAt,
    });
  }

  takeCanonicals(app: AppFilter, keep: boolean): Promise<CanonicalReplacement[]> {
    return Promise.resolve(take(this.canonicals, app, keep));
  }

  clearCanonicals(app: AppFilter, originals: readonly string[]): Promise<number> {
    return Promise.resolve(clear(this.canonicals, app, originals, (entry) => entry.original));
  }

  takeNotRegistered(app: AppFilter, keep: boolean): Promise<NotRegisteredToken[]> {
    return Promise.resolve(take(this.notRegistered, app, keep));
  }

  clearNotRegistered(app: AppFilter, tokens: readonly string[]): Promise<number> {
    return Promise.resolve(clear(this.notRegistered, app, tokens, (entry) => entry.token));
  }

  probe(): Promise<void> {
    return this.closed ? Promise.reject(new Error('the spool is closed')) : Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function withoutSendAt(message: NewMessage): Message {
  const copy: { -readonly [K in keyof NewMessage]?: NewMessage[K] } = { ...message };
  delete copy.sendAt;
  return copy as Message;
}

/** The entries of `app` (or all), in order; removed unless `keep`. */
function take<T extends { readonly app: string }>(list: Map<string, T>, app: AppFilter, keep: boolean): T[] {
  const taken: T[] = [];
  for (const [key, entry] of list) {
    if (app !== undefined && entry.app !== app) continue;
    taken.push(entry);
    if (!keep) list.delete(key);
  }
  return taken;
}

/** Remove the entries of `app` (or any app) named in `names`; how many there were. */
function clear<T extends { readonly app: string }>(list: Map<string, T>, app: AppFilter, names: readonly string[], name: (entry: T) => string): number {
  const wanted = new Set(names);
  let cleared = 0;
  for (const [key, entry] of list) {
    if ((app === undefined || entry.app === app) && wanted.has(name(entry))) {
      list.delete(key);
      cleared++;
    }
  }
  return cleared;
}
