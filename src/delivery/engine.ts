// The delivery engine: claims due tokens from the spool, keeps at most
// `concurrency` upstream requests in flight, turns outcomes into settlements
// (retry with back-off, or final) and applies them to the spool in batches.
import type { Logger } from '../log.js';
import type { Outcome, Provider } from '../providers/provider.js';
import type { Report } from '../report.js';
import type { Delivery, Settlement, Spool } from '../spool/spool.js';
import { backoffDelay } from './backoff.js';
import { ProblemLog } from './problems.js';

export interface EngineOptions {
  readonly concurrency: number;
  readonly retries: number;
  readonly maxBackoffMs: number;
}

/** Tokens claimed from the spool at once: bounds memory however much is pending. */
const CLAIM_MAX = 10_000;
/** Longest a single timer is set for; a later due time is re-checked then. */
const TIMER_MAX_MS = 60_000;

/** Split claimed tokens into requests: one message each, at most `max` tokens. */
export function groupIntoRequests(deliveries: readonly Delivery[], max: number): Delivery[][] {
  const requests: Delivery[][] = [];
  let current: Delivery[] = [];
  for (const delivery of deliveries) {
    if (current.length === max || (current.length > 0 && current[0]?.message !== delivery.message)) {
      requests.push(current);
      current = [];
    }
    current.push(delivery);
  }
  if (current.length > 0) requests.push(current);
  return requests;
}

export class DeliveryEngine {
  private inFlight = 0;
  /** Requests formed from claimed tokens but not yet sent (gcm: several messages in one claim). */
  private backlog: Delivery[][] = [];
  private settlements: Settlement[] = [];
  private pumpScheduled = false;
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /** No more claims: set when stopping starts. */
  private stopped = false;
  /** Requests still out when the drain timed out: their outcomes are not recorded. */
  private aborted = false;
  private drained: (() => void) | undefined;
  private readonly problems: ProblemLog;

  constructor(
    private readonly spool: Spool,
    private readonly provider: Provider,
    private readonly report: Report,
    private readonly options: EngineOptions,
    private readonly log: Logger,
  ) {
    this.problems = new ProblemLog(log);
  }

  /** New work may be due: look on the next turn of the event loop (coalesced). */
  wake(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.stopped) return;
    const perRequest = this.provider.maxTokensPerRequest;
    while (this.inFlight < this.options.concurrency) {
      if (this.backlog.length === 0) {
        const limit = Math.min((this.options.concurrency - this.inFlight) * perRequest, CLAIM_MAX);
        const claimed = this.spool.claim(limit, Date.now());
        if (claimed.length === 0) break;
        this.backlog = groupIntoRequests(claimed, perRequest).reverse();
      }
      const request = this.backlog.pop();
      if (request) this.dispatch(request);
    }
    this.armTimer();
  }

  private dispatch(request: Delivery[]): void {
    const message = (request[0] as Delivery).message;
    const tokens = request.map((delivery) => delivery.token);
    this.inFlight++;
    this.provider
      .send(message, tokens)
      .catch((error: unknown): Outcome[] => {
        // A provider must not throw; if one does, nothing was decided: try again.
        this.log.error({ err: error }, 'provider failed unexpectedly');
        return tokens.map(() => ({ kind: 'retry', reason: 'internal' }));
      })
      .then((outcomes) => {
        this.inFlight--;
        // Requests cut short by the drain timeout stay in the spool as they were:
        // an abort is not an answer, and they are recovered at the next start.
        if (!this.aborted) this.record(request, outcomes);
        if (this.inFlight === 0) this.drained?.();
        this.wake();
      }, (error: unknown) => this.log.error({ err: error }, 'recording outcomes failed'));
  }

  private record(request: readonly Delivery[], outcomes: readonly Outcome[]): void {
    const now = Date.now();
    // One jitter draw per request: tokens that failed together come back
    // together, in one request, instead of one small request each.
    const jitter = Math.random();
    for (let i = 0; i < request.length; i++) {
      const delivery = request[i] as Delivery;
      const outcome: Outcome = outcomes[i] ?? { kind: 'retry', reason: 'no_outcome' };
      this.settlements.push(this.settlementOf(delivery, outcome, now, jitter));
    }
    this.scheduleFlush();
  }

  private settlementOf(delivery: Delivery, outcome: Outcome, now: number, jitter: number): Settlement {
    if (outcome.kind === 'delivered') {
      return outcome.canonical === undefined
        ? { delivery, result: 'delivered' }
        : { delivery, result: 'delivered', canonical: outcome.canonical };
    }
    this.problems.note(outcome.reason, outcome.kind === 'failed' && outcome.configProblem === true);
    if (outcome.kind === 'failed') return { delivery, result: 'failed', notRegistered: outcome.notRegistered === true };
    const attempt = delivery.attempts + 1;
    if (attempt > this.options.retries) return { delivery, result: 'failed', notRegistered: false };
    return { delivery, result: 'retry', dueAt: now + backoffDelay(attempt, this.options.maxBackoffMs, outcome.retryAfterMs, () => jitter) };
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Apply gathered settlements in one spool transaction, and count them in the report with it. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.settlements.length === 0) return;
    const batch = this.settlements;
    this.settlements = [];
    try {
      this.spool.settle(batch);
    } catch (error) {
      // The tokens stay in the spool as in flight; they are retried at the next start at worst.
      this.log.error({ err: error, tokens: batch.length }, 'could not record outcomes in the spool');
      return;
    }
    this.count(batch);
    this.wake();
  }

  private count(batch: readonly Settlement[]): void {
    const report = this.report;
    for (const settlement of batch) {
      if (settlement.result === 'retry') {
        report.retries++;
      } else if (settlement.result === 'delivered') {
        report.successes++;
        if (settlement.canonical !== undefined) report.canonicals++;
      } else {
        report.failures++;
        if (settlement.notRegistered) report.notregistered++;
      }
    }
  }

  /** One timer for the earliest retry due, never one per token. */
  private armTimer(): void {
    if (this.stopped || this.inFlight >= this.options.concurrency) return;
    const next = this.spool.nextDueAt();
    if (next === undefined || next >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = next;
    const delay = Math.min(Math.max(0, next - Date.now()), TIMER_MAX_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.pump();
    }, delay);
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  /**
   * Stop claiming; give requests in flight up to `drainMs` to finish and
   * record their outcomes; abort the rest (they stay in the spool). Idempotent.
   */
  async stop(drainMs: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.inFlight > 0) {
      let timeout: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        timeout = setTimeout(resolve, drainMs);
      });
      clearTimeout(timeout);
    }
    this.aborted = true;
    await this.provider.destroy();
    this.flush();
    this.problems.flush();
    this.backlog = [];
  }
}
