// GoCM's run report, counted per token since the daemon started. The lists
// themselves live in the spool (they must survive restarts); here are the counts.

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
  successes = 0;
  failures = 0;
  retries = 0;
  canonicals = 0;
  notregistered = 0;

  constructor(
    /** The spool's live count of tokens not final. */
    private readonly pending: () => number,
    readonly recovered: number,
  ) {}

  snapshot(): ReportCounts {
    const pending = this.pending();
    return {
      // Derived, not counted: every token pending now or final since start was
      // either accepted since start or recovered at start. So the report adds up
      // at every instant, whichever spool counts a send first.
      attempts: this.successes + this.failures + pending - this.recovered,
      failures: this.failures,
      pending,
      canonicals: this.canonicals,
      notregistered: this.notregistered,
      successes: this.successes,
      retries: this.retries,
      recovered: this.recovered,
    };
  }
}
