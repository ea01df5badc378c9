// HTTP/1.1 keep-alive pooling for one origin through undici: http://, and
// https:// servers that do not offer HTTP/2. Each
// request has one deadline, from request() to the body's last byte: undici's
// own timeouts restart with every chunk, so a body dripping a byte at a time
// would never time out. The pool holds a connection per request in flight, so
// no request waits in it for one and the deadline never runs while queued.
import type { Pool } from 'undici';
import { errorCode } from '../../guards.js';
import { BodyTooLargeError, ConnectTimeoutError, PoolClosedError, PoolDestroyedError, RequestTimeoutError } from './errors.js';
import { lazily } from '../../lazy.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_RESPONSE_HEADERS, pickHeaders, type Transport, type TransportOptions, type TransportRequest, type TransportResponse } from './transport.js';

const undici = lazily<typeof import('undici')>('undici');

export class UndiciPool implements Transport {
  readonly #pool: Pool;
  readonly #timeoutMs: number;
  readonly #maxBodyBytes: number;
  readonly #responseHeaders: readonly string[];
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;

  constructor(origin: string, options: TransportOptions) {
    this.#timeoutMs = options.timeoutMs;
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#responseHeaders = options.responseHeaders ?? DEFAULT_RESPONSE_HEADERS;
    this.#pool = new (undici().Pool)(origin, {
      connections: Math.max(options.connections, options.concurrency),
      pipelining: 1,
      connectTimeout: options.timeoutMs,
      ...(options.ca === undefined ? {} : { connect: { ca: options.ca } }),
      // The deadline below covers both; undici's would restart with every chunk.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  async request({ method, path, headers, body }: TransportRequest): Promise<TransportResponse> {
    if (this.#destroying) throw new PoolDestroyedError();
    if (this.#closing) throw new PoolClosedError();
    const deadline = new AbortController();
    let verdict: NodeJS.Immediate | undefined;
    // After a stall of our own event loop an answer may be waiting, unread, in the
    // socket: the poll phase reads it before setImmediate runs, so it is not a timeout.
    const timer = setTimeout(() => (verdict = setImmediate(() => deadline.abort(new RequestTimeoutError(this.#timeoutMs)))), this.#timeoutMs);
    try {
      // Aborting the signal fails the request, or the body read below if it has begun.
      const response = await this.#pool.request({ method, path, headers, body, signal: deadline.signal });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > this.#maxBodyBytes) {
          response.body.destroy();
          throw new BodyTooLargeError(response.statusCode, this.#maxBodyBytes);
        }
        chunks.push(chunk);
      }
      return { status: response.statusCode, headers: pickHeaders(response.headers, this.#responseHeaders), body: Buffer.concat(chunks).toString('utf8') };
    } catch (error) {
      throw translate(error, this.#timeoutMs);
    } finally {
      clearTimeout(timer);
      clearImmediate(verdict);
    }
  }

  close(): Promise<void> {
    if (this.#destroying) return this.#destroying;
    this.#closing ??= this.#pool.close();
    return this.#closing;
  }

  destroy(): Promise<void> {
    // undici fails what is in flight with the error given here.
    this.#destroying ??= this.#pool.destroy(new PoolDestroyedError());
    return this.#destroying;
  }
}

/** undici's own codes for what errors.ts names, so both transports report a failure the same way. */
function translate(error: unknown, timeoutMs: number): unknown {
  switch (errorCode(error)) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new ConnectTimeoutError(timeoutMs);
    case 'UND_ERR_CLOSED':
      return new PoolClosedError();
    case 'UND_ERR_DESTROYED':
      return new PoolDestroyedError();
    default:
      return error;
  }
}
