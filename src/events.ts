// Outcomes as they happen, for `subscribe` (SPEC.md "Observing it"): each
// committed settlement becomes event lines, made once and handed to every
// subscriber that asked for them. A subscriber that does not keep up loses
// events, never the daemon's memory: see Subscriber.
import { reasonLabel } from './providers/provider.js';
import type { Settlement } from './spool/spool.js';

export const EVENT_NAMES = ['delivered', 'failed', 'retry', 'notregistered', 'canonical'] as const;
export type EventName = (typeof EVENT_NAMES)[number];

/** Where the hub puts a subscriber's event lines (a connection). */
export interface EventSink {
  readonly events: ReadonlySet<EventName>;
  /** One event line, without its newline. */
  push(line: string): void;
}

export class EventHub {
  readonly #sinks = new Set<EventSink>();

  get subscribers(): number {
    return this.#sinks.size;
  }

  /** Start handing `sink` its events; the returned function stops it. */
  add(sink: EventSink): () => void {
    this.#sinks.add(sink);
    return () => this.#sinks.delete(sink);
  }

  /** Committed settlements, in order, become events for those who want them. */
  settled(batch: readonly Settlement[], now: number): void {
    if (this.#sinks.size === 0) return;
    const at = JSON.stringify(new Date(now).toISOString());
    for (const settlement of batch) {
      const { message, token } = settlement.delivery;
      // The same for every event of this token: app, message, token, time.
      const about = `"app":${JSON.stringify(message.app)},"msg":"${message.id}","token":${JSON.stringify(token)},"at":${at}`;
      if (settlement.result === 'delivered') {
        this.#emit('delivered', `{"event":"delivered",${about}}`);
        if (settlement.canonical !== undefined) this.#emit('canonical', `{"event":"canonical",${about},"canonical":${JSON.stringify(settlement.canonical)}}`);
      } else if (settlement.result === 'failed') {
        const reason = JSON.stringify(reasonLabel(settlement.reason));
        this.#emit('failed', `{"event":"failed",${about},"reason":${reason}}`);
        if (settlement.notRegistered) this.#emit('notregistered', `{"event":"notregistered",${about}}`);
      } else {
        const retryAt = JSON.stringify(new Date(settlement.dueAt).toISOString());
        this.#emit('retry', `{"event":"retry",${about},"reason":${JSON.stringify(reasonLabel(settlement.reason))},"retry_at":${retryAt}}`);
      }
    }
  }

  #emit(name: EventName, line: string): void {
    for (const sink of this.#sinks) if (sink.events.has(name)) sink.push(line);
  }
}
