// One transport per push-service origin: each browser vendor runs its own
// (fcm.googleapis.com, updates.push.services.mozilla.com, web.push.apple.com…),
// and every token names one. Kept while in use, closed once idle, and bounded:
// tokens may name any origin, so the oldest idle one makes room for a new one.
import { PoolClosedError, PoolDestroyedError } from '../transport/errors.js';
import type { Transport } from '../transport/transport.js';

interface OriginOptions {
  /** Transports kept open at most. Default 64. */
  readonly maxOrigins?: number;
  /** A transport unused this long is closed. Default 5 minutes. */
  readonly idleMs?: number;
}

interface Entry {
  readonly transport: Transport;
  inFlight: number;
  lastUsed: number;
}

const DEFAULT_MAX_ORIGINS = 64;
const DEFAULT_IDLE_MS = 5 * 60_000;

export class OriginTransports {
  readonly #make: (origin: string) => Transport;
  readonly #maxOrigins: number;
  readonly #idleMs: number;
  /** In least-recently-used order: an entry is moved to the end when used. */
  readonly #entries = new Map<string, Entry>();
  /** Closed to make room or for idleness, still finishing what they had. */
  readonly #closing = new Set<Transport>();
  readonly #sweeper: NodeJS.Timeout;
  /** Once closed or destroyed, no transport is made again: a late request fails as it would on a closed pool. */
  #ended: 'closed' | 'destroyed' | undefined;

  constructor(make: (origin: string) => Transport, options: OriginOptions = {}) {
    this.#make = make;
    this.#maxOrigins = options.maxOrigins ?? DEFAULT_MAX_ORIGINS;
    this.#idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    // unref: an idle sweep must not keep a stopping daemon alive.
    this.#sweeper = setInterval(() => this.sweep(), Math.max(1000, this.#idleMs / 2)).unref();
  }

  /** Origins with an open transport. */
  get size(): number {
    return this.#entries.size;
  }

  /** Run `request` on `origin`'s transport, made if need be. */
  async run<T>(origin: string, request: (transport: Transport) => Promise<T>): Promise<T> {
    if (this.#ended) throw this.#ended === 'closed' ? new PoolClosedError() : new PoolDestroyedError();
    const entry = this.#entry(origin);
    entry.inFlight += 1;
    try {
      return await request(entry.transport);
    } finally {
      entry.inFlight -= 1;
      entry.lastUsed = Date.now();
    }
  }

  /** Close the transports idle for longer than idleMs. */
  sweep(now = Date.now()): void {
    for (const [origin, entry] of this.#entries) {
      if (entry.inFlight === 0 && now - entry.lastUsed >= this.#idleMs) this.#retire(origin, entry);
    }
  }

  close(): Promise<void> {
    this.#ended ??= 'closed';
    clearInterval(this.#sweeper);
    for (const [origin, entry] of this.#entries) this.#retire(origin, entry);
    return Promise.all([...this.#closing].map((transport) => transport.close())).then(() => undefined);
  }

  destroy(): Promise<void> {
    this.#ended = 'destroyed';
    clearInterval(this.#sweeper);
    const all = [...[...this.#entries.values()].map((entry) => entry.transport), ...this.#closing];
    this.#entries.clear();
    return Promise.all(all.map((transport) => transport.destroy())).then(() => undefined);
  }

  #entry(origin: string): Entry {
    const held = this.#entries.get(origin);
    if (held) {
      this.#entries.delete(origin);
      this.#entries.set(origin, held);
      return held;
    }
    if (this.#entries.size >= this.#maxOrigins) this.#makeRoom();
    const entry: Entry = { transport: this.#make(origin), inFlight: 0, lastUsed: Date.now() };
    this.#entries.set(origin, entry);
    return entry;
  }

  /** The least recently used idle origin goes; if none is idle, the least recently used (it finishes what it has). */
  #makeRoom(): void {
    let victim: [string, Entry] | undefined;
    for (const candidate of this.#entries) {
      victim ??= candidate;
      if (candidate[1].inFlight === 0) {
        victim = candidate;
        break;
      }
    }
    if (victim) this.#retire(...victim);
  }

  #retire(origin: string, entry: Entry): void {
    this.#entries.delete(origin);
    this.#closing.add(entry.transport);
    const forget = () => this.#closing.delete(entry.transport);
    entry.transport.close().then(forget, forget);
  }
}
