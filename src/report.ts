// GoCM's run report, counted per token since the daemon started, in all and
// per app. The lists themselves live in the spool (they must survive
// restarts); here are the counts.
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

type Counter = 'attempts' | 'successes' | 'failures' | 'retries' | 'canonicals' | 'notregistered';
type Tally = Record<Counter, number>;

const empty = (): Tally => ({ attempts: 0, successes: 0, failures: 0, retries: 0, canonicals: 0, notregistered: 0 });

export class Report {
  readonly #all = empty();
  readonly #byApp = new Map<string, Tally>();

  constructor(readonly recovered: number) {}

  #app(app: string): Tally {
    let tally = this.#byApp.get(app);
    if (!tally) this.#byApp.set(app, (tally = empty()));
    return tally;
  }

  #add(app: string, counter: Counter): void {
    this.#all[counter]++;
    this.#app(app)[counter]++;
  }

  /** A send for `app` was committed to the spool with `tokens` tokens. */
  accepted(app: string, tokens: number): void {
    this.#all.attempts += tokens;
    this.#app(app).attempts += tokens;
  }

  /** Settlements the spool has committed: the one place outcomes are counted. */
  count(settlements: readonly Settlement[]): void {
    for (const settlement of settlements) {
      const app = settlement.delivery.message.app;
      if (settlement.result === 'retry') {
        this.#add(app, 'retries');
      } else if (settlement.result === 'delivered') {
        this.#add(app, 'successes');
        if (settlement.canonical !== undefined) this.#add(app, 'canonicals');
      } else {
        this.#add(app, 'failures');
        if (settlement.notRegistered) this.#add(app, 'notregistered');
      }
    }
  }

  /** The report of every app, or of one, with `pending` as the spool counts it now. */
  snapshot(pending: number, app?: string): ReportCounts {
    const tally = app === undefined ? this.#all : (this.#byApp.get(app) ?? empty());
    // GoCM's keys first, in GoCM's order. Tokens found at start are not told apart by app.
    return {
      attempts: tally.attempts,
      failures: tally.failures,
      pending,
      canonicals: tally.canonicals,
      notregistered: tally.notregistered,
      successes: tally.successes,
      retries: tally.retries,
      recovered: app === undefined ? this.recovered : 0,
    };
  }
}
