// An https:// origin speaks HTTP/2 where the server offers it (SPEC "Delivery"),
// and HTTP/1.1 keep-alive where its TLS handshake says it does not: the
// HTTP/2 pool first, undici from the first ERR_HTTP2_UNSUPPORTED on.
import { errorCode } from '../../guards.js';
import { H2Pool } from './h2-pool.js';
import type { Transport, TransportOptions, TransportRequest, TransportResponse } from './transport.js';
import { UndiciPool } from './undici-pool.js';

export class NegotiatedTransport implements Transport {
  readonly #origin: string;
  readonly #options: TransportOptions;
  readonly #h2: H2Pool;
  #http1: UndiciPool | undefined;

  constructor(origin: string, options: TransportOptions) {
    this.#origin = origin;
    this.#options = options;
    this.#h2 = new H2Pool(origin, options);
  }

  /** Which protocol the origin turned out to speak, so far. */
  get protocol(): 'h2' | 'http/1.1' {
    return this.#http1 ? 'http/1.1' : 'h2';
  }

  async request(request: TransportRequest): Promise<TransportResponse> {
    if (this.#http1) return this.#http1.request(request);
    try {
      return await this.#h2.request(request);
    } catch (error) {
      if (errorCode(error) !== 'ERR_HTTP2_UNSUPPORTED') throw error;
      // The handshake refused HTTP/2, so the request never reached the server: send it as HTTP/1.1.
      if (!this.#http1) {
        this.#http1 = new UndiciPool(this.#origin, this.#options);
        void this.#h2.close();
      }
      return this.#http1.request(request);
    }
  }

  close(): Promise<void> {
    return Promise.all([this.#h2.close(), this.#http1?.close()]).then(() => undefined);
  }

  destroy(): Promise<void> {
    return Promise.all([this.#h2.destroy(), this.#http1?.destroy()]).then(() => undefined);
  }
}
