// The transport's own failures: one class each, with a stable `code` that
// networkOutcome() (answers.ts) turns into a network reason. Failures the
// system reports (ECONNREFUSED, ECONNRESET, certificate errors) pass through
// with their own codes, as undici's do. Messages never carry a header value.

abstract class TransportError extends Error {
  abstract readonly code: string;
}

/** No complete answer within the request timeout of the request going on the wire. */
export class RequestTimeoutError extends TransportError {
  readonly code = 'ERR_REQUEST_TIMEOUT';
  constructor(timeoutMs: number) {
    super(`no complete answer within ${timeoutMs} ms`);
  }
}

/** No connection (TCP, TLS and, for HTTP/2, the server's SETTINGS) within the timeout. */
export class ConnectTimeoutError extends TransportError {
  readonly code = 'ERR_CONNECT_TIMEOUT';
  constructor(timeoutMs: number) {
    super(`no connection within ${timeoutMs} ms`);
  }
}

/** The server refused the stream unprocessed (REFUSED_STREAM or a GOAWAY) every time it was sent again. */
export class StreamRefusedError extends TransportError {
  readonly code = 'ERR_STREAM_REFUSED';
  constructor(tries: number) {
    super(`the server refused the stream unprocessed ${tries} times`);
  }
}

/** The server reset the stream before it had answered (RST_STREAM with an error code). */
export class StreamResetError extends TransportError {
  readonly code = 'ERR_STREAM_RESET';
  constructor(rstCode: number) {
    super(`the server reset the stream (HTTP/2 error code ${rstCode})`);
  }
}

/** The connection ended (closed, GOAWAY with an error, lost) before the answer was complete. */
export class SessionClosedError extends TransportError {
  readonly code = 'ERR_SESSION_CLOSED';
  constructor(detail = 'the connection closed before the answer was complete') {
    super(detail);
  }
}

/** The connection stopped answering HTTP/2 PINGs: it was dropped with its streams. */
export class SessionDeadError extends TransportError {
  readonly code = 'ERR_SESSION_DEAD';
  constructor(pingTimeoutMs: number) {
    super(`the connection did not answer a PING within ${pingTimeoutMs} ms`);
  }
}

/** The server does not speak HTTP/2 over TLS (its ALPN offers no h2): the request never reached it. */
export class Http2UnsupportedError extends TransportError {
  readonly code = 'ERR_HTTP2_UNSUPPORTED';
  constructor() {
    super('the server does not offer HTTP/2 (TLS ALPN)');
  }
}

/** close() was called: the transport takes no new requests. */
export class PoolClosedError extends TransportError {
  readonly code = 'ERR_POOL_CLOSED';
  constructor() {
    super('the transport is closed');
  }
}

/** destroy() was called: requests not yet answered were failed. */
export class PoolDestroyedError extends TransportError {
  readonly code = 'ERR_POOL_DESTROYED';
  constructor() {
    super('the transport was destroyed');
  }
}

/** The response body passed the transport's bound; it was cut off, not buffered. */
export class BodyTooLargeError extends TransportError {
  readonly code = 'ERR_BODY_TOO_LARGE';
  constructor(
    readonly status: number,
    maxBodyBytes: number,
  ) {
    super(`the response body (status ${status}) is longer than ${maxBodyBytes} bytes`);
  }
}
