// GoCM's HTTP API on node:http (SPEC.md "GoCM's HTTP API"): routing by path
// and method, keep-alive and pipelined clients, slow ones timed out, and a
// stop in the daemon's order: stop listening, answer what came in, close.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { TcpAddress } from '../addresses.js';
import type { Logger } from '../log.js';
import type { Commands } from '../protocol/commands.js';
import { listenFd, listenTcp } from '../server/listeners.js';
import { ClientGone } from './body.js';
import { type Endpoint, endpoints } from './endpoints.js';
import { errorAnswer, type HttpAnswer } from './replies.js';

export interface HttpOptions {
  /** The longest request body, as for a line. */
  readonly maxLineBytes: number;
  /** Headers within this; the whole request within twice it. */
  readonly httpTimeoutMs: number;
  /** An idle keep-alive connection is closed after this; 0: never, as GoCM (Go's net/http) did. */
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
}

/** The longest a timer can wait. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class HttpApi {
  private readonly server: Server;
  private readonly routes: ReadonlyMap<string, Endpoint>;
  private stopping = false;
  private closed: Promise<void> | undefined;

  constructor(
    commands: Commands,
    options: HttpOptions,
    private readonly log: Logger,
  ) {
    const timeout = options.httpTimeoutMs;
    this.server = createServer(
      {
        // Slow clients (slow loris): the headers must be in within the timeout, the body
        // within as long again. Checked every quarter of it, at most a second apart
        // (node's default of 30 s would let a client hold on 30 s past the bound).
        headersTimeout: timeout,
        requestTimeout: Math.min(2 * timeout, MAX_TIMER_MS),
        connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.round(timeout / 4))),
        keepAliveTimeout: options.idleTimeoutMs,
      },
      (request, response) => this.serve(request, response),
    );
    // Past it, node closes a new connection at once: bounded, if not polite.
    this.server.maxConnections = options.maxConnections;
    this.server.on('error', (error) => log.error({ err: error }, 'HTTP listener error'));
    this.routes = endpoints(commands, options.maxLineBytes);
  }

  /** Listen on --http; resolves with the address bound. */
  listen(address: TcpAddress): Promise<string> {
    return listenTcp(this.server, address, '--http');
  }

  /** Serve a socket systemd passed (FileDescriptorName=http). */
  listenFd(fd: number): Promise<void> {
    return listenFd(this.server, fd);
  }

  private serve(request: IncomingMessage, response: ServerResponse): void {
    this.answer(request).then(
      (answer) => this.write(response, answer),
      (error: unknown) => {
        if (error instanceof ClientGone) return void response.destroy();
        this.log.error({ err: error }, 'HTTP request failed');
        this.write(response, errorAnswer('internal', 'internal error; nothing was accepted (see the daemon log)'));
      },
    );
  }

  private answer(request: IncomingMessage): Promise<HttpAnswer> {
    if (this.stopping) return Promise.resolve(errorAnswer('shutting_down', 'gocmd is stopping; this request was not processed'));
    const path = request.url?.split('?', 1)[0] ?? '';
    const route = this.routes.get(path);
    if (!route) return Promise.resolve(errorAnswer('not_found', `no endpoint ${JSON.stringify(path.slice(0, 64))}; there are ${[...this.routes.keys()].join(', ')}`));
    if (request.method !== route.method) {
      return Promise.resolve(errorAnswer('bad_request', `${path} answers ${route.method} only`, 405, { allow: route.method }));
    }
    return route.answer(request);
  }

  private write(response: ServerResponse, answer: HttpAnswer): void {
    if (response.destroyed || response.headersSent) return;
    // While stopping, each answer is the connection's last.
    if (this.stopping) response.shouldKeepAlive = false;
    response.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body) });
    response.end(answer.body);
  }

  /** Stop accepting; idle keep-alive connections close now, busy ones after their answer. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.stopping = true;
    this.closed = this.server.listening ? new Promise((resolve) => this.server.close(() => resolve())) : Promise.resolve();
  }

  /** Wait until every connection has closed, or `deadline` (ms since the epoch), then close the rest. */
  async drain(deadline: number): Promise<void> {
    this.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.closed, new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
    this.server.closeAllConnections();
  }
}
