// The plumbing the APNs and Web Push fakes share: a TLS + HTTP/2 server on
// 127.0.0.1 with a throw-away certificate, answers delayed by a latency, a
// close() that drops everything, and the records tests wait on.
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { makeTlsFixture, type TlsFixture } from './tls.js';

interface Waiter<T> {
  readonly match: (record: T) => boolean;
  readonly resolve: (record: T) => void;
  readonly reject: (error: Error) => void;
}

/** The latest `max` records (0: none kept, though waiters still see each), and waits for one to come. */
export class Records<T> {
  readonly kept: T[] = [];
  private waiters: Waiter<T>[] = [];
  private closed = false;

  constructor(
    private readonly max: number,
    private readonly name: string,
  ) {}

  add(record: T): void {
    if (this.max > 0) {
      if (this.kept.length >= this.max) this.kept.shift();
      this.kept.push(record);
    }
    const ready = this.waiters.filter((waiter) => waiter.match(record));
    this.waiters = this.waiters.filter((waiter) => !ready.includes(waiter));
    for (const waiter of ready) waiter.resolve(record);
  }

  /** The first record, kept or still to come, that matches; rejects once closed. */
  waitFor(match: (record: T) => boolean = () => true): Promise<T> {
    const kept = this.kept.find(match);
    if (kept) return Promise.resolve(kept);
    if (this.closed) return Promise.reject(new Error(`${this.name} closed`));
    return new Promise((resolve, reject) => this.waiters.push({ match, resolve, reject }));
  }

  close(): void {
    this.closed = true;
    for (const waiter of this.waiters) waiter.reject(new Error(`${this.name} closed`));
    this.waiters = [];
  }
}

export interface FakeServerOptions {
  readonly port?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS. Default 100, as most real servers. */
  readonly maxConcurrentStreams?: number;
  readonly allowHTTP1?: boolean;
  readonly latencyMs?: number;
}

export class FakeServer {
  readonly server: http2.Http2SecureServer;
  readonly tls: TlsFixture = makeTlsFixture();
  /** TLS connections accepted. */
  connections = 0;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closing: Promise<void> | undefined;

  constructor(private readonly options: FakeServerOptions) {
    this.server = http2.createSecureServer({
      key: this.tls.key,
      cert: this.tls.cert,
      allowHTTP1: options.allowHTTP1 ?? false,
      settings: { maxConcurrentStreams: options.maxConcurrentStreams ?? 100 },
    });
    this.server.on('secureConnection', (socket: Socket) => {
      this.connections += 1;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      session.on('error', () => undefined);
    });
  }

  /** Listen on 127.0.0.1; resolves to the origin, https://127.0.0.1:PORT. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, '127.0.0.1', resolve);
    });
    const { port } = this.server.address() as { port: number };
    return `https://127.0.0.1:${port}`;
  }

  /** Run `answer` after the configured latency, or at once. */
  later(answer: () => void): void {
    if (!this.options.latencyMs) return answer();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      answer();
    }, this.options.latencyMs);
    this.timers.add(timer);
  }

  /** Drop every connection, hung ones included; idempotent; removes the certificate. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const timer of this.timers) clearTimeout(timer);
      this.server.close(() => resolve());
      // Hung streams and idle connections would hold server.close() open.
      for (const session of this.sessions) session.destroy();
      for (const socket of this.sockets) socket.destroy();
    }).finally(() => this.tls.remove());
    return this.closing;
  }
}

export const headerValue = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value.join(', ') : value);

/** Every regular header, lower-cased, repeats joined. */
export function regularHeaders(headers: http2.IncomingHttpHeaders): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const text = headerValue(value);
    if (!name.startsWith(':') && text !== undefined) result[name] = text;
  }
  return result;
}

/** The body, but never more than `limit + 1` bytes of it: enough to know it is too large. */
export async function readBody(stream: AsyncIterable<Buffer>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    if (length > limit) continue;
    chunks.push(chunk);
    length += chunk.length;
  }
  return Buffer.concat(chunks);
}
