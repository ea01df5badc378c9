// --rate as a token bucket: at most `rate` tokens a second on average, in
// bursts of at most one second's worth (what an idle second saves up). It
// starts empty, so a daemon that starts with a backlog sends at the rate, not
// a second's worth at once. Time comes from the caller. Pure.

export class TokenBucket {
  #level: number;
  #at: number;

  constructor(
    private readonly rate: number,
    now: number,
  ) {
    this.#level = 0;
    this.#at = now;
  }

  /** Whole tokens that may be sent now. */
  available(now: number): number {
    this.#refill(now);
    return Math.floor(this.#level);
  }

  /** Spend `count` tokens (at most what available() said). */
  take(count: number, now: number): void {
    this.#refill(now);
    this.#level -= count;
  }

  /** Milliseconds until `count` tokens are there (0 if they are now). */
  waitFor(count: number, now: number): number {
    this.#refill(now);
    const missing = Math.min(count, this.rate) - this.#level;
    return missing <= 0 ? 0 : Math.ceil((missing / this.rate) * 1000);
  }

  #refill(now: number): void {
    if (now > this.#at) this.#level = Math.min(this.rate, this.#level + ((now - this.#at) / 1000) * this.rate);
    this.#at = Math.max(this.#at, now);
  }
}
