// The daemon: wires spool → engine → providers and the listeners in front of
// them, reloads its apps on SIGHUP, and stops in one written order. See
// SPEC.md "The daemon".
import { hostname } from 'node:os';
import { loadAppsFile } from './apps.js';
import type { TcpAddress } from './addresses.js';
import type { Config } from './config.js';
import { DeliveryEngine } from './delivery/engine.js';
import { EventHub } from './events.js';
import { HttpApi } from './http/server.js';
import type { Logger } from './log.js';
import type { MetricsEndpoint } from './metrics/endpoint.js';
import { type AppDirectory, Commands } from './protocol/commands.js';
import { DeliveryWorkers } from './delivery/workers/pool.js';
import { type Apps, buildApps } from './registry.js';
import { Report } from './report.js';
import { listenFd, listenTcp, listenUnix } from './server/listeners.js';
import { Server } from './server/server.js';
import { openSpool } from './spool/open.js';
import type { Spool } from './spool/spool.js';
import { type InheritedListener, inheritedListeners, notifyReady, notifyStatus, notifyStopping } from './systemd.js';

/** How often the systemd status line is refreshed. */
const STATUS_INTERVAL_MS = 5000;

/** The parts a running daemon is made of. */
interface Parts {
  readonly spool: Spool;
  readonly report: Report;
  readonly engine: DeliveryEngine;
  readonly server: Server;
  readonly workers: DeliveryWorkers | undefined;
  readonly commands: Commands;
  readonly metrics: MetricsEndpoint | undefined;
}

/** LISTEN_FDNAMES: the socket systemd passes for /metrics and /healthz (FileDescriptorName=metrics). */
const METRICS_FD_NAME = 'metrics';
/** LISTEN_FDNAMES: the socket systemd passes for GoCM's HTTP API (FileDescriptorName=http). */
const HTTP_FD_NAME = 'http';

export class Daemon {
  private stopping: Promise<void> | undefined;
  private reloading: Promise<void> | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private readonly spool: Spool;
  private readonly report: Report;
  private readonly engine: DeliveryEngine;
  private readonly server: Server;
  private readonly workers: DeliveryWorkers | undefined;
  private readonly commands: Commands;
  /** GoCM's HTTP API, when --http or a socket named `http` asks for it. */
  private http: HttpApi | undefined;
  private readonly metrics: MetricsEndpoint | undefined;

  private constructor(
    private readonly config: Config,
    private readonly log: Logger,
    parts: Parts,
    /** The apps in force; replaced whole by a good reload. */
    private apps: Apps,
  ) {
    ({ spool: this.spool, report: this.report, engine: this.engine, server: this.server, workers: this.workers, commands: this.commands, metrics: this.metrics } = parts);
  }

  /** Open the spool, make the apps' providers, listen, start delivering. Throws ConfigError on bad setup. */
  static async start(config: Config, log: Logger): Promise<Daemon> {
    const spool = await openSpool(config, log);
    let apps: Apps | undefined;
    const workers = config.workers > 0 ? new DeliveryWorkers({ size: config.workers, logLevel: config.logLevel }, log) : undefined;
    let metrics: MetricsEndpoint | undefined;
    try {
      const inherited = inheritedListeners();
      apps = await buildApps(config.apps, config, log, workers);
      const current = apps;
      const report = new Report(spool.recovered);
      const events = new EventHub();
      const engine = new DeliveryEngine({ spool, apps: apps.runtimes, report, log }, config);
      engine.observe({ settled: (batch) => events.settled(batch, Date.now()) });
      let directory: () => AppDirectory = () => current.directory;
      // Only when asked for: without it, the accept path reads no clock, the engine has no second
      // observer, and prom-client (about 50 ms to load) is never loaded.
      if (config.metrics || inherited.some((listener) => listener.name === METRICS_FD_NAME)) {
        const { MetricsEndpoint } = await import('./metrics/endpoint.js');
        metrics = new MetricsEndpoint({ spool, engine, apps: () => directory().names, log });
      }
      const commands = new Commands({
        spool, report, apps: () => directory(), pausedUntil: (app) => engine.pausedUntil(app), onAccepted: () => engine.wake(), log,
        ...(metrics && { onAck: metrics.acked }),
      });
      // A shared spool tells of work other daemons brought; alone, this daemon is the whole fleet.
      spool.onWork?.(() => engine.wake());
      const startedAt = new Date().toISOString();
      commands.register('fleet', async () => ({
        daemons: spool.fleet
          ? await spool.fleet()
          : [{ name: config.name, host: hostname(), pid: process.pid, started_at: startedAt, seen_at: new Date().toISOString(), inflight: (await spool.counts(undefined, Date.now())).inflight }],
      }));
      const server = new Server(commands, config, log, events);
      const daemon = new Daemon(config, log, { spool, report, engine, server, workers, commands, metrics }, apps);
      directory = () => daemon.apps.directory;
      await daemon.listen(inherited);
      engine.wake(); // recovered work
      return daemon;
    } catch (error) {
      await metrics?.close();
      await Promise.all((apps?.runtimes ?? []).map((runtime) => runtime.provider.destroy()));
      await workers?.stop();
      await spool.close();
      throw error;
    }
  }

  /**
   * SIGHUP: read --apps again. A good file takes effect at once (new
   * credentials, added apps; nothing pending is lost); a bad one is refused
   * with a log line naming the app and field, and the old one stays in force.
   */
  reload(): Promise<void> {
    this.reloading ??= this.reloadApps().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async reloadApps(): Promise<void> {
    const { config, log } = this;
    if (this.stopping) return;
    if (!config.appsFile) {
      log.info('SIGHUP: no --apps file to read again; nothing changed');
      return;
    }
    let apps: Apps;
    try {
      apps = await buildApps(loadAppsFile(config.appsFile, { concurrency: config.concurrency, rate: config.rate, dryRun: config.dryRun }), config, log, this.workers);
    } catch (error) {
      log.error({ reason: error instanceof Error ? error.message : String(error) }, 'SIGHUP: the apps file was refused; the apps in force stay');
      return;
    }
    this.apps = apps;
    this.engine.setApps(apps.runtimes);
    log.info({ apps: apps.directory.names, default: apps.directory.defaultApp }, 'SIGHUP: apps reloaded');
  }

  private async listen(inherited: readonly InheritedListener[]): Promise<void> {
    const { config, server, log, metrics } = this;
    // systemd's sockets replace --socket and --tcp; one named `http` carries GoCM's HTTP API
    // (replacing --http), one named `metrics` replaces --metrics.
    const protocol = inherited.filter((listener) => listener.name !== METRICS_FD_NAME && listener.name !== HTTP_FD_NAME);
    const forMetrics = inherited.filter((listener) => listener.name === METRICS_FD_NAME);
    if (protocol.length > 0) {
      for (const { fd, kind } of protocol) await listenFd(server.listener(), fd).then(() => log.info({ fd, kind }, 'serving a socket from systemd'));
    } else {
      await listenUnix(server.listener(), config.socket, config.socketMode);
      log.info({ socket: config.socket, mode: config.socketMode.toString(8) }, 'listening');
    }
    if (config.tcp && protocol.length === 0) {
      log.info({ tcp: await listenTcp(server.listener(), config.tcp) }, 'listening');
    }
    await this.listenHttp(inherited.filter((listener) => listener.name === HTTP_FD_NAME).map((listener) => listener.fd));
    if (metrics) {
      const [passed] = forMetrics;
      const bound = passed ? await metrics.listenFd(passed.fd) : await metrics.listen(config.metrics as TcpAddress);
      metrics.health.serving = true;
      log.info({ metrics: bound, ...(passed && { fd: passed.fd }) }, 'serving /metrics and /healthz');
    }
    const apps = Object.fromEntries(this.config.apps.apps.map((app) => [app.name, app.provider]));
    log.info({ apps, spool: config.spool, workers: config.workers, recovered: this.spool.recovered }, 'ready');
    this.notify(notifyReady());
    this.statusTimer = setInterval(() => void this.status().then((text) => this.notify(notifyStatus(text))), STATUS_INTERVAL_MS).unref();
  }

  /** GoCM's API on the sockets systemd named `http`, else on --http (the daemon's own, as --tcp is). */
  private async listenHttp(fds: readonly number[]): Promise<void> {
    const { config, log } = this;
    if (fds.length === 0 && !config.http) return;
    const http = (this.http = new HttpApi(this.commands, config, log));
    for (const fd of fds) await http.listenFd(fd).then(() => log.info({ fd, kind: 'http' }, 'serving a socket from systemd'));
    if (fds.length === 0 && config.http) log.info({ http: await http.listen(config.http) }, 'listening');
  }

  private async status(): Promise<string> {
    const pending = await this.pending();
    const counts = this.report.snapshot(pending ?? 0);
    return `pending ${pending ?? '?'}, delivered ${counts.successes}, failed ${counts.failures}`;
  }

  /** The spool's count of tokens not final; undefined while the spool cannot say. */
  private pending(): Promise<number | undefined> {
    return this.spool.counts(undefined, Date.now()).then(
      (counts) => counts.pending,
      () => undefined,
    );
  }

  private notify(sent: Promise<string | undefined>): void {
    void sent.then((problem) => problem && this.log.warn({ problem }, 'could not notify systemd'));
  }

  /**
   * Stop in order, under one deadline (--drain-timeout from now): claiming
   * stops and the listeners close at once; connections are answered and
   * requests in flight finish side by side until the deadline; then the spool
   * closes. Idempotent: a second signal gets the same promise.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const { log, config } = this;
    const deadline = Date.now() + config.drainTimeoutMs;
    const claimingStopped = this.engine.stopClaiming();
    this.server.closeListeners();
    this.http?.close();
    // From now on /healthz says 503, so that a balancer or a watchdog looks elsewhere.
    if (this.metrics) this.metrics.health.serving = false;
    log.info({ inflight: this.engine.requestsInFlight, drainTimeoutMs: config.drainTimeoutMs }, 'stopping');
    clearInterval(this.statusTimer);
    this.notify(notifyStopping());
    await claimingStopped;
    await Promise.all([this.server.closeConnections(deadline), this.http?.drain(deadline), this.engine.drain(deadline)]);
    await this.workers?.stop();
    const pending = await this.pending();
    // Scrapes were still answered while the drain ran; the families read the spool, so they go first.
    await this.metrics?.close();
    await this.spool.close();
    log.info({ pending }, 'stopped; pending tokens stay in the spool');
  }
}
