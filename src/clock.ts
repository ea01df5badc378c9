// Time as the engine sees it: the wall clock in production, a hand-turned one
// in tests, so that back-off, Retry-After and drain deadlines are tested in
// milliseconds (test/support/clock.ts).

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Call `fire` once, `delayMs` from now. */
  after(delayMs: number, fire: () => void): Timer;
}

/** Node's timers allow at most 2^31−1 ms; a later wake-up is re-armed then. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  after(delayMs, fire) {
    const timer = setTimeout(fire, Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
    return { cancel: () => clearTimeout(timer) };
  },
};
