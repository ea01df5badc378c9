// A small bounded cache of what a provider derives from a message (a body, its
// headers), by message id: the tokens of one message come out of the spool
// together, so a few recent messages cover them and each is built once.
import type { MessageToSend } from './provider.js';

const DEFAULT_SIZE = 256;

export class PerMessage<T> {
  readonly #built = new Map<string, T>();
  readonly #build: (message: MessageToSend) => T;
  readonly #size: number;

  constructor(build: (message: MessageToSend) => T, size = DEFAULT_SIZE) {
    this.#build = build;
    this.#size = size;
  }

  get(message: MessageToSend): T {
    let built = this.#built.get(message.id);
    if (built !== undefined) return built;
    built = this.#build(message);
    // Maps iterate in insertion order: the first key is the oldest message.
    if (this.#built.size >= this.#size) this.#built.delete(this.#built.keys().next().value as string);
    this.#built.set(message.id, built);
    return built;
  }
}
