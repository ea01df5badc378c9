// A clock the test turns by hand: timers fire only when advance() passes their
// time, in time order, so back-off and deadlines are tested without waiting.
import type { Clock, Timer } from '../../src/clock.js';

interface Pending {
  readonly at: number;
  readonly seq: number;
  readonly fire: () => void;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Pending[] = [];

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(delayMs: number, fire: () => void): Timer {
    const pending: Pending = { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, fire, cancelled: false };
    this.#timers.push(pending);
    return { cancel: () => void (pending.cancelled = true) };
  }

  /** Timers set and not yet fired or cancelled, earliest first: when each falls due. */
  get pending(): number[] {
    return this.#live().map((timer) => timer.at);
  }

  /** Move time forward by `ms`, firing every timer due on the way, in order. */
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      const next = this.#live()[0];
      if (!next || next.at > until) break;
      next.cancelled = true;
      this.#now = Math.max(this.#now, next.at);
      next.fire();
    }
    this.#now = until;
  }

  /** Move to the next timer's time and fire what is due then; false if none is set. */
  advanceToNext(): boolean {
    const next = this.#live()[0];
    if (!next) return false;
    this.advance(next.at - this.#now);
    return true;
  }

  #live(): Pending[] {
    this.#timers = this.#timers.filter((timer) => !timer.cancelled);
    return this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
  }
}
