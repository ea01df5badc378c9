// One node:http2 session of the pool: its stream budget, the server's SETTINGS
// that open it, and the PINGs that find it dead when it stops answering.
import http2 from 'node:http2';
import { errorCode } from '../../guards.js';
import { ConnectTimeoutError, Http2UnsupportedError, SessionClosedError, SessionDeadError } from './errors.js';

export interface H2SessionOptions {
  /** PEM to trust instead of the system's store: for tests. */
  readonly ca: string | undefined;
  /** No SETTINGS from the server by then: ConnectTimeoutError. */
  readonly connectTimeoutMs: number;
  /** While streams are open, a PING goes out this often. */
  readonly pingIntervalMs: number;
  /**
   * While none are, this often: a connection idle behind a NAT or firewall is
   * dropped silently, and a request should not be the first to find out.
   */
  readonly idlePingIntervalMs: number;
  /** A PING unanswered this long: the session is dead (SessionDeadError). */
  readonly pingTimeoutMs: number;
  /** Never more streams than this, whatever the server allows. */
  readonly maxStreams: number;
}

export interface H2SessionEvents {
  /** The server's SETTINGS arrived (or changed): streams may start. */
  ready(session: H2Session): void;
  /** It takes no new streams any more. `error`: why it never got ready, when it did not. */
  gone(session: H2Session, error: Error | undefined): void;
}

/** request() threw because of the session's state, not the request's: the stream was never sent. */
const SESSION_STATE_CODES = new Set(['ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_INVALID_SESSION', 'ERR_HTTP2_OUT_OF_STREAMS']);
/** A TLS server that offers ALPN protocols, none of them h2, ends the handshake with this alert. */
const NO_APPLICATION_PROTOCOL = 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL';

export function isUnsentByState(error: unknown): boolean {
  return SESSION_STATE_CODES.has(errorCode(error) ?? '');
}

export class H2Session {
  readonly #h2: http2.ClientHttp2Session;
  readonly #options: H2SessionOptions;
  readonly #events: H2SessionEvents;
  readonly #closed: Promise<void>;
  #streams = 0;
  /** Streams it may carry; 0 until the server's SETTINGS arrive. */
  #limit = 0;
  #gone = false;
  #failure: Error | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  /** When the last stream closed (or the session became ready). */
  #idleSince = 0;
  #pingDeadline: NodeJS.Timeout | undefined;

  constructor(origin: string, options: H2SessionOptions, events: H2SessionEvents) {
    this.#options = options;
    this.#events = events;
    const h2 = http2.connect(origin, { settings: { enablePush: false }, ...(options.ca === undefined ? {} : { ca: options.ca }) });
    this.#h2 = h2;
    this.#closed = new Promise((resolve) =>
      h2.once('close', () => {
        clearTimeout(this.#pingDeadline);
        resolve();
      }),
    );
    this.#connectTimer = setTimeout(() => this.destroy(new ConnectTimeoutError(options.connectTimeoutMs)), options.connectTimeoutMs);
    h2.on('remoteSettings', (settings) => {
      clearTimeout(this.#connectTimer);
      this.#limit = Math.max(1, Math.min(options.maxStreams, settings.maxConcurrentStreams ?? options.maxStreams));
      if (this.#pingTimer === undefined && !this.#gone) {
        this.#idleSince = Date.now();
        this.#pingTimer = setInterval(() => this.#tick(), options.pingIntervalMs).unref();
      }
      if (!this.#gone) events.ready(this);
    });
    // A server that ignores ALPN completes the handshake with none chosen, then cannot read HTTP/2.
    h2.once('connect', () => {
      if (h2.alpnProtocol !== 'h2') void this.destroy(new Http2UnsupportedError());
    });
    h2.on('error', (error: Error) => {
      this.#failure ??= errorCode(error) === NO_APPLICATION_PROTOCOL ? new Http2UnsupportedError() : error;
      this.#leave();
    });
    // GOAWAY or the end: streams in flight finish or fail on their own; none start here.
    h2.on('goaway', () => this.#leave()).on('close', () => this.#leave());
  }

  get ready(): boolean {
    return this.#limit > 0;
  }

  /** Streams it can start now. */
  get free(): number {
    return this.#gone || this.#h2.closed || this.#h2.destroyed ? 0 : this.#limit - this.#streams;
  }

  get streams(): number {
    return this.#streams;
  }

  /** What ended it, when something did (an error, a dead PING, a connect timeout). */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Start a stream. Throws what http2's request() throws; after a throw caused by the session's state, it is gone. */
  request(headers: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.#h2.request(headers);
    } catch (error) {
      if (isUnsentByState(error)) this.#leave();
      throw error;
    }
    this.#streams += 1;
    // Registered before the pool's own listener: the slot is free when the pool looks again.
    stream.once('close', () => {
      if ((this.#streams -= 1) === 0) this.#idleSince = Date.now();
    });
    return stream;
  }

  /** A request here got no answer in time: ask for a PING now rather than at the next interval. */
  suspect(): void {
    this.#ping();
  }

  /** Let streams in flight finish, then end it. */
  close(): Promise<void> {
    this.#leave();
    return this.#closed;
  }

  destroy(error?: Error): Promise<void> {
    if (error) this.#failure ??= error;
    this.#leave();
    if (!this.#h2.destroyed) this.#h2.destroy(error);
    return this.#closed;
  }

  #tick(): void {
    if (this.#streams > 0 || Date.now() - this.#idleSince >= this.#options.idlePingIntervalMs) {
      if (this.#streams === 0) this.#idleSince = Date.now();
      this.#ping();
    }
  }

  #ping(): void {
    if (this.#pingDeadline !== undefined || this.#gone || this.#h2.destroyed) return;
    const timeoutMs = this.#options.pingTimeoutMs;
    const sent = this.#h2.ping((error) => {
      if (error) return;
      clearTimeout(this.#pingDeadline);
      this.#pingDeadline = undefined;
    });
    if (!sent) return;
    this.#pingDeadline = setTimeout(() => {
      // After a stall of our own event loop the ACK may be waiting, unread, in
      // the socket: the poll phase reads it before setImmediate runs.
      setImmediate(() => {
        if (this.#pingDeadline !== undefined) void this.destroy(new SessionDeadError(timeoutMs));
      });
    }, timeoutMs).unref();
  }

  #leave(): void {
    if (this.#gone) return;
    this.#gone = true;
    clearTimeout(this.#connectTimer);
    clearInterval(this.#pingTimer);
    if (!this.#h2.closed && !this.#h2.destroyed) this.#h2.close();
    this.#events.gone(this, this.ready ? undefined : (this.#failure ?? new SessionClosedError('the connection closed before it was ready')));
  }
}
