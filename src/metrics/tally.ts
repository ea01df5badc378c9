// What the metrics count, app by app, as plain numbers and arrays: fed on the
// hot paths (every acknowledged send, every committed settlement, every
// upstream answer) and read by the Prometheus families only when /metrics is
// scraped. Counted from the same committed settlements as the `report`
// command, so the two always agree.
import { reasonLabel } from '../providers/provider.js';
import type { Settlement } from '../spool/spool.js';

/** Acknowledgements wait for the spool's group commit: tens of µs to a few ms (README "Performance"); past 100 ms something is wrong. */
const ACK_BUCKETS: readonly number[] = [0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];
/** Upstream answers: a fast push service answers in tens of ms, FCM in 150–250 ms; --request-timeout defaults to 10 s. */
const UPSTREAM_BUCKETS: readonly number[] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * One histogram series: a count per bucket (not cumulative; the last is
 * +Inf) and the sum of the values. An observation costs about 20 ns here, where
 * prom-client's Histogram.observe costs 540 ns (it validates and hashes the
 * labels and indexes its buckets by their bounds as strings each time): on
 * the ingest path, 12–15 µs of CPU a send, that is the difference between
 * 0.2% and 4%.
 */
export class Observations {
  readonly counts: Float64Array;
  sum = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let bucket = 0;
    while (bucket < this.bounds.length && value > (this.bounds[bucket] as number)) bucket++;
    this.counts[bucket] = (this.counts[bucket] as number) + 1;
    this.sum += value;
  }
}

/** One app's counts since the daemon started. */
export class AppTally {
  /** Tokens of acknowledged sends: the report's `attempts`. */
  accepted = 0;
  delivered = 0;
  canonical = 0;
  notRegistered = 0;
  /** Final failures by the SPEC reason label (a small, bounded set). */
  readonly failed = new Map<string, number>();
  /** Tries scheduled again, by the reason of the try that failed. */
  readonly retries = new Map<string, number>();
  /** From a send being handled to its reply being ready. */
  readonly acks = new Observations(ACK_BUCKETS);
  /** From a request to the push service to its answer. */
  readonly answers = new Observations(UPSTREAM_BUCKETS);
}

function bump(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

export class Tally {
  readonly #apps = new Map<string, AppTally>();

  /** `app`'s counts, made (all zero) on first ask: a configured app shows its series before its first send. */
  of(app: string): AppTally {
    let tally = this.#apps.get(app);
    if (!tally) this.#apps.set(app, (tally = new AppTally()));
    return tally;
  }

  /** Every app counted so far, those removed by a reload included (counters never go back). */
  entries(): IterableIterator<[string, AppTally]> {
    return this.#apps.entries();
  }

  /** A send of `tokens` tokens was acknowledged `seconds` after it began to be handled. */
  acked(app: string, tokens: number, seconds: number): void {
    const tally = this.of(app);
    tally.accepted += tokens;
    tally.acks.observe(seconds);
  }

  /** A request to `app`'s push service was answered (or given up) after `seconds`. */
  answered(app: string, seconds: number): void {
    this.of(app).answers.observe(seconds);
  }

  /** Settlements the spool has committed, as Report.count sees them. */
  settled(batch: readonly Settlement[]): void {
    // Consecutive settlements are mostly of one app: look it up once per run of them.
    let app: string | undefined;
    let tally: AppTally | undefined;
    for (const settlement of batch) {
      if (settlement.delivery.message.app !== app || tally === undefined) {
        app = settlement.delivery.message.app;
        tally = this.of(app);
      }
      if (settlement.result === 'delivered') {
        tally.delivered++;
        if (settlement.canonical !== undefined) tally.canonical++;
      } else if (settlement.result === 'failed') {
        bump(tally.failed, reasonLabel(settlement.reason));
        if (settlement.notRegistered) tally.notRegistered++;
      } else {
        bump(tally.retries, reasonLabel(settlement.reason));
      }
    }
  }
}
