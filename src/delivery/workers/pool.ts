// Delivery threads (--workers): each owns its providers and their HTTP/2
// sessions, so sending uses more than the one core that ingest, the spool
// and the engine share. The engine still decides everything; a thread only
// sends the requests it is given and answers their outcomes, a batch a turn
// each way. A thread that dies is started again, and what it had in flight
// comes back as retries.
import { Worker } from 'node:worker_threads';
import type { AppConfig } from '../../apps.js';
import type { Logger } from '../../log.js';
import type { MessageToSend, Outcome, Provider } from '../../providers/provider.js';
import { backoffDelay } from '../backoff.js';
import { type AppsMessage, type FromWorker, providerKey, type SendItem, type SharedLimits, type ToWorker } from './protocol.js';

/** What the engine gets for an app whose provider lives in the delivery threads. */
class RemoteProvider implements Provider {
  constructor(
    private readonly pool: DeliveryWorkers,
    private readonly key: string,
    readonly name: Provider['name'],
    readonly maxTokensPerRequest: number,
  ) {}

  send(message: MessageToSend, tokens: readonly string[]): Promise<Outcome[]> {
    return this.pool.send(this.key, message, tokens);
  }

  close(): Promise<void> {
    return this.pool.end(this.key, 'close');
  }

  destroy(): Promise<void> {
    return this.pool.end(this.key, 'destroy');
  }
}

interface Pending {
  readonly tokens: number;
  readonly resolve: (outcomes: Outcome[]) => void;
}

/** One delivery thread, its requests out, and what waits to be posted to it this turn. */
class Thread {
  readonly pending = new Map<number, Pending>();
  items: SendItem[] = [];
  messages: MessageToSend[] = [];
  readonly messageIndex = new Map<MessageToSend, number>();
  readonly ended = new Map<string, Array<() => void>>();

  constructor(readonly worker: Worker) {}
}

/** Worker threads are started this many ms after dying, doubling to 5 s. */
const RESTART_FIRST_MS = 100;
const RESTART_MAX_MS = 5000;
/**
 * A delivery thread's young generation, in MiB. A request's objects live as long as its answer takes
 * (200 ms at FCM), so they outlive the scavenges and are promoted however large the young generation
 * is; V8's default only adds memory to touch. Measured with 20,000 tokens at 200 ms (--workers 1, four
 * runs each): peak RSS 242-252 MiB and 242-248 µs of CPU a token with the default; 225-239 MiB and
 * 202-236 µs with 12.
 */
const YOUNG_GENERATION_MB = 12;
/** How long stop() waits for the threads to finish before terminating them. */
const STOP_WAIT_MS = 5000;

export interface WorkerSettings {
  readonly size: number;
  readonly logLevel: string;
  /** The thread's code: worker.js unless a test brings its own. */
  readonly script?: URL;
}

export class DeliveryWorkers {
  readonly size: number;
  readonly #threads: Array<Thread | undefined>;
  /** The configurations whose providers may still be in use, replayed to a thread that starts again. */
  readonly #generations = new Map<number, AppsMessage>();
  readonly #liveProviders = new Map<string, number>();
  #generation = 0;
  #seq = 0;
  #restarts = 0;
  #flushScheduled = false;
  #stopping = false;

  constructor(
    private readonly settings: WorkerSettings,
    private readonly log: Logger,
  ) {
    this.size = settings.size;
    this.#threads = Array.from({ length: settings.size }, () => undefined);
    for (let i = 0; i < settings.size; i++) this.#start(i);
  }

  #start(index: number): void {
    const worker = new Worker(this.settings.script ?? new URL('./worker.js', import.meta.url), {
      workerData: { logLevel: this.settings.logLevel },
      execArgv: [],
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    const thread = new Thread(worker);
    this.#threads[index] = thread;
    worker.on('message', (message: FromWorker) => this.#received(thread, message));
    worker.on('error', (error) => this.log.error({ err: error, thread: index }, 'a delivery thread failed'));
    worker.on('exit', (code) => this.#exited(index, thread, code));
    for (const apps of this.#generations.values()) worker.postMessage(apps satisfies ToWorker);
  }

  #exited(index: number, thread: Thread, code: number): void {
    if (this.#threads[index] !== thread) return;
    this.#threads[index] = undefined;
    // What it had out may or may not have been sent: the engine tries it again.
    const lost: Outcome = { kind: 'retry', reason: { source: 'gocm', code: 'worker_exit' } };
    for (const pending of thread.pending.values()) pending.resolve(Array.from({ length: pending.tokens }, () => lost));
    for (const waiters of thread.ended.values()) for (const resolve of waiters) resolve();
    if (this.#stopping) return;
    this.#restarts++;
    const delay = backoffDelay(this.#restarts, RESTART_MAX_MS, Math.random, RESTART_FIRST_MS);
    this.log.error({ thread: index, code, requests: thread.pending.size, restartInMs: delay }, 'a delivery thread exited; starting it again');
    setTimeout(() => {
      if (!this.#stopping) this.#start(index);
    }, delay).unref();
  }

  #received(thread: Thread, message: FromWorker): void {
    if (message.kind === 'ended') {
      for (const resolve of thread.ended.get(message.provider) ?? []) resolve();
      thread.ended.delete(message.provider);
      return;
    }
    for (const { seq, outcomes } of message.items) {
      const pending = thread.pending.get(seq);
      if (!pending) continue;
      thread.pending.delete(seq);
      pending.resolve(outcomes);
    }
  }

  /** A new configuration: the threads build its providers; the returned function gives the engine its stand-ins. */
  load(apps: readonly AppConfig[], limits: SharedLimits): (app: AppConfig, maxTokensPerRequest: number) => Provider {
    const generation = ++this.#generation;
    const message: AppsMessage = { kind: 'apps', generation, apps, limits };
    this.#generations.set(generation, message);
    for (const app of apps) this.#liveProviders.set(providerKey(app.name, generation), generation);
    for (const thread of this.#threads) thread?.worker.postMessage(message satisfies ToWorker);
    return (app, maxTokensPerRequest) => new RemoteProvider(this, providerKey(app.name, generation), app.provider, maxTokensPerRequest);
  }

  /** Send on the thread with the fewest requests out. */
  send(provider: string, message: MessageToSend, tokens: readonly string[]): Promise<Outcome[]> {
    let chosen: Thread | undefined;
    for (const thread of this.#threads) if (thread && (!chosen || thread.pending.size < chosen.pending.size)) chosen = thread;
    if (!chosen || this.#stopping) return Promise.resolve(tokens.map(() => ({ kind: 'retry', reason: { source: 'gocm', code: 'no_worker' } })));
    const thread = chosen;
    return new Promise((resolve) => {
      const seq = ++this.#seq;
      thread.pending.set(seq, { tokens: tokens.length, resolve });
      let index = thread.messageIndex.get(message);
      if (index === undefined) {
        index = thread.messages.push(message) - 1;
        thread.messageIndex.set(message, index);
      }
      thread.items.push({ seq, provider, message: index, tokens });
      this.#scheduleFlush();
    });
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** This turn's requests, one message per thread. */
  #flush(): void {
    for (const thread of this.#threads) {
      if (!thread || thread.items.length === 0) continue;
      thread.worker.postMessage({ kind: 'send', messages: thread.messages, items: thread.items } satisfies ToWorker);
      thread.items = [];
      thread.messages = [];
      thread.messageIndex.clear();
    }
  }

  /** Close (after its requests) or destroy a provider in every thread; resolves once each is done with it. */
  end(provider: string, mode: 'close' | 'destroy'): Promise<void> {
    this.#flush();
    const done = this.#threads.map((thread) => {
      if (!thread) return Promise.resolve();
      return new Promise<void>((resolve) => {
        thread.ended.set(provider, [...(thread.ended.get(provider) ?? []), resolve]);
        thread.worker.postMessage({ kind: mode, provider } satisfies ToWorker);
      });
    });
    return Promise.all(done).then(() => this.#forget(provider));
  }

  /** A configuration none of whose providers is in use any more is not replayed to a restarted thread. */
  #forget(provider: string): void {
    const generation = this.#liveProviders.get(provider);
    this.#liveProviders.delete(provider);
    if (generation !== undefined && ![...this.#liveProviders.values()].includes(generation)) this.#generations.delete(generation);
  }

  /** Stop every thread (their providers were closed or destroyed by the engine's drain). Idempotent. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#flush();
    await Promise.all(
      this.#threads.map(async (thread) => {
        if (!thread) return;
        const exited = new Promise<void>((resolve) => thread.worker.once('exit', () => resolve()));
        thread.worker.postMessage({ kind: 'stop' } satisfies ToWorker);
        const timer = setTimeout(() => void thread.worker.terminate(), STOP_WAIT_MS);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
