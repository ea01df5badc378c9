// A connection's event stream (`subscribe`): event lines go out beside the
// replies while the client keeps up; while it does not, at most
// MAX_EVENT_BACKLOG wait, the rest are dropped and counted, and where the gap
// was the client reads {"event":"gap","dropped":N}: before the next event, or
// as soon as it has read the backlog. So a subscriber that never reads costs
// a bounded amount of memory, and one that reads loses nothing.
import type { EventName, EventSink } from '../events.js';

/**
 * Event lines a subscriber may have waiting before new ones are dropped: more
 * than one settlement batch holds (a legacy request settles 1,000 tokens at
 * once, several may finish in one turn), about 2 MB at most.
 */
export const MAX_EVENT_BACKLOG = 10_000;

/** Where the lines go: the connection's writer, and whether its client is behind. */
export interface EventOutput {
  write(line: string): void;
  backlogged(): boolean;
}

export class Subscription implements EventSink {
  readonly #queue: string[] = [];
  #dropped = 0;

  constructor(
    readonly events: ReadonlySet<EventName>,
    private readonly output: EventOutput,
  ) {}

  push(line: string): void {
    if (this.#queue.length === 0 && !this.output.backlogged()) {
      this.#writeGap();
      this.output.write(line);
      return;
    }
    if (this.#queue.length >= MAX_EVENT_BACKLOG) {
      this.#dropped++;
      return;
    }
    if (this.#dropped > 0) {
      this.#queue.push(gapLine(this.#dropped));
      this.#dropped = 0;
    }
    this.#queue.push(line);
  }

  /** The client read some: send what waits, as far as it keeps up. */
  drained(): void {
    let sent = 0;
    while (sent < this.#queue.length && !this.output.backlogged()) this.output.write(this.#queue[sent++] as string);
    this.#queue.splice(0, sent);
    // The gap closes the backlog even when no event follows it.
    if (this.#queue.length === 0 && !this.output.backlogged()) this.#writeGap();
  }

  #writeGap(): void {
    if (this.#dropped === 0) return;
    this.output.write(gapLine(this.#dropped));
    this.#dropped = 0;
  }
}

function gapLine(dropped: number): string {
  return `{"event":"gap","dropped":${dropped}}`;
}
