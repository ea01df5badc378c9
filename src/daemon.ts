// The daemon: wires spool → engine → provider and the listeners in front of
// them, and stops in one written order. See SPEC.md "The daemon".
import type { Config } from './config.js';
import { DeliveryEngine } from './delivery/engine.js';
import type { Logger } from './log.js';
import { Commands } from './protocol/commands.js';
import { createFcmProvider } from './providers/fcm/index.js';
import { createGcmProvider } from './providers/gcm.js';
import type { Provider } from './providers/provider.js';
import { Report } from './report.js';
import { listenFd, listenTcp, listenUnix } from './server/listeners.js';
import { Server } from './server/server.js';
import { openSpool } from './spool/open.js';
import type { Spool } from './spool/spool.js';
import { inheritedListeners, notifyReady, notifyStatus, notifyStopping } from './systemd.js';

/** How often the systemd status line is refreshed. */
const STATUS_INTERVAL_MS = 5000;

function createProvider(config: Config, log: Logger): Provider {
  const limits = { requestTimeoutMs: config.requestTimeoutMs, connections: config.connections, concurrency: config.concurrency, dryRun: config.dryRun };
  // loadConfig refuses either provider without its secret; the providers refuse an empty one again.
  if (config.provider === 'gcm') return createGcmProvider({ ...limits, endpoint: config.gcmEndpoint, apiKey: config.apiKey ?? '' }, log);
  return createFcmProvider({ ...limits, endpoint: config.fcmEndpoint, credentials: config.credentials ?? '', projectId: config.projectId }, log);
}

export class Daemon {
  private stopping: Promise<void> | undefined;
  private statusTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly spool: Spool,
    private readonly report: Report,
    private readonly engine: DeliveryEngine,
    private readonly server: Server,
  ) {}

  /** Open the spool, make the provider, listen, start delivering. Throws ConfigError on bad setup. */
  static async start(config: Config, log: Logger): Promise<Daemon> {
    const spool = openSpool(config, log);
    let provider: Provider | undefined;
    try {
      provider = createProvider(config, log);
      const report = new Report(spool.recovered);
      const engine = new DeliveryEngine({ spool, provider, report, log }, config);
      const commands = new Commands({ spool, report, onAccepted: () => engine.wake(), log });
      const server = new Server(commands, config, log);
      const daemon = new Daemon(config, log, spool, report, engine, server);
      await daemon.listen();
      engine.wake(); // recovered work
      return daemon;
    } catch (error) {
      await provider?.destroy();
      await spool.close();
      throw error;
    }
  }

  private async listen(): Promise<void> {
    const { config, server, log } = this;
    const inherited = inheritedListeners();
    if (inherited.length > 0) {
      for (const { fd, kind } of inherited) await listenFd(server.listener(), fd).then(() => log.info({ fd, kind }, 'serving a socket from systemd'));
    } else {
      await listenUnix(server.listener(), config.socket, config.socketMode);
      log.info({ socket: config.socket, mode: config.socketMode.toString(8) }, 'listening');
    }
    if (config.tcp && inherited.length === 0) {
      log.info({ tcp: await listenTcp(server.listener(), config.tcp) }, 'listening');
    }
    log.info({ provider: config.provider, spool: config.spool, recovered: this.spool.recovered }, 'ready');
    this.notify(notifyReady());
    this.statusTimer = setInterval(() => void this.status().then((text) => this.notify(notifyStatus(text))), STATUS_INTERVAL_MS).unref();
  }

  private async status(): Promise<string> {
    const pending = await this.pending();
    const counts = this.report.snapshot(pending ?? 0);
    return `pending ${pending ?? '?'}, delivered ${counts.successes}, failed ${counts.failures}`;
  }

  /** The spool's count of tokens not final; undefined while the spool cannot say. */
  private pending(): Promise<number | undefined> {
    return this.spool.counts().then(
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
    log.info({ inflight: this.engine.requestsInFlight, drainTimeoutMs: config.drainTimeoutMs }, 'stopping');
    clearInterval(this.statusTimer);
    this.notify(notifyStopping());
    await claimingStopped;
    await Promise.all([this.server.closeConnections(deadline), this.engine.drain(deadline)]);
    const pending = await this.pending();
    await this.spool.close();
    log.info({ pending }, 'stopped; pending tokens stay in the spool');
  }
}
