// The sends a provider has under way, so that close() lets them finish before
// it closes what they use: some wait for a credential (an access token, a
// provider token) before any request reaches the transport, so the transport
// alone cannot know of them.
export class SendsInFlight {
  readonly #sends = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  /** `sendOne` for every token (or request of tokens) at once, counted as under way until all have settled. */
  all<I, T>(items: readonly I[], sendOne: (item: I) => Promise<T>): Promise<T[]> {
    const sending = Promise.all(items.map((item) => sendOne(item)));
    this.#sends.add(sending);
    const forget = () => this.#sends.delete(sending);
    sending.then(forget, forget);
    return sending;
  }

  /** `then` once every send under way has settled; the same promise however often it is asked. */
  close(then: () => Promise<unknown>): Promise<void> {
    this.#closing ??= Promise.allSettled(this.#sends)
      .then(then)
      .then(() => undefined);
    return this.#closing;
  }
}
