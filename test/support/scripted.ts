// In-process stand-ins for the engine's tests: a provider whose every answer the
// test scripts (or holds until it says), and a spool that fails on command.
import type { NewMessage } from '../../src/message.js';
import type { MessageToSend, Outcome, Provider } from '../../src/providers/provider.js';
import type {
  AppFilter,
  CanonicalReplacement,
  Delivery,
  MessageStatus,
  NotRegisteredToken,
  QueueCounts,
  Settlement,
  Spool,
} from '../../src/spool/spool.js';

/** The answer for one token on its `attempt`-th try (1 = first); 'hold' keeps the request open until released. */
export type Script = (token: string, attempt: number) => Outcome | 'hold';

export interface SentRequest {
  readonly message: MessageToSend;
  readonly tokens: readonly string[];
  /** Resolve a held request with these outcomes (or the script's, re-asked). */
  readonly release: (outcomes?: readonly Outcome[]) => void;
}

export class ScriptedProvider implements Provider {
  readonly name = 'fcm';
  readonly requests: SentRequest[] = [];
  readonly held = new Set<SentRequest>();
  readonly #tries = new Map<string, number>();
  #inFlight = 0;
  peakInFlight = 0;
  destroyed = false;
  closed = false;

  constructor(
    private readonly script: Script,
    readonly maxTokensPerRequest = 1,
  ) {}

  /** How often each token was sent. */
  tries(token: string): number {
    return this.#tries.get(token) ?? 0;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  send(message: MessageToSend, tokens: readonly string[]): Promise<Outcome[]> {
    this.#inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.#inFlight);
    const answers = tokens.map((token) => {
      const attempt = (this.#tries.get(token) ?? 0) + 1;
      this.#tries.set(token, attempt);
      return this.script(token, attempt);
    });
    return new Promise((resolve) => {
      const finish = (outcomes: readonly Outcome[]): void => {
        this.#inFlight--;
        this.held.delete(request);
        resolve([...outcomes]);
      };
      const request: SentRequest = {
        message,
        tokens,
        release: (outcomes) => finish(outcomes ?? answers.map((answer) => (answer === 'hold' ? { kind: 'delivered' } : answer))),
      };
      this.requests.push(request);
      if (answers.includes('hold')) this.held.add(request);
      else queueMicrotask(() => finish(answers as Outcome[]));
    });
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** Held requests end as network errors, as a destroyed transport ends them. */
  destroy(): Promise<void> {
    this.destroyed = true;
    for (const request of [...this.held]) request.release(request.tokens.map(() => ({ kind: 'retry', reason: { source: 'network', code: 'DESTROYED' } })));
    return Promise.resolve();
  }
}

type Operation = 'add' | 'claim' | 'release' | 'settle' | 'nextDueAt' | 'counts' | 'status' | 'probe';

/** A spool that passes every call to `inner`, except those the test makes fail. */
export class FaultySpool implements Spool {
  readonly #failing = new Map<Operation, { left: number; error: Error }>();
  readonly calls = new Map<Operation, number>();
  /** Every batch settle() committed, in order. */
  readonly settled: Settlement[][] = [];

  constructor(private readonly inner: Spool) {}

  get recovered(): number {
    return this.inner.recovered;
  }

  /** The next `times` calls of `operation` fail with `error` (Infinity: until healed). */
  fail(operation: Operation, times = Infinity, error: Error = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })): void {
    this.#failing.set(operation, { left: times, error });
  }

  heal(operation?: Operation): void {
    if (operation) this.#failing.delete(operation);
    else this.#failing.clear();
  }

  #call<T>(operation: Operation, run: () => Promise<T>): Promise<T> {
    this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
    const failing = this.#failing.get(operation);
    if (failing && failing.left > 0) {
      failing.left--;
      return Promise.reject(failing.error);
    }
    return run();
  }

  add(message: NewMessage, tokens: readonly string[]): Promise<void> {
    return this.#call('add', () => this.inner.add(message, tokens));
  }

  claim(app: string, limit: number, now: number): Promise<Delivery[]> {
    return this.#call('claim', () => this.inner.claim(app, limit, now));
  }

  release(deliveries: readonly Delivery[]): Promise<void> {
    return this.#call('release', () => this.inner.release(deliveries));
  }

  nextDueAt(app: string): Promise<number | undefined> {
    return this.#call('nextDueAt', () => this.inner.nextDueAt(app));
  }

  settle(settlements: readonly Settlement[], now: number): Promise<void> {
    return this.#call('settle', async () => {
      await this.inner.settle(settlements, now);
      this.settled.push([...settlements]);
    });
  }

  counts(app: AppFilter, now: number): Promise<QueueCounts> {
    return this.#call('counts', () => this.inner.counts(app, now));
  }

  status(id: string): Promise<MessageStatus | undefined> {
    return this.#call('status', () => this.inner.status(id));
  }

  takeCanonicals(app: AppFilter, keep: boolean): Promise<CanonicalReplacement[]> {
    return this.inner.takeCanonicals(app, keep);
  }

  clearCanonicals(app: AppFilter, originals: readonly string[]): Promise<number> {
    return this.inner.clearCanonicals(app, originals);
  }

  takeNotRegistered(app: AppFilter, keep: boolean): Promise<NotRegisteredToken[]> {
    return this.inner.takeNotRegistered(app, keep);
  }

  clearNotRegistered(app: AppFilter, tokens: readonly string[]): Promise<number> {
    return this.inner.clearNotRegistered(app, tokens);
  }

  probe(): Promise<void> {
    return this.#call('probe', () => this.inner.probe());
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
