// The delivery engine schedules, and only that: it claims due tokens from the
// spool in bounded windows, keeps at most `concurrency` requests in flight,
// has decide.ts turn each outcome into a settlement and commits them in
// batches. A spool call that fails is retried with back-off; nothing claimed
// or settled is dropped, and nothing the spool does can stop the process.
import type { Logger } from '../log.js';
import type { Outcome, Provider } from '../providers/provider.js';
import type { Report } from '../report.js';
import type { Delivery, Settlement, Spool } from '../spool/spool.js';
import { backoffDelay } from './backoff.js';
import { type Clock, systemClock, type Timer } from '../clock.js';
import { decide, type RetryPolicy } from './decide.js';
import { ProblemLog } from './problems.js';

export interface EngineOptions extends RetryPolicy {
  readonly concurrency: number;
}

export interface EngineParts {
  readonly spool: Spool;
  readonly provider: Provider;
  readonly report: Report;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Jitter draws, in [0, 1). */
  readonly random?: () => number;
}

/** Tokens claimed from the spool at once: bounds memory however much is pending. */
const CLAIM_MAX = 10_000;
/** Longest the due timer is set for: a later due time (or a clock step) is looked at again then. */
const DUE_TIMER_MAX_MS = 60_000;
/** A failing spool is tried again after 100 ms, doubling up to 5 s. */
const STORAGE_FIRST_BACKOFF_MS = 100;
const STORAGE_MAX_BACKOFF_MS = 5000;
/** While the spool keeps failing, say so at most this often. */
const STORAGE_LOG_INTERVAL_MS = 5000;
/** Stands for what the provider owed but did not give: nothing was decided, so it is tried again. */
const NO_OUTCOME: Outcome = { kind: 'retry', reason: { source: 'gocm', code: 'no_outcome' } };

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
  readonly #spool: Spool;
  readonly #provider: Provider;
  readonly #report: Report;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #options: EngineOptions;
  readonly #problems: ProblemLog;
  /** Requests sent and not yet answered. */
  readonly #requests = new Set<Delivery[]>();
  /** Requests cut off at the drain deadline: their tokens went back to the spool, their outcomes are ignored. */
  readonly #abandoned = new Set<Delivery[]>();
  /** Requests formed from claimed tokens but not yet sent, last first. */
  #backlog: Delivery[][] = [];
  /** Decided, not yet committed. */
  #settlements: Settlement[] = [];
  #claiming = true;
  #pumpScheduled = false;
  #pumping = false;
  #pumpAgain = false;
  #flushScheduled = false;
  #flushing: Promise<void> | undefined;
  #dueTimer: Timer | undefined;
  #dueAt = Infinity;
  /** Consecutive spool failures; while #storageTimer is set, claims and commits wait for it. */
  #storageFailures = 0;
  #storageTimer: Timer | undefined;
  #storageLoggedAt = -Infinity;
  /** Set for the last commits of a drain, which wait for themselves: no back-off timer then. */
  #finalCommits = false;
  #idleWaiters: Array<() => void> = [];

  constructor(parts: EngineParts, options: EngineOptions) {
    this.#spool = parts.spool;
    this.#provider = parts.provider;
    this.#report = parts.report;
    this.#log = parts.log;
    this.#clock = parts.clock ?? systemClock;
    this.#random = parts.random ?? Math.random;
    this.#options = options;
    this.#problems = new ProblemLog(parts.log);
  }

  get requestsInFlight(): number {
    return this.#requests.size;
  }

  /** True while spool calls fail and are being retried. */
  get storageFailing(): boolean {
    return this.#storageFailures > 0;
  }

  /** New work may be due: look on the next turn of the event loop (coalesced). */
  wake(): void {
    if (this.#pumpScheduled || !this.#claiming) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      void this.#pump();
    });
  }

  /**
   * Resolves once nothing is under way: no request in flight, no spool call,
   * nothing claimed and unsent. What is left waits on the clock (a retry due
   * later, a spool back-off). Tests await it instead of sleeping.
   */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #isIdle(): boolean {
    return (
      this.#requests.size === 0 &&
      this.#backlog.length === 0 &&
      !this.#pumping &&
      !this.#pumpScheduled &&
      this.#flushing === undefined &&
      !this.#flushScheduled &&
      (this.#settlements.length === 0 || this.#storageTimer !== undefined)
    );
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        await this.#fill();
      } while (this.#pumpAgain && this.#claiming);
    } finally {
      this.#pumping = false;
      this.#checkIdle();
    }
  }

  /** Send until `concurrency` requests are out, claiming as needed; arm the due timer when nothing is due. */
  async #fill(): Promise<void> {
    const perRequest = this.#provider.maxTokensPerRequest;
    const { concurrency } = this.#options;
    while (this.#claiming && this.#requests.size < concurrency) {
      if (this.#backlog.length === 0) {
        // A spool that cannot commit outcomes gets no new claims: what waits to be settled stays bounded.
        if (this.#storageTimer !== undefined || this.#settlements.length >= CLAIM_MAX) return;
        const limit = Math.min((concurrency - this.#requests.size) * perRequest, CLAIM_MAX);
        let claimed: Delivery[];
        try {
          claimed = await this.#spool.claim(limit, this.#clock.now());
        } catch (error) {
          this.#storageFailed('claim', error);
          return;
        }
        this.#storageWorks();
        if (!this.#claiming) return this.#release(claimed, 'claimed as the stop began');
        if (claimed.length === 0) return this.#armDueTimer();
        this.#backlog = groupIntoRequests(claimed, perRequest).reverse();
      }
      const request = this.#backlog.pop();
      if (request) this.#dispatch(request);
    }
  }

  /** One timer for the earliest token due later, never one per token. */
  async #armDueTimer(): Promise<void> {
    let next: number | undefined;
    try {
      next = await this.#spool.nextDueAt();
    } catch (error) {
      this.#storageFailed('look for due work', error);
      return;
    }
    if (next === undefined || next >= this.#dueAt || !this.#claiming) return;
    this.#dueTimer?.cancel();
    this.#dueAt = next;
    this.#dueTimer = this.#clock.after(Math.min(Math.max(0, next - this.#clock.now()), DUE_TIMER_MAX_MS), () => {
      this.#dueTimer = undefined;
      this.#dueAt = Infinity;
      this.wake();
    });
  }

  #dispatch(request: Delivery[]): void {
    const message = (request[0] as Delivery).message;
    const tokens = request.map((delivery) => delivery.token);
    this.#requests.add(request);
    let sending: Promise<Outcome[]>;
    try {
      sending = this.#provider.send(message, tokens);
    } catch (error) {
      sending = Promise.reject(error);
    }
    sending
      .catch((error: unknown): Outcome[] => {
        // A provider must not throw; if one does, nothing was decided: try again.
        this.#log.error({ err: error }, 'provider failed unexpectedly');
        return tokens.map(() => ({ kind: 'retry', reason: { source: 'gocm', code: 'internal' } }));
      })
      .then((outcomes) => this.#answered(request, outcomes))
      .catch((error: unknown) => this.#log.error({ err: error }, 'recording outcomes failed'));
  }

  #answered(request: Delivery[], outcomes: readonly Outcome[]): void {
    this.#requests.delete(request);
    if (this.#abandoned.delete(request)) return this.#checkIdle();
    const now = this.#clock.now();
    // One jitter draw per request: tokens that failed together come back together.
    const jitter = this.#random();
    for (let i = 0; i < request.length; i++) {
      const outcome = outcomes[i] ?? NO_OUTCOME;
      if (outcome.kind !== 'delivered') this.#problems.note(outcome.reason, outcome.kind === 'failed' && outcome.configProblem === true);
      this.#settlements.push(decide(request[i] as Delivery, outcome, this.#options, now, jitter));
    }
    this.#scheduleFlush();
    this.wake();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#flushing || this.#storageTimer || this.#settlements.length === 0) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      void this.#flush();
    });
  }

  /** Commit what was decided in one spool transaction, then count it; on failure keep it and try again later. */
  #flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    if (this.#settlements.length === 0) return Promise.resolve();
    const batch = this.#settlements;
    this.#settlements = [];
    this.#flushing = this.#spool.settle(batch).then(
      () => {
        this.#flushing = undefined;
        this.#storageWorks();
        this.#report.count(batch);
        this.#scheduleFlush();
        this.wake();
        this.#checkIdle();
      },
      (error: unknown) => {
        this.#flushing = undefined;
        // Kept, in order, ahead of what came meanwhile: the spool applies each once.
        this.#settlements = batch.concat(this.#settlements);
        this.#storageFailed('record outcomes', error);
      },
    );
    return this.#flushing;
  }

  #storageFailed(operation: string, error: unknown): void {
    this.#storageFailures += 1;
    const delay = backoffDelay(this.#storageFailures, STORAGE_MAX_BACKOFF_MS, this.#random, STORAGE_FIRST_BACKOFF_MS);
    const now = this.#clock.now();
    if (this.#storageFailures === 1 || now - this.#storageLoggedAt >= STORAGE_LOG_INTERVAL_MS) {
      this.#storageLoggedAt = now;
      this.#log.error(
        { err: error, operation, failures: this.#storageFailures, retryInMs: delay, unsettled: this.#settlements.length },
        'the spool failed; delivery waits and tries again',
      );
    }
    this.#storageTimer?.cancel();
    this.#storageTimer = undefined;
    if (this.#finalCommits) return this.#checkIdle();
    this.#storageTimer = this.#clock.after(delay, () => {
      this.#storageTimer = undefined;
      this.#scheduleFlush();
      this.wake();
      this.#checkIdle();
    });
    this.#checkIdle();
  }

  #storageWorks(): void {
    if (this.#storageFailures === 0) return;
    this.#log.info({ failures: this.#storageFailures }, 'the spool works again; delivery goes on');
    this.#storageFailures = 0;
  }

  /** Give claimed tokens back unsent; if even that fails they are in flight in the spool, which recovers them at the next start. */
  async #release(deliveries: readonly Delivery[], why: string): Promise<void> {
    if (deliveries.length === 0) return;
    try {
      await this.#spool.release(deliveries);
    } catch (error) {
      this.#log.warn({ err: error, tokens: deliveries.length, why }, 'could not give tokens back to the spool; they are recovered at the next start');
    }
  }

  /** Stop claiming, at once: tokens claimed but not yet sent go back to the spool. Idempotent. */
  stopClaiming(): Promise<void> {
    if (!this.#claiming) return Promise.resolve();
    this.#claiming = false;
    this.#dueTimer?.cancel();
    this.#dueTimer = undefined;
    const unsent = this.#backlog.flat();
    this.#backlog = [];
    this.#checkIdle();
    return this.#release(unsent, 'not sent before the stop');
  }

  /**
   * Stop claiming; let requests in flight finish until `deadline` (clock ms)
   * and commit their outcomes; abandon what is still out then (its tokens go
   * back to the spool, to be sent once more after a restart). Idempotent.
   */
  async drain(deadline: number): Promise<void> {
    await this.stopClaiming();
    if (this.#requests.size > 0) await this.#until(() => this.#requests.size === 0, deadline);
    if (this.#requests.size > 0) {
      const abandoned = [...this.#requests];
      for (const request of abandoned) this.#abandoned.add(request);
      this.#log.warn({ requests: abandoned.length, tokens: abandoned.flat().length }, 'the drain deadline passed; abandoning requests in flight');
      await this.#provider.destroy();
      await this.#release(abandoned.flat(), 'abandoned at the drain deadline');
    } else {
      await this.#provider.close();
    }
    await this.#commitBefore(deadline);
    this.#problems.flush();
  }

  /** Commit the settlements left, trying again while the spool fails, until `deadline` (at least once). */
  async #commitBefore(deadline: number): Promise<void> {
    this.#finalCommits = true;
    this.#storageTimer?.cancel();
    this.#storageTimer = undefined;
    for (;;) {
      if (this.#flushing) await this.#flushing;
      if (this.#settlements.length === 0) return;
      await this.#flush();
      if (this.#settlements.length === 0) return;
      const left = deadline - this.#clock.now();
      if (left <= 0) {
        this.#log.error({ tokens: this.#settlements.length }, 'outcomes not recorded before the deadline; those tokens are sent again after the restart');
        return;
      }
      await new Promise<void>((resolve) => this.#clock.after(Math.min(left, STORAGE_FIRST_BACKOFF_MS * 2 ** this.#storageFailures), resolve));
    }
  }

  /** Resolves when `done()` holds (checked as requests end) or at `deadline`. */
  #until(done: () => boolean, deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#clock.after(deadline - this.#clock.now(), finish);
      const check = (): void => (done() ? finish() : void this.#idleWaiters.push(check));
      function finish(): void {
        timer.cancel();
        resolve();
      }
      check();
    });
  }
}
