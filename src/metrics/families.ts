// The Prometheus families of GET /metrics (SPEC.md "Observing it"), made and
// formatted by prom-client. Everything is read at scrape time: counters and
// histograms from the Tally, gauges from the spool, the engine and the health
// check; the process' own metrics are prom-client's defaults.
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, type PrometheusContentType, Registry } from 'prom-client';
import type { QueueCounts } from '../spool/spool.js';
import { type Health, within } from './health.js';
import type { AppTally, Observations, Tally } from './tally.js';

/** What the gauges read at scrape time. */
export interface MetricsSource {
  /** The apps configured now (they change on SIGHUP). */
  readonly apps: () => readonly string[];
  readonly counts: (app: string, now: number) => Promise<QueueCounts>;
  readonly inFlightOf: (app: string) => number;
  readonly pausedUntil: (app: string) => number | undefined;
  readonly health: () => Promise<Health>;
}

/** A spool that has not counted its queue by then leaves gocm_pending_tokens out of that scrape. */
const COUNTS_TIMEOUT_MS = 2000;
const PENDING_STATES = ['queued', 'scheduled', 'inflight', 'retrying'] as const;

/** A histogram's series as prom-client's metric data (the shape of Registry.getMetricsAsJSON). */
interface HistogramData {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly aggregator: 'sum';
  readonly values: Array<{ readonly metricName: string; readonly labels: Record<string, string | number>; readonly value: number }>;
}

export class Families {
  readonly #registry = new Registry();
  readonly #tally: Tally;
  readonly #source: MetricsSource;
  /** One spool count per app per scrape, shared by the families that need it. */
  #counting: Promise<Map<string, QueueCounts>> | undefined;

  constructor(tally: Tally, source: MetricsSource) {
    this.#tally = tally;
    this.#source = source;
    const registers = [this.#registry];
    const apps = (): Array<[string, AppTally]> => this.#apps();
    const perApp = (name: string, help: string, value: (tally: AppTally) => number): void => {
      new Counter({
        name, help, labelNames: ['app'], registers,
        collect() {
          this.reset();
          for (const [app, counts] of apps()) this.inc({ app }, value(counts));
        },
      });
    };
    const byReason = (name: string, help: string, value: (tally: AppTally) => ReadonlyMap<string, number>): void => {
      new Counter({
        name, help, labelNames: ['app', 'reason'], registers,
        collect() {
          this.reset();
          for (const [app, counts] of apps()) for (const [reason, count] of value(counts)) this.inc({ app, reason }, count);
        },
      });
    };
    perApp('gocm_accepted_tokens_total', 'Tokens of acknowledged sends (the report\'s "attempts").', (t) => t.accepted);
    perApp('gocm_delivered_tokens_total', 'Tokens the push service took (the report\'s "successes").', (t) => t.delivered);
    byReason('gocm_failed_tokens_total', 'Tokens that ended in a final failure, by reason (the report\'s "failures").', (t) => t.failed);
    byReason('gocm_retries_total', 'Tries scheduled again, by the reason of the try that failed (the report\'s "retries").', (t) => t.retries);
    perApp('gocm_notregistered_tokens_total', 'Tokens put on the notregistered list.', (t) => t.notRegistered);
    perApp('gocm_canonical_tokens_total', 'Canonical replacements put on the canonical list.', (t) => t.canonical);

    const counted = (): Promise<Map<string, QueueCounts>> => (this.#counting ??= this.#countAll().finally(() => (this.#counting = undefined)));
    new Gauge({
      name: 'gocm_pending_tokens', help: 'Tokens not yet final, by state, as the spool counts them.', labelNames: ['app', 'state'], registers,
      async collect() {
        const counts = await counted();
        this.reset();
        for (const [app, of] of counts) for (const state of PENDING_STATES) this.set({ app, state }, of[state]);
      },
    });
    new Gauge({
      name: 'gocm_oldest_pending_age_seconds', help: 'Age of the oldest token not yet final (0 when none is).', labelNames: ['app'], registers,
      async collect() {
        const counts = await counted();
        const now = Date.now();
        this.reset();
        for (const [app, of] of counts) this.set({ app }, of.oldestAcceptedAt === undefined ? 0 : Math.max(0, now - of.oldestAcceptedAt) / 1000);
      },
    });
    new Gauge({
      name: 'gocm_upstream_requests_in_flight', help: 'Requests to the push service waiting for their answer.', labelNames: ['app'], registers,
      collect() {
        this.reset();
        for (const app of source.apps()) this.set({ app }, source.inFlightOf(app));
      },
    });
    new Gauge({
      name: 'gocm_app_paused', help: '1 while a quota answer (HTTP 429, QUOTA_EXCEEDED) holds the app back, else 0.', labelNames: ['app'], registers,
      collect() {
        this.reset();
        for (const app of source.apps()) this.set({ app }, source.pausedUntil(app) === undefined ? 0 : 1);
      },
    });
    new Gauge({
      name: 'gocm_spool_writable', help: '1 when the spool takes a write and has room (as GET /healthz says), else 0.', labelNames: ['app'], registers,
      async collect() {
        const { ok } = await source.health();
        this.reset();
        for (const app of source.apps()) this.set({ app }, ok ? 1 : 0);
      },
    });
    collectDefaultMetrics({ register: this.#registry });
  }

  get contentType(): string {
    return this.#registry.contentType;
  }

  /** Every app counted: those configured now (their series are there from the start, at zero), and those a reload removed. */
  #apps(): Array<[string, AppTally]> {
    for (const app of this.#source.apps()) this.#tally.of(app);
    return [...this.#tally.entries()];
  }

  /** The exposition of every family, as of now. */
  metrics(): Promise<string> {
    // The histograms are tallied in plain arrays (tally.ts says why) and handed to prom-client as
    // metric data, the way its cluster support hands over the data of its workers.
    const apps = this.#apps();
    const histograms = AggregatorRegistry.aggregate<PrometheusContentType>([
      [
        histogramData('gocm_ack_duration_seconds', 'From a send being handled to its reply being ready (the spool commit included).', apps.map(([app, tally]) => [app, tally.acks])),
        histogramData('gocm_upstream_request_duration_seconds', 'From a request to the push service to its answer (or its failure).', apps.map(([app, tally]) => [app, tally.answers])),
      ],
    ]);
    return Registry.merge([this.#registry, histograms]).metrics();
  }

  async #countAll(): Promise<Map<string, QueueCounts>> {
    const now = Date.now();
    const apps = this.#source.apps();
    // One deadline for all the apps; one that fails (the engine logs why) sits this scrape out.
    const answers = await within(Promise.allSettled(apps.map((app) => this.#source.counts(app, now))), COUNTS_TIMEOUT_MS, 'the spool').catch(() => []);
    const counts = new Map<string, QueueCounts>();
    answers.forEach((answer, index) => answer.status === 'fulfilled' && counts.set(apps[index] as string, answer.value));
    return counts;
  }
}

/** Buckets cumulative, as the format has them, then +Inf, sum and count. */
function histogramData(name: string, help: string, series: ReadonlyArray<readonly [string, Observations]>): HistogramData {
  const values: HistogramData['values'] = [];
  for (const [app, observations] of series) {
    let cumulative = 0;
    observations.bounds.forEach((le, bucket) => {
      cumulative += observations.counts[bucket] as number;
      values.push({ metricName: `${name}_bucket`, labels: { app, le }, value: cumulative });
    });
    const count = cumulative + (observations.counts[observations.bounds.length] as number);
    values.push({ metricName: `${name}_bucket`, labels: { app, le: '+Inf' }, value: count });
    values.push({ metricName: `${name}_sum`, labels: { app }, value: observations.sum });
    values.push({ metricName: `${name}_count`, labels: { app }, value: count });
  }
  return { name, help, type: 'histogram', aggregator: 'sum', values };
}
