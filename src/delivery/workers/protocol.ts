// What the main thread and the delivery threads tell each other: the apps to
// build providers for, batches of requests one way and of outcomes the other.
import type { AppConfig } from '../../apps.js';
import type { MessageToSend, Outcome } from '../../providers/provider.js';

/** What every provider takes from the daemon's flags (its app entry sets the rest). */
export interface SharedLimits {
  readonly requestTimeoutMs: number;
  /** Connections per push service, per delivery thread. */
  readonly connections: number;
  readonly fcmEndpoint: string;
  readonly gcmEndpoint: string;
}

/** The apps of one configuration (start, or a reload): `generation` tells their providers apart. */
export interface AppsMessage {
  readonly kind: 'apps';
  readonly generation: number;
  readonly apps: readonly AppConfig[];
  readonly limits: SharedLimits;
}

export interface SendItem {
  readonly seq: number;
  /** `${app}@${generation}`: the provider that sends it. */
  readonly provider: string;
  /** Index into the batch's messages: a message's content crosses once per batch. */
  readonly message: number;
  readonly tokens: readonly string[];
}

export interface SendBatch {
  readonly kind: 'send';
  readonly messages: readonly MessageToSend[];
  readonly items: readonly SendItem[];
}

/** Close (`close`: let its requests finish) or destroy (`destroy`: abort them) one provider. */
export interface EndMessage {
  readonly kind: 'close' | 'destroy';
  readonly provider: string;
}

export type ToWorker = AppsMessage | SendBatch | EndMessage | { readonly kind: 'stop' };

export interface OutcomeBatch {
  readonly kind: 'outcomes';
  // Outcome[]: each batch is the receiver's own copy (structured clone), theirs to keep.
  readonly items: ReadonlyArray<{ readonly seq: number; readonly outcomes: Outcome[] }>;
}

/** A provider that ended (close or destroy done). */
export interface EndedMessage {
  readonly kind: 'ended';
  readonly provider: string;
}

export type FromWorker = OutcomeBatch | EndedMessage;

export function providerKey(app: string, generation: number): string {
  return `${app}@${generation}`;
}
