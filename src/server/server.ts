// The listeners and the set of live connections: accept (politely refusing
// past --max-connections), and stop in order: listeners, then connections.
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { EventHub } from '../events.js';
import type { Logger } from '../log.js';
import type { Commands } from '../protocol/commands.js';
import { errorReply } from '../protocol/replies.js';
import { Connection, type ConnectionOptions } from './connection.js';

/** How long a refused client may take to hang up after its busy line before we close on it. */
const REFUSED_LINGER_MS = 2000;

export interface ServerOptions extends ConnectionOptions {
  readonly maxConnections: number;
}

export class Server {
  private readonly listeners: NetServer[] = [];
  private readonly connections = new Set<Connection>();

  constructor(
    private readonly commands: Commands,
    private readonly options: ServerOptions,
    private readonly log: Logger,
    private readonly hub: EventHub,
  ) {}

  /** A new listener whose connections this server serves; the caller makes it listen. */
  listener(): NetServer {
    // allowHalfOpen: a client that half-closes still gets every reply before we close.
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    server.on('error', (error) => this.log.error({ err: error }, 'listener error'));
    this.listeners.push(server);
    return server;
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= this.options.maxConnections) {
      socket.on('error', () => socket.destroy());
      // A lingering close: what the client still sends is read and dropped (closing
      // on unread input would reset the connection, and the client would see an
      // error instead of the end after the busy line), and a client that never
      // hangs up is cut off after a while instead of holding a descriptor for ever.
      socket.resume();
      const linger = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
      socket.once('close', () => clearTimeout(linger));
      socket.end(errorReply('busy', undefined, `too many connections (--max-connections ${this.options.maxConnections}); try again later`) + '\n');
      return;
    }
    const connection = new Connection(socket, this.commands, this.options, this.hub);
    this.connections.add(connection);
    void connection.closed.then(() => this.connections.delete(connection));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Stop accepting. The listening sockets close at once (and a Unix socket we
   * bound is unlinked); a server's 'close' event waits for its connections,
   * which closeConnections() ends.
   */
  closeListeners(): void {
    for (const server of this.listeners) server.close();
  }

  /**
   * Tell every connection the daemon is stopping: each is answered and
   * served `shutting_down` until its client half-closes, or until `deadline`
   * (ms since the epoch), when it is finished: its owed replies go out and it ends.
   */
  async closeConnections(deadline: number): Promise<void> {
    for (const connection of this.connections) connection.shutdown();
    let timer: NodeJS.Timeout | undefined;
    const allClosed = Promise.all([...this.connections].map((connection) => connection.closed));
    await Promise.race([allClosed, new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
    for (const connection of this.connections) connection.finish();
  }
}
