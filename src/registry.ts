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

function createProvider(app: AppConfig, config: Config, log: Logger): Provider {
  const child = log.child({ app: app.name });
  // What every provider takes from the flags: its app's entry may not set these.
  const limits = { requestTimeoutMs: config.requestTimeoutMs, connections: config.connections, concurrency: app.concurrency, dryRun: app.dryRun };
  switch (app.provider) {
    case 'fcm':
      return createFcmProvider({ ...limits, endpoint: (app.endpoint ?? config.fcmEndpoint).replace(/\/+$/, ''), credentials: app.credentials, projectId: app.projectId }, child);
    case 'gcm':
      return createGcmProvider({ ...limits, endpoint: app.endpoint ?? config.gcmEndpoint, apiKey: app.apiKey }, child);
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
function createAppProvider(app: AppConfig, config: Config, log: Logger): Provider {
  try {
    return createProvider(app, config, log);
  } catch (error) {
    if (!(error instanceof ConfigError) || config.appsFile === undefined) throw error;
    throw new ConfigError(`--apps ${config.appsFile}: app "${app.name}": ${error.message}`);
  }
}

/**
 * Build every app's provider. Throws ConfigError (naming the app) when one
 * cannot be made; then the providers already made are destroyed.
 */
export async function buildApps(apps: AppsConfig, config: Config, log: Logger): Promise<Apps> {
  const runtimes: AppRuntime[] = [];
  try {
    for (const app of apps.apps) {
      runtimes.push({ name: app.name, provider: createAppProvider(app, config, log), concurrency: app.concurrency, rate: app.rate });
    }
  } catch (error) {
    await Promise.all(runtimes.map((runtime) => runtime.provider.destroy()));
    throw error;
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
