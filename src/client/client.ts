// A client of gocmd's line protocol: one connection, requests written as
// JSON lines, replies matched to them by order (the protocol answers in
// request order), so any number of requests may be in flight at once.
// After a `subscribe`, event lines arrive beside the replies: told apart by
// shape (replies have `ok`, events `event`) and handed to onEvent's listener.
import { createConnection, type Socket } from 'node:net';
import type { Transform } from 'node:stream';
import split2 from 'split2';
import { parseObject } from '../guards.js';

/** Where gocmd listens: a Unix socket path, or a TCP host and port. */
export type Address = { readonly path: string } | { readonly host: string; readonly port: number };

/** A reply line, parsed. `error` is present when `ok` is false. */
export interface Reply {
  readonly ok: boolean;
  readonly id?: string | number;
  readonly error?: { readonly code: string; readonly message: string };
  readonly [field: string]: unknown;
}

/** How an address reads in messages: the path, or host:port. */
function describeAddress(address: Address): string {
  if ('path' in address) return address.path;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** The connection could not be made: nothing was sent. */
export class UnreachableError extends Error {
  constructor(
    readonly address: string,
    /** The system's code, e.g. ENOENT or ECONNREFUSED. */
    readonly code: string,
  ) {
    super(`cannot reach gocmd at ${address}: ${code} (${hintFor(code)})`);
    this.name = 'UnreachableError';
  }
}

/** The connection ended with requests unanswered: they may or may not have been taken. */
export class ConnectionLostError extends Error {
  constructor(
    readonly address: string,
    reason: string,
  ) {
    super(`lost the connection to gocmd at ${address}: ${reason}`);
    this.name = 'ConnectionLostError';
  }
}

function hintFor(code: string): string {
  if (code === 'EACCES' || code === 'EPERM') return 'does your user have access to the socket?';
  return 'is gocmd running?';
}

/** An event line of a subscription: its name, its fields, and the line as the daemon wrote it. */
export interface EventLine {
  readonly event: string;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly line: string;
}

interface Waiter {
  resolve(reply: Reply): void;
  reject(error: Error): void;
}

export class GocmClient {
  private readonly waiters: Waiter[] = [];
  /** Set once the connection is unusable; every later request fails with it. */
  private lost: ConnectionLostError | undefined;
  private readonly label: string;
  private eventListener: ((event: EventLine) => void) | undefined;
  private readonly endListeners: Array<(error: ConnectionLostError) => void> = [];
  private readonly lines: Transform;

  private constructor(
    private readonly socket: Socket,
    address: Address,
  ) {
    this.label = describeAddress(address);
    socket.on('error', (error: NodeJS.ErrnoException) => this.fail(error.code ?? error.message));
    // split2 rather than hand-made splitting: it handles a reply cut across reads.
    const lines = socket.pipe(split2());
    this.lines = lines;
    lines.on('data', (line: string) => this.onLine(line));
    // After a clean end, the splitter's own end comes once its last lines are out;
    // failing on 'close' instead could reject a reply that is still in the splitter.
    lines.on('end', () => this.fail('the daemon closed the connection'));
    socket.on('close', () => {
      if (!socket.readableEnded) this.fail('the connection was closed');
    });
  }

  /** Connect, or reject with UnreachableError naming the address tried. */
  static connect(address: Address): Promise<GocmClient> {
    return new Promise((resolve, reject) => {
      const socket = 'path' in address ? createConnection(address.path) : createConnection(address.port, address.host);
      const onError = (error: NodeJS.ErrnoException): void => {
        socket.destroy();
        reject(new UnreachableError(describeAddress(address), error.code ?? error.message));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new GocmClient(socket, address));
      });
    });
  }

  /** Hear the event lines of a subscription; without a listener, an event line breaks the protocol. */
  onEvent(listener: (event: EventLine) => void): void {
    this.eventListener = listener;
  }

  /** Resolves once the connection is unusable (lost, or closed by either side), with why. */
  ended(): Promise<ConnectionLostError> {
    if (this.lost) return Promise.resolve(this.lost);
    return new Promise((resolve) => this.endListeners.push(resolve));
  }

  /**
   * Stop reading lines until resumeReading(): a reader of events that cannot
   * write them as fast as they come stops the socket, and the daemon, not
   * our memory, holds or drops what follows.
   */
  pauseReading(): void {
    this.lines.pause();
  }

  resumeReading(): void {
    this.lines.resume();
  }

  /** Requests written and not answered yet. */
  get pending(): number {
    return this.waiters.length;
  }

  /** Write one request; its reply comes in order. Does not wait for the socket: see writable(). */
  request(request: object): Promise<Reply> {
    if (this.lost) return Promise.reject(this.lost);
    // Written after end() or destroy(), the line would vanish and its reply never come.
    if (!this.socket.writable) return Promise.reject(new ConnectionLostError(this.label, 'the connection is closed for writing'));
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.socket.write(JSON.stringify(request) + '\n');
    });
  }

  /**
   * Resolves when the socket can take more without buffering in our memory:
   * a pipelining writer awaits this between requests (backpressure).
   */
  writable(): Promise<void> {
    if (this.lost) return Promise.reject(this.lost);
    if (!this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        if (this.socket.writable) resolve();
        else reject(this.lost ?? new ConnectionLostError(this.label, 'the connection was closed'));
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Half-close: the daemon answers what it has, then closes. Resolves once closed. */
  close(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }

  /** Drop the connection at once; unanswered requests fail. */
  destroy(): void {
    this.socket.destroy();
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    const parsed = parseObject(line);
    if (parsed && parsed.ok === undefined && typeof parsed.event === 'string' && this.eventListener) {
      this.eventListener({ event: parsed.event, fields: parsed, line });
      return;
    }
    const waiter = this.waiters.shift();
    if (!waiter) return this.violation('a reply came with no request waiting for it');
    if (!parsed || typeof parsed.ok !== 'boolean') {
      const reason = parsed ? 'the daemon sent a reply without "ok"' : 'the daemon sent a line that is not JSON (or not an object)';
      waiter.reject(new ConnectionLostError(this.label, reason));
      return this.violation(reason);
    }
    waiter.resolve(parsed as Reply);
  }

  /** After a bad line the order of replies can no longer be trusted: give up on the rest. */
  private violation(reason: string): void {
    this.fail(reason);
    this.socket.destroy();
  }

  private fail(reason: string): void {
    this.lost ??= new ConnectionLostError(this.label, reason);
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.lost);
    for (const listener of this.endListeners.splice(0)) listener(this.lost);
  }
}
