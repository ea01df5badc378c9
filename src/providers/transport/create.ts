// The transport for an origin: HTTP/2 (our node:http2 pool) over https://,
// falling back to HTTP/1.1 for a server that does not offer it; HTTP/1.1
// keep-alive (undici) over plain http://, which has no HTTP/2 here.
// One transport per origin: providers keep the ones they make.
import { NegotiatedTransport } from './negotiated.js';
import type { Transport, TransportOptions } from './transport.js';
import { UndiciPool } from './undici-pool.js';

export function createTransport(url: string | URL, options: TransportOptions): Transport {
  const { protocol, origin } = new URL(url);
  return protocol === 'https:' ? new NegotiatedTransport(origin, options) : new UndiciPool(origin, options);
}

/** What every provider takes from the daemon's flags and its app's entry, besides its own credentials. */
export interface ProviderLimits {
  readonly requestTimeoutMs: number;
  /** HTTP/2 connections to the service (to each push service, for Web Push). */
  readonly connections: number;
  /** Requests the engine keeps in flight at most. */
  readonly concurrency: number;
  /** --dry-run or the app's dry_run: it wins over a message's own "dry_run". */
  readonly dryRun: boolean;
  /** PEM to trust instead of the system's store: for tests. */
  readonly ca?: string;
}

/** A provider's transport options from its limits; `more` for what only it needs. */
export function transportOptions(limits: ProviderLimits, more: Omit<Partial<TransportOptions>, 'ca'> = {}): TransportOptions {
  return {
    connections: limits.connections,
    concurrency: limits.concurrency,
    timeoutMs: limits.requestTimeoutMs,
    ...more,
    ...(limits.ca === undefined ? {} : { ca: limits.ca }),
  };
}
