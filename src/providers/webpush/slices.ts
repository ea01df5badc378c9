// CPU work in slices. Encrypting a push costs 0.3–1 ms of one core (an ECDH
// key pair and a shared secret per subscription, see test/bench/webpush.ts);
// done at once for the thousands of tokens the engine hands over together it
// would hold the event loop for seconds, and acknowledgements, HTTP/2 PINGs
// and the push services' answers would wait behind it. Here the work runs in
// order, at most SLICE_MS at a time, with a turn of the event loop between.
import { performance } from 'node:perf_hooks';

const SLICE_MS = 5;

export class TimeSlices {
  readonly #queue: Array<() => void> = [];
  #head = 0;
  #scheduled = false;

  /** `work`'s result, once its turn came. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push(() => {
        try {
          resolve(work());
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#slice());
  }

  #slice(): void {
    this.#scheduled = false;
    const until = performance.now() + SLICE_MS;
    while (this.#head < this.#queue.length && performance.now() < until) {
      const work = this.#queue[this.#head] as () => void;
      this.#head += 1;
      work();
    }
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else {
      // Drop what has run, now and then, rather than shift() each one (O(n) apiece).
      if (this.#head > 4096) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      this.#schedule();
    }
  }
}
