// The one way providers speak HTTP to a push service or a token endpoint: a
// request in; its status, the response headers the provider asked for and a
// bounded body out. create.ts picks the implementation for an origin.

export interface TransportRequest {
  readonly method: string;
  /** Path and query, e.g. "/v1/projects/p/messages:send". */
  readonly path: string;
  /**
   * Lower-case names. Providers pass the same object for many requests (one per
   * access token): a transport may cache what it derives from it by identity.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** Text, or bytes (Web Push's encrypted messages). */
  readonly body?: string | Uint8Array;
}

export interface TransportResponse {
  readonly status: number;
  /** The response headers named in TransportOptions.responseHeaders that came, first value of each. */
  readonly headers: Readonly<Record<string, string>>;
  /** The whole body, as UTF-8; never longer than TransportOptions.maxBodyBytes. */
  readonly body: string;
}

export interface Transport {
  /**
   * Resolves with the complete answer, whatever its status. Rejects only when
   * none came: an error of errors.ts, or the system's own (ECONNREFUSED,
   * ECONNRESET, a certificate error), each with a stable `code`.
   */
  request(request: TransportRequest): Promise<TransportResponse>;
  /** Refuse new requests, let those accepted finish, then close the connections. Idempotent. */
  close(): Promise<void>;
  /** Fail every request not yet answered (PoolDestroyedError) and drop the connections. Idempotent. */
  destroy(): Promise<void>;
}

export interface TransportOptions {
  /** HTTP/2: sessions opened at most (each carries up to 100 streams). */
  readonly connections: number;
  /**
   * Requests the caller keeps in flight at most. HTTP/1.1 gives each its own
   * keep-alive connection, so that none waits behind a slow one.
   */
  readonly concurrency: number;
  /** No complete answer this long after a request is on the wire: RequestTimeoutError. */
  readonly timeoutMs: number;
  /** Response headers the provider reads (lower case). Default: retry-after. */
  readonly responseHeaders?: readonly string[];
  /** A longer body fails the request with BodyTooLargeError. Default: DEFAULT_MAX_BODY_BYTES. */
  readonly maxBodyBytes?: number;
  /** PEM to trust instead of the system's store (and NODE_EXTRA_CA_CERTS): for tests. */
  readonly ca?: string;
}

/**
 * FCM, OAuth2 and APNs answer in a few hundred bytes; a larger body is a
 * proxy's error page or a broken server, and is cut off here rather than
 * buffered, 2,000 requests in flight at a time. A provider whose answers
 * are larger (the legacy multicast answer) asks for more.
 */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

export const DEFAULT_RESPONSE_HEADERS: readonly string[] = ['retry-after'];

/** The headers named in `wanted` from a response's header map, first value of each. */
export function pickHeaders(
  received: Readonly<Record<string, string | string[] | number | undefined>>,
  wanted: readonly string[],
): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of wanted) {
    const value = received[name];
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) picked[name] = String(first);
  }
  return picked;
}
