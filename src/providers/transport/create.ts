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
