// Whether the daemon can keep its promise now: it is serving, and the spool
// takes a real write (Spool.probe). Asked by GET /healthz and the
// gocm_spool_writable gauge; the answer is kept a moment, so that eager
// checkers do not turn into a stream of writes, and bounded in time, so that
// a stuck disk or database still gets an answer.
import { performance } from 'node:perf_hooks';

export interface Health {
  readonly ok: boolean;
  /** False once the daemon has begun to stop (or before it is ready). */
  readonly serving: boolean;
  /** "writable", or why the spool cannot take a write. */
  readonly spool: string;
}

export interface HealthOptions {
  /** A probe's answer is reused this long. */
  readonly cacheMs?: number;
  /** A probe not answered by then counts as a failure. */
  readonly timeoutMs?: number;
  /** Milliseconds, monotonic. */
  readonly now?: () => number;
}

const WRITABLE = 'writable';

/** Resolves as `promise` does, or rejects with `what` once `ms` have passed. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class SpoolHealth {
  /** Set once the listeners are up; cleared as the stop begins. */
  serving = false;
  readonly #probe: () => Promise<void>;
  readonly #cacheMs: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  #last: { readonly at: number; readonly spool: string } | undefined;
  /** The probe under way: a second asker waits for it instead of writing again. */
  #probing: Promise<string> | undefined;

  constructor(probe: () => Promise<void>, options: HealthOptions = {}) {
    this.#probe = probe;
    this.#cacheMs = options.cacheMs ?? 1000;
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#now = options.now ?? (() => performance.now());
  }

  async check(): Promise<Health> {
    // A stopping daemon's spool is about to close: not asked, and not healthy whatever it says.
    if (!this.serving) return { ok: false, serving: false, spool: this.#last?.spool ?? 'not asked' };
    const spool = await this.#spool();
    return { ok: spool === WRITABLE, serving: this.serving, spool };
  }

  #spool(): Promise<string> {
    const last = this.#last;
    if (last && this.#now() - last.at < this.#cacheMs) return Promise.resolve(last.spool);
    this.#probing ??= this.#ask().finally(() => (this.#probing = undefined));
    return this.#probing;
  }

  async #ask(): Promise<string> {
    let spool: string;
    try {
      await within(this.#probe(), this.#timeoutMs, 'the spool');
      spool = WRITABLE;
    } catch (error) {
      spool = error instanceof Error ? error.message : String(error);
    }
    this.#last = { at: this.#now(), spool };
    return spool;
  }
}
