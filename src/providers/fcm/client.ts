// One pooled HTTP client per upstream origin: POST a body, get the status, a
// bounded body and Retry-After back. Transport only; outcomes are decided elsewhere.
// messages:send over https:// goes through H2Pool (h2-pool.ts, which says why);
// http:// endpoints and the token endpoint through undici.
import { Pool } from 'undici';
import { H2Pool } from './h2-pool.js';

export interface UpstreamResponse {
  readonly status: number;
  readonly body: string;
  readonly retryAfter: string | string[] | undefined;
}

/** What the provider needs of a transport. */
export interface Upstream {
  /**
   * POST `body` to `path`. Rejects only when no complete answer came (network
   * error, timeout, refused stream, client closed or destroyed).
   */
  post(path: string, headers: Record<string, string>, body: string): Promise<UpstreamResponse>;
  /** Let requests in flight finish, then close the connections. Idempotent. */
  close(): Promise<void>;
  /** Fail requests in flight and drop the connections. Idempotent. */
  destroy(): Promise<void>;
}

export interface PoolShape {
  /** Connections the pool may open. */
  readonly connections: number;
  /** Requests in flight per connection: HTTP/2 streams, or HTTP/1.1 pipelining depth. */
  readonly streamsPerConnection: number;
  /** A request with no answer (headers, or body progress) by then fails as a timeout. */
  readonly timeoutMs: number;
}

/** FCM's answers are a few hundred bytes; a proxy's error page is cut here rather than buffered whole. */
const MAX_BODY_BYTES = 64 * 1024;

/**
 * The transport for messages:send at `endpoint`. Over https:// a node:http2
 * session pool: `connections` sessions, up to 100 streams each. Plain http://
 * has no HTTP/2 here, and pipelining HTTP/1.1 would queue every request behind
 * a slow one, so there each request in flight gets its own keep-alive connection.
 */
export function upstreamFor(endpoint: string, connections: number, concurrency: number, timeoutMs: number): Upstream {
  const url = new URL(endpoint);
  if (url.protocol === 'https:') return new H2Pool(url.origin, { connections, timeoutMs });
  return new UpstreamClient(url.origin, { connections: Math.max(connections, concurrency), streamsPerConnection: 1, timeoutMs });
}

export class UpstreamClient implements Upstream {
  readonly #pool: Pool;
  readonly #timeoutMs: number;
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;

  constructor(origin: string, shape: PoolShape) {
    this.#timeoutMs = shape.timeoutMs;
    this.#pool = new Pool(origin, {
      allowH2: true,
      connections: shape.connections,
      pipelining: shape.streamsPerConnection,
      // Never open more streams than the server allows: extra ones are refused (FACTS.md).
      maxConcurrentStreams: shape.streamsPerConnection,
      headersTimeout: shape.timeoutMs,
      bodyTimeout: shape.timeoutMs,
    });
  }

  /**
   * POST `body` to `path`. Rejects only when no complete answer came (network
   * error, timeout, refused stream, pool destroyed).
   */
  async post(path: string, headers: Record<string, string>, body: string): Promise<UpstreamResponse> {
    const response = await this.#pool.request({
      method: 'POST',
      path,
      headers,
      body,
      // Without this undici sends one HTTP/2 stream at a time per connection
      // (undici #4143, #5390). It also lets undici resend a request a dropped
      // connection cut short: a rare duplicate push, which any retry risks too.
      idempotent: true,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= MAX_BODY_BYTES) break;
    }
    return {
      status: response.statusCode,
      body: Buffer.concat(chunks).toString('utf8', 0, Math.min(size, MAX_BODY_BYTES)),
      retryAfter: response.headers['retry-after'],
    };
  }

  /** Let requests in flight finish, then close the connections. Idempotent. */
  close(): Promise<void> {
    if (this.#destroying) return this.#destroying;
    this.#closing ??= this.#pool.close();
    return this.#closing;
  }

  /** Fail requests in flight and drop the connections. Idempotent. */
  destroy(): Promise<void> {
    this.#destroying ??= this.#pool.destroy();
    return this.#destroying;
  }
}
