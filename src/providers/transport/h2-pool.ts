// An HTTP/2 session pool for one https:// origin: up to `connections`
// node:http2 sessions, at most 100 streams each, requests waiting in order for
// a free stream. Not undici: in the delivery benchmark (test/bench/delivery.ts)
// gocmd ran at 0.66 of a bare node:http2 client through undici, 0.87–0.92
// through this pool.
import http2 from 'node:http2';
import { StreamAnswer } from './h2-answer.js';
import { H2Session, isUnsentByState } from './h2-session.js';
import { PoolClosedError, PoolDestroyedError, RequestTimeoutError, SessionClosedError, StreamRefusedError, StreamResetError } from './errors.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_RESPONSE_HEADERS, type Transport, type TransportOptions, type TransportRequest, type TransportResponse } from './transport.js';

export interface H2PoolOptions extends TransportOptions {
  /** While a session has streams open, PING it this often. Default 1 s. */
  readonly pingIntervalMs?: number;
  /** A PING unanswered this long drops the session. Default: the request timeout, at most 5 s. */
  readonly pingTimeoutMs?: number;
  /** A session with no streams is PINGed this often. Default 30 s. */
  readonly idlePingIntervalMs?: number;
}

/** Google's servers, like most, allow 100 streams per connection; never open more than a server allows (FACTS.md). */
const MAX_STREAMS_PER_SESSION = 100;
/** After a session fails to open while others serve, wait this long before opening another. */
const RECONNECT_DELAY_MS = 1000;
/** A refused stream is sent again at once (SPEC "Faults"); a server that refuses it this often gets an error instead. */
const MAX_REFUSALS = 5;
const PING_INTERVAL_MS = 1000;
/** Under the few minutes after which NATs and firewalls commonly forget an idle connection. */
const IDLE_PING_INTERVAL_MS = 30_000;
/** A PING needs no work of the server's application: 5 s of silence means the path is gone. */
const MAX_PING_TIMEOUT_MS = 5000;

interface Pending {
  readonly headers: http2.OutgoingHttpHeaders;
  readonly body: TransportRequest['body'];
  readonly resolve: (response: TransportResponse) => void;
  readonly reject: (error: Error) => void;
  refusals: number;
  settled: boolean;
  timer?: NodeJS.Timeout;
  stream?: http2.ClientHttp2Stream;
}

export class H2Pool implements Transport {
  readonly #origin: string;
  readonly #options: H2PoolOptions;
  readonly #maxBodyBytes: number;
  readonly #responseHeaders: readonly string[];
  readonly #sessions = new Set<H2Session>();
  /** FIFO of requests waiting for a stream; settled ones are skipped as they come up. */
  readonly #waiting: Pending[] = [];
  readonly #streaming = new Set<Pending>();
  #unsettled = 0;
  #connectFailedAt = -Infinity;
  #lastHeaders: { from: TransportRequest['headers']; method: string; path: string; h2: http2.OutgoingHttpHeaders } | undefined;
  #drained: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;

  constructor(origin: string, options: H2PoolOptions) {
    this.#origin = origin;
    this.#options = options;
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#responseHeaders = options.responseHeaders ?? DEFAULT_RESPONSE_HEADERS;
  }

  /** Sessions open, streams in flight and requests waiting for one. */
  get state(): { sessions: number; streams: number; waiting: number } {
    return { sessions: this.#sessions.size, streams: this.#streaming.size, waiting: this.#unsettled - this.#streaming.size };
  }

  request(request: TransportRequest): Promise<TransportResponse> {
    if (this.#destroying) return Promise.reject(new PoolDestroyedError());
    if (this.#closing) return Promise.reject(new PoolClosedError());
    const headers = this.#h2Headers(request);
    return new Promise((resolve, reject) => {
      this.#unsettled += 1;
      this.#waiting.push({ headers, body: request.body, resolve, reject, refusals: 0, settled: false });
      this.#pump();
    });
  }

  close(): Promise<void> {
    if (this.#destroying) return this.#destroying;
    this.#closing ??= new Promise<void>((resolve) => {
      this.#drained = resolve;
      if (this.#unsettled === 0) resolve();
    }).then(() => this.#endSessions((session) => session.close()));
    return this.#closing;
  }

  destroy(): Promise<void> {
    if (this.#destroying) return this.#destroying;
    const error = new PoolDestroyedError();
    for (const pending of [...this.#waiting.splice(0), ...this.#streaming]) this.#settle(pending, error);
    this.#destroying = this.#endSessions((session) => session.destroy());
    return this.#destroying;
  }

  async #endSessions(end: (session: H2Session) => Promise<void>): Promise<void> {
    const sessions = [...this.#sessions];
    this.#sessions.clear();
    await Promise.all(sessions.map(end));
  }

  /**
   * The HTTP/2 form of a request's headers, reused while the headers object and the path stay the same:
   * FCM's and gcm's requests share both (one object per access token); APNs' and Web Push's paths name
   * the device, so theirs is built per request.
   */
  #h2Headers({ method, path, headers }: TransportRequest): http2.OutgoingHttpHeaders {
    const last = this.#lastHeaders;
    if (last?.from === headers && last.method === method && last.path === path) return last.h2;
    const h2 = { ':method': method, ':path': path, ...headers };
    this.#lastHeaders = { from: headers, method, path, h2 };
    return h2;
  }

  #pump(): void {
    for (let pending = this.#waiting[0]; pending; pending = this.#waiting[0]) {
      if (pending.settled) {
        this.#waiting.shift();
        continue;
      }
      const session = this.#freeSession();
      if (!session) return this.#maybeConnect();
      this.#waiting.shift();
      this.#start(session, pending);
    }
  }

  #freeSession(): H2Session | undefined {
    for (const session of this.#sessions) if (session.free > 0) return session;
    return undefined;
  }

  /** Open sessions while the waiting outnumber what those still connecting will take. */
  #maybeConnect(): void {
    if (this.#destroying || (this.#sessions.size > 0 && Date.now() - this.#connectFailedAt < RECONNECT_DELAY_MS)) return;
    let connecting = 0;
    for (const session of this.#sessions) if (!session.ready) connecting += 1;
    for (; this.#sessions.size < this.#options.connections && connecting * MAX_STREAMS_PER_SESSION < this.#waiting.length; connecting += 1) this.#connect();
  }

  #connect(): void {
    const timeoutMs = this.#options.timeoutMs;
    const session = new H2Session(
      this.#origin,
      {
        ca: this.#options.ca,
        connectTimeoutMs: timeoutMs,
        pingIntervalMs: this.#options.pingIntervalMs ?? PING_INTERVAL_MS,
        idlePingIntervalMs: this.#options.idlePingIntervalMs ?? IDLE_PING_INTERVAL_MS,
        pingTimeoutMs: this.#options.pingTimeoutMs ?? Math.min(timeoutMs, MAX_PING_TIMEOUT_MS),
        maxStreams: MAX_STREAMS_PER_SESSION,
      },
      {
        ready: () => this.#pump(),
        gone: (gone, error) => {
          if (!this.#sessions.delete(gone)) return;
          if (error) {
            // It never got going (refused, bad certificate, timeout). With no other
            // session left the waiting get its error; otherwise they wait for the others.
            this.#connectFailedAt = Date.now();
            if (this.#sessions.size === 0) for (const pending of this.#waiting.splice(0)) this.#settle(pending, error);
          }
          this.#pump();
        },
      },
    );
    this.#sessions.add(session);
  }

  /** Put `pending` on the wire on `session`. Never throws: it runs inside event handlers. */
  #start(session: H2Session, pending: Pending): void {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(pending.headers);
    } catch (error) {
      // A session that had just received GOAWAY: the request never left, so it goes again.
      if (isUnsentByState(error)) this.#refused(pending);
      else this.#settle(pending, error instanceof Error ? error : new SessionClosedError(String(error)));
      return;
    }
    pending.stream = stream;
    this.#streaming.add(pending);
    // The timeout runs from here, not while the request waited for a stream (SPEC "Faults").
    const timeoutMs = this.#options.timeoutMs;
    // The verdict waits for the poll phase: after a stall of our own event loop the answer may be unread in the socket.
    pending.timer = setTimeout(() => {
      setImmediate(() => {
        if (pending.settled || pending.stream !== stream) return;
        session.suspect();
        this.#settle(pending, new RequestTimeoutError(timeoutMs));
      });
    }, timeoutMs);
    const answer = new StreamAnswer(stream, this.#responseHeaders, this.#maxBodyBytes, (outcome) => this.#settle(pending, outcome));
    let streamError: Error | undefined;
    stream.on('error', (error: Error) => (streamError = error));
    stream.on('close', () => {
      this.#streaming.delete(pending);
      if (!pending.settled) {
        // REFUSED_STREAM, sent by the server or by nghttp2 for streams past a GOAWAY's last id: never processed.
        if (!answer.answered && stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) this.#refused(pending);
        else this.#settle(pending, session.failure ?? resetError(stream.rstCode) ?? streamError ?? new SessionClosedError());
      }
      this.#pump();
    });
    stream.end(pending.body);
  }

  /** Back to the head of the queue, at no cost to the caller, unless refused too often. */
  #refused(pending: Pending): void {
    clearTimeout(pending.timer);
    pending.stream = undefined;
    pending.refusals += 1;
    if (pending.refusals > MAX_REFUSALS) return this.#settle(pending, new StreamRefusedError(pending.refusals));
    this.#waiting.unshift(pending);
  }

  #settle(pending: Pending, outcome: TransportResponse | Error): void {
    if (pending.settled) return;
    pending.settled = true;
    clearTimeout(pending.timer);
    this.#unsettled -= 1;
    this.#streaming.delete(pending);
    if (outcome instanceof Error) {
      // Timed out, too large or destroyed: free the stream (a no-op once it has closed).
      if (pending.stream && !pending.stream.closed) pending.stream.close(http2.constants.NGHTTP2_CANCEL);
      pending.reject(outcome);
    } else {
      pending.resolve(outcome);
    }
    if (this.#unsettled === 0) this.#drained?.();
  }
}

function resetError(rstCode: number | undefined): StreamResetError | undefined {
  return rstCode === undefined || rstCode === http2.constants.NGHTTP2_NO_ERROR ? undefined : new StreamResetError(rstCode);
}
