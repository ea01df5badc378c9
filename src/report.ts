// GoCM's run report, counted per token since the daemon started. The lists
// themselves live in the spool (they must survive restarts); here are the counts.
import type { Settlement } from './spool/spool.js';

export interface ReportCounts {
  /** Tokens accepted by `send` since start. */
  readonly attempts: number;
  /** Tokens that reached a final failure (not-registered ones included). */
  readonly failures: number;
  /** Tokens not final yet: queued, in flight, waiting to retry, recovered ones included. */
  readonly pending: number;
  /** Canonical replacements recorded since start. */
  readonly canonicals: number;
  /** Not-registered tokens recorded since start. */
  readonly notregistered: number;
  readonly successes: number;
  /** Tries that were scheduled again. */
  readonly retries: number;
  /** Tokens found pending in the spool at start. */
  readonly recovered: number;
}

export class Report {
  #attempts = 0;
  #successes = 0;
  #failures = 0;
  #retries = 0;
  #canonicals = 0;
  #notregistered = 0;

  constructor(readonly recovered: number) {}

  /** A send was committed to the spool with `tokens` tokens. */
  accepted(tokens: number): void {
    this.#attempts += tokens;
  }

  /** Settlements the spool has committed: the one place outcomes are counted. */
  count(settlements: readonly Settlement[]): void {
    for (const settlement of settlements) {
      if (settlement.result === 'retry') {
        this.#retries++;
      } else if (settlement.result === 'delivered') {
        this.#successes++;
        if (settlement.canonical !== undefined) this.#canonicals++;
      } else {
        this.#failures++;
        if (settlement.notRegistered) this.#notregistered++;
      }
    }
  }

  /** The report, with `pending` as the spool counts it now. */
  snapshot(pending: number): ReportCounts {
    return {
      attempts: this.#attempts,
      failures: this.#failures,
      pending,
      canonicals: this.#canonicals,
      notregistered: this.#notregistered,
      successes: this.#successes,
      retries: this.#retries,
      recovered: this.recovered,
    };
  }
}
