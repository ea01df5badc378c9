// A raw HTTP/1.1 client over one socket, for the tests of GoCM's HTTP API:
// it shows what a client library hides — that every request went over the
// one connection, pipelining, and the moment the daemon closes.
import { createConnection, type Socket } from 'node:net';
import type { DaemonProcess } from './daemon.js';

export interface HttpResponse {
  readonly status: number;
  /** Names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** The request's bytes, with Host and (for a body) Content-Length unless given. */
export function requestText(request: HttpRequest): Buffer {
  const body = typeof request.body === 'string' ? Buffer.from(request.body) : (request.body ?? Buffer.alloc(0));
  const headers: Record<string, string> = { host: '127.0.0.1', ...request.headers };
  if (request.body !== undefined && headers['transfer-encoding'] === undefined) headers['content-length'] ??= String(body.length);
  const head = [`${request.method} ${request.path} HTTP/1.1`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`), body]);
}

/** A form body, encoded as curl --data-urlencode and Python's requests do. */
export function form(fields: ReadonlyArray<readonly [string, string]>): HttpRequest {
  return {
    method: 'POST',
    path: '/gcm/send',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields.map(([name, value]): [string, string] => [name, value])).toString(),
  };
}

export function jsonSend(body: unknown): HttpRequest {
  return { method: 'POST', path: '/gcm/send', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

export const get = (path: string): HttpRequest => ({ method: 'GET', path });

export class RawHttp {
  private buffered = Buffer.alloc(0);
  private readonly ready: HttpResponse[] = [];
  private readonly waiters: Array<{ resolve: (response: HttpResponse) => void; reject: (error: Error) => void }> = [];
  private ended = false;
  /** Resolves when the daemon has closed the connection (or it broke). */
  readonly closed: Promise<void>;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.parse();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.ended = true;
        this.parse();
        for (const waiter of this.waiters.splice(0)) waiter.reject(new Error('the daemon closed the connection'));
        resolve();
      }),
    );
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawHttp> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(port, host);
      socket.once('connect', () => resolve(new RawHttp(socket)));
      socket.once('error', reject);
    });
  }

  write(request: HttpRequest | string | Buffer): void {
    this.socket.write(typeof request === 'string' || Buffer.isBuffer(request) ? request : requestText(request));
  }

  /** The next response, in order; rejects once the connection is closed without one. */
  next(): Promise<HttpResponse> {
    const response = this.ready.shift();
    if (response) return Promise.resolve(response);
    if (this.ended) return Promise.reject(new Error('the daemon closed the connection'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  request(request: HttpRequest): Promise<HttpResponse> {
    this.write(request);
    return this.next();
  }

  close(): void {
    this.socket.destroy();
  }

  private parse(): void {
    for (;;) {
      const headEnd = this.buffered.indexOf(HEAD_END);
      if (headEnd < 0) return;
      const [statusLine = '', ...lines] = this.buffered.subarray(0, headEnd).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const start = headEnd + HEAD_END.length;
      // node:http's own 408 and 400 have no length: their body, if any, ends with the connection.
      const length = headers['content-length'] === undefined ? (this.ended ? this.buffered.length - start : undefined) : Number(headers['content-length']);
      if (length === undefined || this.buffered.length < start + length) return;
      const response = { status: Number(statusLine.split(' ')[1]), headers, body: this.buffered.subarray(start, start + length).toString('utf8') };
      this.buffered = this.buffered.subarray(start + length);
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(response);
      else this.ready.push(response);
    }
  }
}

/** The port of the daemon's HTTP API, from its "listening" log line. */
export function httpPort(daemon: DaemonProcess): number {
  const line = daemon.logs().find((entry) => typeof entry.http === 'string');
  const port = Number(/:(\d+)$/.exec(String(line?.http))?.[1]);
  if (!Number.isInteger(port)) throw new Error(`the daemon logged no HTTP address:\n${daemon.output().slice(-2000)}`);
  return port;
}

/** The `error.code` of an error answer's body. */
export function errorCodeOf(response: HttpResponse): string | undefined {
  const body = JSON.parse(response.body) as { error?: { code?: string } };
  return body.error?.code;
}
