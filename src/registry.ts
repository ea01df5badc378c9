// The apps a daemon runs: for each configured app, its provider (built from
// its entry) and its limits; and the directory the protocol asks about them.
// Rebuilt whole on SIGHUP: new credentials are read, old providers retire.
import type { AppConfig, AppsConfig } from './apps.js';
import type { Config } from './config.js';
import type { AppRuntime } from './delivery/engine.js';
import type { Logger } from './log.js';
import { ConfigError } from './errors.js';
import type { MessageContent } from './message.js';
import type { AppDirectory } from './protocol/commands.js';
import { APNS_ENDPOINTS, createApnsProvider } from './providers/apns/index.js';
import { apnsPayloadLimit } from './providers/apns/request.js';
import { createFcmProvider } from './providers/fcm/index.js';
import { createGcmProvider } from './providers/gcm.js';
import { fcmDataLimit, type SizeCheck } from './providers/limits.js';
import type { Provider } from './providers/provider.js';
import type { SharedLimits } from './delivery/workers/protocol.js';
import type { DeliveryWorkers } from './delivery/workers/pool.js';
import { createWebPushProvider } from './providers/webpush/index.js';
import { webPushSizeLimit } from './providers/webpush/message.js';

export interface Apps {
  readonly runtimes: readonly AppRuntime[];
  readonly directory: AppDirectory;
}

const SIZE_CHECKS: Record<AppConfig['provider'], SizeCheck> = {
  fcm: fcmDataLimit,
  gcm: fcmDataLimit,
  apns: apnsPayloadLimit,
  webpush: webPushSizeLimit,
};


/** The provider of one app, as the main thread or a delivery thread builds it. Throws ConfigError. */
export function createProvider(app: AppConfig, shared: SharedLimits, log: Logger): Provider {
  const child = log.child({ app: app.name });
  // What every provider takes from the flags: its app's entry may not set these.
  const limits = { requestTimeoutMs: shared.requestTimeoutMs, connections: shared.connections, concurrency: app.concurrency, dryRun: app.dryRun };
  switch (app.provider) {
    case 'fcm':
      return createFcmProvider({ ...limits, endpoint: app.endpoint ?? shared.fcmEndpoint, credentials: app.credentials, projectId: app.projectId }, child);
    case 'gcm':
      return createGcmProvider({ ...limits, endpoint: app.endpoint ?? shared.gcmEndpoint, apiKey: app.apiKey }, child);
    case 'apns':
      return createApnsProvider(
        { ...limits, endpoint: app.endpoint ?? APNS_ENDPOINTS[app.environment], keyFile: app.keyFile, keyId: app.keyId, teamId: app.teamId, topic: app.topic },
        child,
      );
    case 'webpush':
      return createWebPushProvider({ ...limits, vapidPublicKey: app.vapidPublicKey, vapidPrivateKeyFile: app.vapidPrivateKeyFile, subject: app.subject }, child);
  }
}

/**
 * createProvider, with the apps file and the app named in a ConfigError, as the
 * file's own checks name them. Without --apps the one app is the flags' and
 * the message names the flag already.
 */
function createAppProvider(app: AppConfig, config: Config, limits: SharedLimits, log: Logger): Provider {
  try {
    return createProvider(app, limits, log);
  } catch (error) {
    if (!(error instanceof ConfigError) || config.appsFile === undefined) throw error;
    throw new ConfigError(`--apps ${config.appsFile}: app "${app.name}": ${error.message}`);
  }
}

function sharedLimits(config: Config, workers: number): SharedLimits {
  // Each delivery thread opens its own connections: share them out.
  return {
    requestTimeoutMs: config.requestTimeoutMs,
    connections: Math.max(1, Math.ceil(config.connections / Math.max(1, workers))),
    fcmEndpoint: config.fcmEndpoint,
    gcmEndpoint: config.gcmEndpoint,
  };
}

/**
 * Build every app's provider: here, or (with `workers`) as a stand-in for the
 * ones the delivery threads build, after checking here that each can be
 * made. Throws ConfigError (naming the app) when one cannot be made; then the
 * providers already made are destroyed.
 */
export async function buildApps(apps: AppsConfig, config: Config, log: Logger, workers?: DeliveryWorkers): Promise<Apps> {
  const runtimes: AppRuntime[] = [];
  const limits = sharedLimits(config, workers?.size ?? 1);
  // Built here only to be checked, when the threads send: their warnings are the threads' to say.
  const builder = workers ? log.child({}, { level: 'error' }) : log;
  try {
    for (const app of apps.apps) {
      // SPEC lets every app set one; for webpush it has no meaning, since each subscription names its push service.
      if (app.provider === 'webpush' && app.endpoint !== undefined) {
        log.warn({ app: app.name, endpoint: app.endpoint }, '"endpoint" means nothing for a webpush app: each subscription names its push service; it is ignored');
      }
      runtimes.push({ name: app.name, provider: createAppProvider(app, config, limits, builder), concurrency: app.concurrency, rate: app.rate });
    }
  } catch (error) {
    await Promise.all(runtimes.map((runtime) => runtime.provider.destroy()));
    throw error;
  }
  if (workers) {
    // Every credential checked: the delivery threads build the real ones; the checked ones say how many tokens a request takes.
    await Promise.all(runtimes.map((runtime) => runtime.provider.destroy()));
    const remote = workers.load(apps.apps, limits);
    runtimes.splice(0, runtimes.length, ...runtimes.map((runtime, i) => ({ ...runtime, provider: remote(apps.apps[i] as AppConfig, runtime.provider.maxTokensPerRequest) })));
  }
  const checks = new Map(apps.apps.map((app) => [app.name, SIZE_CHECKS[app.provider]]));
  const names = apps.apps.map((app) => app.name);
  return {
    runtimes,
    directory: {
      defaultApp: apps.defaultApp,
      names,
      sizeProblem: (app: string, content: MessageContent) => checks.get(app)?.(content),
    },
  };
}
