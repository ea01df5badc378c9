// The transport for an origin: HTTP/2 (our node:http2 pool) over https://,
// HTTP/1.1 keep-alive (undici) over plain http://, which has no HTTP/2 here.
// One transport per origin: providers keep the ones they make.
import { H2Pool } from './h2-pool.js';
import type { Transport, TransportOptions } from './transport.js';
import { UndiciPool } from './undici-pool.js';

export function createTransport(url: string | URL, options: TransportOptions): Transport {
  const { protocol, origin } = new URL(url);
  return protocol === 'https:' ? new H2Pool(origin, options) : new UndiciPool(origin, options);
}
