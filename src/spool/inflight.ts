// The tokens in the engine's hands, by message. All claimed tokens of a message
// share one Message object (one JSON.parse for 1,000 tokens), forgotten when its
// last claimed token is settled: memory follows what is claimed, not what is spooled.
import type { Message } from '../message.js';
import type { Delivery } from './spool.js';

interface ClaimedMessage<T> {
  readonly message: Message;
  readonly tokens: Map<string, T>;
}

/** `T` is where the store keeps a claimed token (a row, a queue entry). */
export class InFlight<T> {
  private readonly messages = new Map<string, ClaimedMessage<T>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Every place held, in no particular order. */
  *places(): IterableIterator<T> {
    for (const claimed of this.messages.values()) yield* claimed.tokens.values();
  }

  /** Tokens in flight of the messages `which` picks. */
  countOf(which: (message: Message) => boolean): number {
    let count = 0;
    for (const claimed of this.messages.values()) if (which(claimed.message)) count += claimed.tokens.size;
    return count;
  }

  /** The Message already handed out under this id, so that a store need not parse it again. */
  message(id: string): Message | undefined {
    return this.messages.get(id)?.message;
  }

  claim(message: Message, token: string, attempts: number, place: T): Delivery {
    let claimed = this.messages.get(message.id);
    if (!claimed) {
      claimed = { message, tokens: new Map() };
      this.messages.set(message.id, claimed);
    }
    claimed.tokens.set(token, place);
    this.count++;
    return { message: claimed.message, token, attempts };
  }

  /**
   * Where the store keeps this delivery's token; undefined when it is not in
   * flight (settled already, or never claimed). Found by message id and token,
   * so a copy of a Delivery settles as well as the object `claim` returned.
   */
  find(delivery: Delivery): T | undefined {
    return this.messages.get(delivery.message.id)?.tokens.get(delivery.token);
  }

  release(delivery: Delivery): void {
    const claimed = this.messages.get(delivery.message.id);
    if (!claimed?.tokens.delete(delivery.token)) return;
    this.count--;
    if (claimed.tokens.size === 0) this.messages.delete(delivery.message.id);
  }
}
