// LISTEN on a connection of its own: another daemon's send, retry or stop
// wakes this one at once instead of a poll. The connection is made again
// with back-off when it drops, and a reconnect counts as a notice (something
// may have come meanwhile).
import pg from 'pg';
import { backoffDelay } from '../../delivery/backoff.js';

export const WORK_CHANNEL = 'gocm_work';

interface Log {
  warn(details: object, message: string): void;
  info(details: object, message: string): void;
}

export class Notifications {
  #client: pg.Client | undefined;
  #listeners: Array<() => void> = [];
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(
    private readonly config: pg.ClientConfig,
    private readonly log: Log,
  ) {}

  static async open(config: pg.ClientConfig, log: Log): Promise<Notifications> {
    const notifications = new Notifications(config, log);
    await notifications.connect();
    return notifications;
  }

  onNotice(listener: () => void): void {
    this.#listeners.push(listener);
  }

  #notice(): void {
    for (const listener of this.#listeners) listener();
  }

  async connect(): Promise<void> {
    // No query deadline here: LISTEN waits for notices for as long as it lives.
    const client = new pg.Client({ ...this.config, query_timeout: undefined, statement_timeout: undefined });
    client.on('notification', () => this.#notice());
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    await client.connect();
    await client.query(`LISTEN ${WORK_CHANNEL}`);
    this.#client = client;
    this.#failures = 0;
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client || this.#closed) return;
    this.#client = undefined;
    client.end().catch(() => undefined);
    this.#retry();
  }

  #retry(): void {
    if (this.#closed || this.#timer) return;
    this.#failures++;
    const delay = backoffDelay(this.#failures, 5000, Math.random, 100);
    if (this.#failures === 1) this.log.warn({ retryInMs: delay }, 'the PostgreSQL notification connection was lost; making it again');
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.connect().then(
        () => {
          this.log.info({}, 'listening to PostgreSQL notifications again');
          this.#notice();
        },
        () => this.#retry(),
      );
    }, delay);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#client?.end().catch(() => undefined);
  }
}
