// The delivery engine schedules, and only that: app by app (lane.ts) it claims
// due tokens from the spool in bounded windows, keeps each app's requests in
// flight under its concurrency and --rate, has decide.ts turn each outcome
// into a settlement and commits them in batches. A spool call that fails is
// retried with back-off; nothing claimed or settled is dropped, and nothing
// the spool does can stop the process.
import { performance } from 'node:perf_hooks';
import { type Clock, systemClock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Outcome, Provider } from '../providers/provider.js';
import type { Report } from '../report.js';
import type { Delivery, Settlement, Spool } from '../spool/spool.js';
import { backoffDelay } from './backoff.js';
import { decide, EXPIRED, type RetryPolicy, retryWait } from './decide.js';
import { type AppRuntime, Lane } from './lane.js';
import { ProblemLog } from './problems.js';

export type { AppRuntime } from './lane.js';

export type EngineOptions = RetryPolicy;

/** What else hears of the engine's work: metrics, event subscribers. */
export interface EngineObserver {
  /** Settlements the spool has committed, in order. */
  settled?(batch: readonly Settlement[]): void;
  /** A request to `app`'s push service was answered (or given up) after `seconds`. */
  answered?(app: string, seconds: number): void;
}

export interface EngineParts {
  readonly spool: Spool;
  readonly apps: Iterable<AppRuntime>;
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
  readonly #report: Report;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #options: EngineOptions;
  readonly #problems: ProblemLog;
  readonly #observers: EngineObserver[] = [];
  readonly #lanes = new Map<string, Lane>();
  /** Providers replaced by a reload, closed once their requests are answered. */
  readonly #retired = new Set<Provider>();
  /** Requests cut off at the drain deadline: their tokens went back to the spool, their outcomes are ignored. */
  readonly #abandoned = new Set<Delivery[]>();
  /** Decided, not yet committed. */
  #settlements: Settlement[] = [];
  #claiming = true;
  #pumpScheduled = false;
  #pumping = false;
  #pumpAgain = false;
  #flushScheduled = false;
  #flushing: Promise<void> | undefined;
  /** Consecutive spool failures; while #storageTimer is set, claims and commits wait for it. */
  #storageFailures = 0;
  #storageTimer: ReturnType<Clock['after']> | undefined;
  #storageLoggedAt = -Infinity;
  /** Set for the last commits of a drain, which wait for themselves: no back-off timer then. */
  #finalCommits = false;
  #idleWaiters: Array<() => void> = [];

  constructor(parts: EngineParts, options: EngineOptions) {
    this.#spool = parts.spool;
    this.#report = parts.report;
    this.#log = parts.log;
    this.#clock = parts.clock ?? systemClock;
    this.#random = parts.random ?? Math.random;
    this.#options = options;
    this.#problems = new ProblemLog(parts.log);
    this.setApps(parts.apps);
  }

  observe(observer: EngineObserver): void {
    this.#observers.push(observer);
  }

  /**
   * The apps to send for (at start, and at each reload). A changed app sends
   * its next requests with its new provider while the old one finishes what
   * it has out, then closes; a removed app's tokens stay in the spool.
   */
  setApps(apps: Iterable<AppRuntime>): void {
    const now = this.#clock.now();
    const wanted = new Map([...apps].map((app) => [app.name, app]));
    const replaced: Provider[] = [];
    for (const lane of this.#lanes.values()) {
      const next = wanted.get(lane.app);
      if (next === lane.runtime) continue;
      if (lane.runtime.provider !== next?.provider) replaced.push(lane.runtime.provider);
      if (next) lane.reconfigure(next, now);
      else {
        lane.active = false;
        lane.cancelTimers();
      }
    }
    for (const provider of replaced) this.#retire(provider);
    for (const [name, runtime] of wanted) if (!this.#lanes.has(name)) this.#lanes.set(name, new Lane(runtime, now));
    this.wake();
  }

  #retire(provider: Provider): void {
    if ([...this.#lanes.values()].some((lane) => lane.active && lane.runtime.provider === provider)) return;
    this.#retired.add(provider);
    void provider.close().finally(() => this.#retired.delete(provider));
  }

  get requestsInFlight(): number {
    let count = 0;
    for (const lane of this.#lanes.values()) count += lane.requests.size;
    return count;
  }

  /** Requests in flight for one app. */
  inFlightOf(app: string): number {
    return this.#lanes.get(app)?.requests.size ?? 0;
  }

  /** When a quota answer lets `app` send again (ms since the epoch), while it is paused. */
  pausedUntil(app: string): number | undefined {
    const until = this.#lanes.get(app)?.pausedUntil;
    return until !== undefined && until > this.#clock.now() ? until : undefined;
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
   * later, a spool back-off, a pause). Tests await it instead of sleeping.
   */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #isIdle(): boolean {
    for (const lane of this.#lanes.values()) if (lane.requests.size > 0 || lane.backlog.length > 0) return false;
    return (
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
        for (const lane of this.#lanes.values()) await this.#fill(lane);
      } while (this.#pumpAgain && this.#claiming);
    } finally {
      this.#pumping = false;
      this.#checkIdle();
    }
  }

  /** Send for one app until its room is used, claiming as needed; arm its timers when it must wait. */
  async #fill(lane: Lane): Promise<void> {
    const perRequest = lane.runtime.provider.maxTokensPerRequest;
    for (let now = this.#clock.now(); this.#claiming && lane.room(now) > 0; now = this.#clock.now()) {
      if (lane.backlog.length === 0) {
        // A spool that cannot commit outcomes gets no new claims: what waits to be settled stays bounded.
        if (this.#storageTimer !== undefined || this.#settlements.length >= CLAIM_MAX) return;
        const probing = lane.probing(now);
        let limit = probing ? perRequest : Math.min(lane.room(now) * perRequest, CLAIM_MAX);
        if (lane.bucket) {
          const allowed = lane.bucket.available(now);
          if (allowed < 1) return this.#wakeLaneIn(lane, lane.bucket.waitFor(1, now));
          limit = Math.min(limit, allowed);
        }
        let claimed: Delivery[];
        try {
          claimed = await this.#spool.claim(lane.app, limit, now);
        } catch (error) {
          this.#storageFailed('claim', error);
          return;
        }
        this.#storageWorks();
        if (!this.#claiming || !lane.active) return this.#release(claimed, 'claimed as the lane stopped');
        if (claimed.length === 0) return this.#armDueTimer(lane);
        lane.bucket?.take(claimed.length, now);
        lane.backlog = groupIntoRequests(claimed, perRequest).reverse();
        if (probing) {
          // One request goes first after a pause; the rest wait for its answer.
          lane.pausedUntil = undefined;
          lane.probe = lane.backlog.at(-1);
        }
      }
      const request = lane.backlog.pop();
      if (request) this.#dispatch(lane, request);
      if (lane.probe) return;
    }
    if (lane.pausedUntil !== undefined) this.#wakeLaneIn(lane, lane.pausedUntil - this.#clock.now());
  }

  /** One timer per app for its earliest token due later, never one per token. */
  async #armDueTimer(lane: Lane): Promise<void> {
    let next: number | undefined;
    try {
      next = await this.#spool.nextDueAt(lane.app);
    } catch (error) {
      this.#storageFailed('look for due work', error);
      return;
    }
    if (next === undefined || next >= lane.dueAt || !this.#claiming || !lane.active) return;
    lane.dueTimer?.cancel();
    lane.dueAt = next;
    lane.dueTimer = this.#clock.after(Math.min(Math.max(0, next - this.#clock.now()), DUE_TIMER_MAX_MS), () => {
      lane.dueTimer = undefined;
      lane.dueAt = Infinity;
      this.wake();
    });
  }

  #wakeLaneIn(lane: Lane, delayMs: number): void {
    if (lane.wakeTimer) return;
    lane.wakeTimer = this.#clock.after(Math.max(0, delayMs), () => {
      lane.wakeTimer = undefined;
      this.wake();
    });
  }

  #dispatch(lane: Lane, request: Delivery[]): void {
    const message = (request[0] as Delivery).message;
    if (message.expiresAt !== undefined && this.#clock.now() >= message.expiresAt) {
      // Not sent late: each token fails as expired, without a request.
      for (const delivery of request) this.#settlements.push({ delivery, result: 'failed', reason: EXPIRED, notRegistered: false });
      if (lane.probe === request) lane.probe = undefined;
      this.#scheduleFlush();
      return;
    }
    const tokens = request.map((delivery) => delivery.token);
    const provider = lane.runtime.provider;
    lane.requests.add(request);
    const started = performance.now();
    let sending: Promise<Outcome[]>;
    try {
      sending = provider.send(message, tokens);
    } catch (error) {
      sending = Promise.reject(error);
    }
    sending
      .catch((error: unknown): Outcome[] => {
        // A provider must not throw; if one does, nothing was decided: try again.
        this.#log.error({ err: error, app: lane.app }, 'provider failed unexpectedly');
        return tokens.map(() => ({ kind: 'retry', reason: { source: 'gocm', code: 'internal' } }));
      })
      .then((outcomes) => {
        for (const observer of this.#observers) observer.answered?.(lane.app, (performance.now() - started) / 1000);
        this.#answered(lane, request, outcomes);
      })
      .catch((error: unknown) => this.#log.error({ err: error }, 'recording outcomes failed'));
  }

  #answered(lane: Lane, request: Delivery[], outcomes: readonly Outcome[]): void {
    lane.requests.delete(request);
    const wasProbe = lane.probe === request;
    if (wasProbe) lane.probe = undefined;
    if (this.#abandoned.delete(request)) return this.#checkIdle();
    const now = this.#clock.now();
    // One jitter draw per request: tokens that failed together come back together.
    const jitter = this.#random();
    for (let i = 0; i < request.length; i++) {
      const delivery = request[i] as Delivery;
      const outcome = outcomes[i] ?? NO_OUTCOME;
      if (outcome.kind !== 'delivered') this.#problems.note(outcome.reason, outcome.kind === 'failed' && outcome.configProblem === true);
      if (outcome.kind === 'retry' && outcome.quota === true) this.#pause(lane, now + retryWait(delivery, outcome, this.#options, jitter));
      this.#settlements.push(decide(delivery, outcome, this.#options, now, jitter));
    }
    this.#scheduleFlush();
    this.wake();
  }

  /** A quota answer: the whole app waits until `until`, then sends one request first (SPEC.md "When to send"). */
  #pause(lane: Lane, until: number): void {
    if (lane.pausedUntil !== undefined && lane.pausedUntil >= until) return;
    lane.pausedUntil = until;
    lane.wakeTimer?.cancel();
    lane.wakeTimer = undefined;
    this.#log.warn({ app: lane.app, until: new Date(until).toISOString() }, 'the push service says the quota is spent; the app waits');
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
    this.#flushing = this.#spool.settle(batch, this.#clock.now()).then(
      () => {
        this.#flushing = undefined;
        this.#storageWorks();
        this.#report.count(batch);
        for (const observer of this.#observers) observer.settled?.(batch);
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
    const unsent: Delivery[] = [];
    for (const lane of this.#lanes.values()) {
      lane.cancelTimers();
      unsent.push(...lane.backlog.flat());
      lane.backlog = [];
    }
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
    if (this.requestsInFlight > 0) await this.#until(() => this.requestsInFlight === 0, deadline);
    const providers = new Set([...this.#retired, ...[...this.#lanes.values()].map((lane) => lane.runtime.provider)]);
    if (this.requestsInFlight > 0) {
      const abandoned = [...this.#lanes.values()].flatMap((lane) => [...lane.requests]);
      for (const request of abandoned) this.#abandoned.add(request);
      this.#log.warn({ requests: abandoned.length, tokens: abandoned.flat().length }, 'the drain deadline passed; abandoning requests in flight');
      await Promise.all([...providers].map((provider) => provider.destroy()));
      await this.#release(abandoned.flat(), 'abandoned at the drain deadline');
    } else {
      await Promise.all([...providers].map((provider) => provider.close()));
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
      await new Promise<void>((resolve) => this.#clock.after(Math.min(left, backoffDelay(this.#storageFailures, STORAGE_MAX_BACKOFF_MS, this.#random, STORAGE_FIRST_BACKOFF_MS)), resolve));
    }
  }

  /** Resolves when `done()` holds (checked as the engine falls idle) or at `deadline`. */
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
