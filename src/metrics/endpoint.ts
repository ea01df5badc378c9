// Metrics and health, wired: hears the engine and the accept path, and serves
// /metrics and /healthz on its own listener. The daemon makes one only when
// asked to (--metrics, or a systemd socket named `metrics`), so that without
// it the hot paths pay nothing.
import { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TcpAddress } from '../addresses.js';
import type { EngineObserver } from '../delivery/engine.js';
import type { Logger } from '../log.js';
import { listenFd, listenTcp } from '../server/listeners.js';
import type { Spool } from '../spool/spool.js';
import { Families } from './families.js';
import { SpoolHealth } from './health.js';
import { createMetricsServer } from './http.js';
import { Tally } from './tally.js';

/** What the metrics read of the delivery engine. */
export interface EngineView {
  observe(observer: EngineObserver): void;
  inFlightOf(app: string): number;
  pausedUntil(app: string): number | undefined;
}

export interface MetricsParts {
  readonly spool: Spool;
  readonly engine: EngineView;
  /** The apps configured now (they change on SIGHUP). */
  readonly apps: () => readonly string[];
  readonly log: Logger;
}

export class MetricsEndpoint {
  readonly health: SpoolHealth;
  readonly #tally = new Tally();
  readonly #server: Server;
  #closing: Promise<void> | undefined;

  constructor(parts: MetricsParts) {
    const { spool, engine, apps, log } = parts;
    this.health = new SpoolHealth(() => spool.probe());
    const families = new Families(this.#tally, {
      apps,
      counts: (app, now) => spool.counts(app, now),
      inFlightOf: (app) => engine.inFlightOf(app),
      pausedUntil: (app) => engine.pausedUntil(app),
      health: () => this.health.check(),
    });
    engine.observe({
      settled: (batch) => this.#tally.settled(batch),
      answered: (app, seconds) => this.#tally.answered(app, seconds),
    });
    this.#server = createMetricsServer({ metrics: () => families.metrics(), contentType: families.contentType, health: () => this.health.check() }, log);
  }

  /** CommandDeps.onAck: a send was acknowledged. */
  readonly acked = (app: string, tokens: number, seconds: number): void => this.#tally.acked(app, tokens, seconds);

  /** Listen on --metrics; resolves with the address bound ("HOST:PORT"). Throws ConfigError. */
  listen(address: TcpAddress): Promise<string> {
    return listenTcp(this.#server, address, '--metrics');
  }

  /** Serve a socket systemd passed; resolves with what it is bound to. */
  async listenFd(fd: number): Promise<string> {
    await listenFd(this.#server, fd);
    const bound = this.#server.address() as AddressInfo | string | null;
    return typeof bound === 'object' && bound !== null ? `${bound.address}:${bound.port}` : String(bound);
  }

  /** Stop serving: the listener and every open connection (a scraper's keep-alive one included). Idempotent. */
  close(): Promise<void> {
    this.health.serving = false;
    this.#closing ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }
}
