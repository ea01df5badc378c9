// messages:send over https://: a few node:http2 sessions, many streams each.
// Not undici: with the daemon's settings (allowH2, 20 connections, 100 streams
// each, idempotent POSTs) undici cost 298–318 µs of CPU per request in a
// standalone client against 145–157 µs for bare node:http2; its leanest use
// (pool.dispatch with a bare handler) still measured 185–255 µs against
// 133–188 µs side by side, about 1.4×. In the delivery benchmark gocmd spent
// 276 µs of CPU per token against 154 µs for a bare client, and ran at 0.66 of
// its rate; with this pool, 137–156 µs against 114–123 µs and 0.87–0.92 (quiet
// machine). undici still serves http:// endpoints and the token endpoint.
import http2 from 'node:http2';
import type { Upstream, UpstreamResponse } from './client.js';

export interface H2PoolOptions {
  /** Sessions opened at most, lazily, as streams are wanted. */
  readonly connections: number;
  /** A request with no complete answer this long after post() fails with ETIMEDOUT. */
  readonly timeoutMs: number;
  /** Trust this CA instead of the system's: for tests. Production trusts the system store and NODE_EXTRA_CA_CERTS. */
  readonly ca?: string;
}

/** Many servers, Google's among them, allow 100 concurrent streams per connection; never open more than the server allows. */
const MAX_STREAMS_PER_SESSION = 100;
/** After a session fails to open while others serve, wait this long before opening another. */
const RECONNECT_DELAY_MS = 1000;
/** FCM's answers are a few hundred bytes; a proxy's error page is cut here rather than buffered whole. */
const MAX_BODY_BYTES = 64 * 1024;

/** `limit`: the streams it may carry, 0 until the server's SETTINGS arrive. */
interface Session { readonly h2: http2.ClientHttp2Session; streams: number; limit: number }

interface Request {
  readonly headers: http2.OutgoingHttpHeaders;
  readonly body: string;
  readonly resolve: (response: UpstreamResponse) => void;
  readonly reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
  stream?: http2.ClientHttp2Stream;
  settled?: boolean;
}

const poolError = (code: string, message: string): Error => Object.assign(new Error(message), { code });

export class H2Pool implements Upstream {
  readonly #origin: string;
  readonly #options: H2PoolOptions;
  readonly #sessions = new Set<Session>();
  /** FIFO of requests waiting for a stream; settled ones are skipped as they come up. */
  readonly #waiting: Request[] = [];
  readonly #streaming = new Set<Request>();
  #unsettled = 0;
  #connectFailedAt = -Infinity;
  #lastHeaders: { path: string; from: Record<string, string>; h2: http2.OutgoingHttpHeaders } | undefined;
  #drained: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;

  constructor(origin: string, options: H2PoolOptions) {
    this.#origin = origin;
    this.#options = options;
  }

  /** Sessions open, streams in flight and requests waiting for one. */
  get state(): { sessions: number; streams: number; waiting: number } {
    return { sessions: this.#sessions.size, streams: this.#streaming.size, waiting: this.#unsettled - this.#streaming.size };
  }

  /** POST `body` to `path`. Rejects only when no complete answer came (network error, timeout, refused stream, pool closed). */
  post(path: string, headers: Record<string, string>, body: string): Promise<UpstreamResponse> {
    if (this.#closing || this.#destroying) return Promise.reject(poolError('ERR_H2_POOL_CLOSED', 'the HTTP/2 pool is closed'));
    // The provider passes one headers object per access token: build the HTTP/2 form once for it.
    if (this.#lastHeaders?.from !== headers || this.#lastHeaders.path !== path) {
      this.#lastHeaders = { path, from: headers, h2: { ':method': 'POST', ':path': path, ...headers } };
    }
    const h2Headers = this.#lastHeaders.h2;
    return new Promise((resolve, reject) => {
      const request: Request = { headers: h2Headers, body, resolve, reject };
      request.timer = setTimeout(() => this.#settle(request, poolError('ETIMEDOUT', `no answer within ${this.#options.timeoutMs} ms`)), this.#options.timeoutMs);
      this.#unsettled += 1;
      this.#waiting.push(request);
      this.#pump();
    });
  }

  /** Let requests waiting or in flight finish, then close the sessions. Idempotent. */
  close(): Promise<void> {
    if (this.#destroying) return this.#destroying;
    this.#closing ??= new Promise<void>((resolve) => {
      this.#drained = resolve;
      if (this.#unsettled === 0) resolve();
    }).then(() => this.#endSessions((h2, done) => h2.close(done)));
    return this.#closing;
  }

  /** Fail requests waiting or in flight (network errors, so retries) and drop the sessions. Idempotent. */
  destroy(): Promise<void> {
    if (this.#destroying) return this.#destroying;
    const error = poolError('ERR_H2_POOL_DESTROYED', 'the HTTP/2 pool was destroyed');
    for (const request of [...this.#waiting.splice(0), ...this.#streaming]) this.#settle(request, error);
    this.#destroying = this.#endSessions((h2, done) => {
      h2.once('close', done);
      h2.destroy();
    });
    return this.#destroying;
  }

  async #endSessions(end: (h2: http2.ClientHttp2Session, done: () => void) => void): Promise<void> {
    const sessions = [...this.#sessions].filter(({ h2 }) => !h2.closed);
    this.#sessions.clear();
    await Promise.all(sessions.map(({ h2 }) => new Promise<void>((done) => end(h2, done))));
  }

  #pump(): void {
    for (let request = this.#waiting[0]; request; request = this.#waiting[0]) {
      if (request.settled) {
        this.#waiting.shift();
        continue;
      }
      const free = this.#freeSession();
      if (free) this.#start(free, this.#waiting.shift() as Request);
      else return this.#maybeConnect();
    }
  }

  /** Open sessions while the waiting outnumber what those still connecting will take. */
  #maybeConnect(): void {
    if (this.#destroying || (this.#sessions.size > 0 && Date.now() - this.#connectFailedAt < RECONNECT_DELAY_MS)) return;
    let connecting = 0;
    for (const session of this.#sessions) if (session.limit === 0) connecting += 1;
    for (; this.#sessions.size < this.#options.connections && connecting * MAX_STREAMS_PER_SESSION < this.#waiting.length; connecting += 1) this.#connect();
  }

  #freeSession(): Session | undefined {
    // A session closing or destroyed is dropped on its next event; until then, request() on it would throw.
    for (const session of this.#sessions) if (session.streams < session.limit && !session.h2.closed && !session.h2.destroyed) return session;
    return undefined;
  }

  #connect(): void {
    const h2 = http2.connect(this.#origin, this.#options.ca === undefined ? {} : { ca: this.#options.ca });
    const session: Session = { h2, streams: 0, limit: 0 };
    this.#sessions.add(session);
    let failure: Error | undefined;
    const connectTimer = setTimeout(() => h2.destroy(poolError('ETIMEDOUT', `no HTTP/2 session within ${this.#options.timeoutMs} ms`)), this.#options.timeoutMs);
    h2.on('remoteSettings', (settings) => {
      clearTimeout(connectTimer);
      session.limit = Math.max(1, Math.min(MAX_STREAMS_PER_SESSION, settings.maxConcurrentStreams ?? MAX_STREAMS_PER_SESSION));
      this.#pump();
    });
    // GOAWAY, an error or the end: no new streams here; those in flight finish or fail on their own.
    const drop = (): void => {
      clearTimeout(connectTimer);
      if (!this.#sessions.delete(session)) return;
      h2.close();
      if (session.limit === 0) {
        // It never got going (refused, bad certificate, timeout). With no other
        // session left the waiting get its error; otherwise they wait for the others.
        this.#connectFailedAt = Date.now();
        const error = failure ?? poolError('ERR_HTTP2_SESSION_CLOSED', 'the HTTP/2 session closed before it was ready');
        if (this.#sessions.size === 0) for (const request of this.#waiting.splice(0)) this.#settle(request, error);
      }
      this.#pump();
    };
    h2.on('error', (error: Error) => {
      failure = error;
      drop();
    });
    h2.on('goaway', drop).on('close', drop);
  }

  #start(session: Session, request: Request): void {
    const stream = session.h2.request(request.headers);
    session.streams += 1;
    request.stream = stream;
    this.#streaming.add(request);
    let status = 0;
    let retryAfter: string | undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    const answered = (): void => {
      // No response: a refused or reset stream ends before its 'error' says why.
      if (status === 0) return;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      this.#settle(request, { status, body: body.toString('utf8', 0, Math.min(size, MAX_BODY_BYTES)), retryAfter });
    };
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
      retryAfter = headers['retry-after'];
    });
    stream.on('data', (chunk: Buffer) => {
      if (request.settled) return;
      chunks.push(chunk);
      size += chunk.length;
      if (size < MAX_BODY_BYTES) return;
      answered();
      stream.close(http2.constants.NGHTTP2_CANCEL);
    });
    stream.on('end', answered);
    // "Stream closed with error code NGHTTP2_REFUSED_STREAM" says more than its code ERR_HTTP2_STREAM_ERROR.
    stream.on('error', (error: Error) => {
      if (!request.settled) this.#settle(request, poolError(/NGHTTP2_[A-Z_]+/.exec(error.message)?.[0] ?? (error as NodeJS.ErrnoException).code ?? error.name, error.message));
    });
    stream.on('close', () => {
      session.streams -= 1;
      if (!request.settled) this.#settle(request, poolError('ERR_HTTP2_STREAM_CLOSED', `the stream closed unanswered (code ${stream.rstCode})`));
      this.#pump();
    });
    stream.end(request.body);
  }

  #settle(request: Request, outcome: UpstreamResponse | Error): void {
    if (request.settled) return;
    request.settled = true;
    clearTimeout(request.timer);
    this.#unsettled -= 1;
    if (request.stream) this.#streaming.delete(request);
    if (outcome instanceof Error) {
      // Timed out or destroyed: free the stream (a no-op once it has closed).
      if (request.stream && !request.stream.closed) request.stream.close(http2.constants.NGHTTP2_CANCEL);
      request.reject(outcome);
    } else {
      request.resolve(outcome);
    }
    if (this.#unsettled === 0) this.#drained?.();
  }
}
