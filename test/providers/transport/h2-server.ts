// Small HTTP/2 servers for the transport tests, scripted stream by stream
// (GOAWAY, refusals, lost sessions, silence), and a TCP relay that can stop
// forwarding without closing anything, as a dead path does.
import http2 from 'node:http2';
import net from 'node:net';
import type { TlsFixture } from '../../support/tls.js';

export interface TestServer {
  readonly url: string;
  readonly raw: http2.Http2SecureServer;
  /** Sessions accepted so far. */
  readonly sessions: number;
  /** Streams accepted so far, over all sessions. */
  readonly streams: number;
  /** Streams open now, over all sessions. */
  readonly openStreams: number;
  /** The most streams ever open at once on one session. */
  readonly peakPerSession: number;
  close(): Promise<void>;
}

/** Called for each stream with the 1-based number of its session and of the stream on that session. */
export type Handler = (stream: http2.ServerHttp2Stream, path: string, session: number, nth: number) => void;

/** Answer 200 `{}` after `delayMs`, unless the stream is gone by then. */
export function answer(stream: http2.ServerHttp2Stream, delayMs = 0, headers: http2.OutgoingHttpHeaders = {}, body = '{}'): void {
  setTimeout(() => {
    if (stream.closed) return;
    stream.respond({ ':status': 200, ...headers });
    stream.end(body);
  }, delayMs);
}

export async function startServer(tls: TlsFixture, maxConcurrentStreams: number, handler: Handler): Promise<TestServer> {
  const server = http2.createSecureServer({ key: tls.key, cert: tls.cert, settings: { maxConcurrentStreams } });
  const open = new Map<http2.ServerHttp2Session, { number: number; streams: number; seen: number }>();
  let sessions = 0;
  let streams = 0;
  let openStreams = 0;
  let peakPerSession = 0;
  server.on('session', (session) => {
    open.set(session, { number: (sessions += 1), streams: 0, seen: 0 });
    session.on('error', () => undefined);
    session.on('close', () => open.delete(session));
  });
  server.on('stream', (stream, headers) => {
    const counts = open.get(stream.session as http2.ServerHttp2Session);
    if (!counts) return;
    streams += 1;
    counts.streams += 1;
    counts.seen += 1;
    openStreams += 1;
    peakPerSession = Math.max(peakPerSession, counts.streams);
    stream.on('error', () => undefined);
    stream.on('close', () => {
      counts.streams -= 1;
      openStreams -= 1;
    });
    stream.resume();
    handler(stream, String(headers[':path']), counts.number, counts.seen);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    raw: server,
    get sessions() {
      return sessions;
    },
    get streams() {
      return streams;
    },
    get openStreams() {
      return openStreams;
    },
    get peakPerSession() {
      return peakPerSession;
    },
    close() {
      for (const session of open.keys()) session.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export interface Relay {
  readonly url: string;
  /** Connections relayed so far. */
  readonly connections: number;
  /** Stop forwarding on every connection open now, in both directions, closing nothing. New connections are relayed. */
  blackHole(): void;
  close(): Promise<void>;
}

/** A TCP relay on 127.0.0.1 to `target` (host:port of a URL). */
export async function startRelay(target: string): Promise<Relay> {
  const { hostname, port } = new URL(target);
  const pairs = new Set<{ client: net.Socket; server: net.Socket; silent: boolean }>();
  let connections = 0;
  const relay = net.createServer((client) => {
    connections += 1;
    const server = net.connect(Number(port), hostname);
    const pair = { client, server, silent: false };
    pairs.add(pair);
    // Data that arrives once the pair is silent is read and dropped: the peers see no close, no reset, nothing.
    client.on('data', (chunk: Buffer) => pair.silent || server.write(chunk));
    server.on('data', (chunk: Buffer) => pair.silent || client.write(chunk));
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    for (const socket of [client, server]) socket.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(relay.address() as net.AddressInfo).port}`,
    get connections() {
      return connections;
    },
    blackHole() {
      for (const pair of pairs) pair.silent = true;
    },
    close() {
      for (const { client, server } of pairs) {
        client.destroy();
        server.destroy();
      }
      return new Promise((resolve) => relay.close(() => resolve()));
    },
  };
}

/** Resolve once `condition` holds, checking every few milliseconds; reject after `ms` (a bound, not a measure). */
export async function waitFor(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
