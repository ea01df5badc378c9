// One app's share of the engine: its provider, what it has in flight, its
// --rate bucket, and whether a quota answer has paused it. The engine claims
// and sends lane by lane, so one app's trouble never holds another's tokens.
import type { Timer } from '../clock.js';
import type { Provider } from '../providers/provider.js';
import type { Delivery } from '../spool/spool.js';
import { TokenBucket } from './rate.js';

/** An app as the engine drives it (SPEC.md "Apps and providers"). */
export interface AppRuntime {
  readonly name: string;
  readonly provider: Provider;
  /** Requests in flight at once for this app. */
  readonly concurrency: number;
  /** Tokens a second, on average; undefined: unlimited. */
  readonly rate: number | undefined;
}

export class Lane {
  runtime: AppRuntime;
  /** Still configured: a lane of a removed app only finishes what it has in flight. */
  active = true;
  readonly requests = new Set<Delivery[]>();
  /** Requests formed from claimed tokens but not yet sent, last first. */
  backlog: Delivery[][] = [];
  bucket: TokenBucket | undefined;
  /** A quota answer paused the app until then (ms since the epoch). */
  pausedUntil: number | undefined;
  /** After a pause: the one request sent first; nothing else goes until it is answered. */
  probe: Delivery[] | undefined;
  dueTimer: Timer | undefined;
  dueAt = Infinity;
  /** A timer for when the pause ends or the bucket refills. */
  wakeTimer: Timer | undefined;

  constructor(runtime: AppRuntime, now: number) {
    this.runtime = runtime;
    this.bucket = runtime.rate === undefined ? undefined : new TokenBucket(runtime.rate, now);
  }

  get app(): string {
    return this.runtime.name;
  }

  /** Take on a changed configuration (SIGHUP): requests already out finish on the provider that sent them. */
  reconfigure(runtime: AppRuntime, now: number): void {
    if (runtime.rate !== this.runtime.rate) this.bucket = runtime.rate === undefined ? undefined : new TokenBucket(runtime.rate, now);
    this.runtime = runtime;
    this.active = true;
  }

  /** Requests it may start now, and why not if none: paused, probing, or at its concurrency. */
  room(now: number): number {
    if (!this.active) return 0;
    if (this.pausedUntil !== undefined && now < this.pausedUntil) return 0;
    if (this.probe) return 0;
    return Math.max(0, this.runtime.concurrency - this.requests.size);
  }

  /** Whether the next request is the probe after a pause. */
  probing(now: number): boolean {
    return this.pausedUntil !== undefined && now >= this.pausedUntil;
  }

  cancelTimers(): void {
    this.dueTimer?.cancel();
    this.dueTimer = undefined;
    this.dueAt = Infinity;
    this.wakeTimer?.cancel();
    this.wakeTimer = undefined;
  }
}
