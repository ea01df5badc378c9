// Shared set-up for the provider tests: a fake FCM, a service account it
// trusts, a Config pointing at both, and a logger whose lines are kept.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Config } from '../../../src/config.js';
import { createLogger } from '../../../src/log.js';
import { createFcmProvider } from '../../../src/providers/fcm/index.js';
import type { Provider } from '../../../src/providers/provider.js';
import { startFakeFcm, type FakeFcm, type FakeFcmOptions } from '../../support/fake-fcm.js';
import { generateServiceAccountKey, writeServiceAccount, type ServiceAccountFile, type ServiceAccountOptions } from '../../support/service-account.js';

export function testConfig(fields: Partial<Config> & Pick<Config, 'credentials' | 'fcmEndpoint'>): Config {
  return Object.freeze({
    socket: '/nonexistent/gocm.sock',
    socketMode: 0o660,
    tcp: undefined,
    tcpAllowRemote: false,
    metrics: undefined,
    maxLineBytes: 1_048_576,
    maxConnections: 16,
    idleTimeoutMs: 0,
    spool: ':memory:',
    sync: 'normal',
    spoolMax: 1000,
    provider: 'fcm',
    projectId: undefined,
    apiKey: undefined,
    gcmEndpoint: 'http://127.0.0.1:9/fcm/send',
    retries: 2,
    maxBackoffMs: 60_000,
    requestTimeoutMs: 5000,
    concurrency: 64,
    connections: 4,
    dryRun: false,
    drainTimeoutMs: 1000,
    logLevel: 'trace',
    appsFile: undefined,
    apps: { defaultApp: 'default', apps: [] },
    rate: undefined,
    statusRetentionMs: 86_400_000,
    ...fields,
  });
}

export interface Harness {
  readonly fake: FakeFcm;
  readonly account: ServiceAccountFile;
  readonly provider: Provider;
  readonly dir: string;
  /** Every log line written so far. */
  readonly logText: () => string;
  /** Another provider on the same fake and log, e.g. with other settings. */
  newProvider(config?: Partial<Config>, account?: Partial<ServiceAccountOptions>): Provider;
  close(): Promise<void>;
}

export async function startHarness(fake: Partial<FakeFcmOptions> = {}, config: Partial<Config> = {}): Promise<Harness> {
  const key = generateServiceAccountKey();
  const server = await startFakeFcm({ publicKey: key.publicKey, ...fake });
  const dir = mkdtempSync(join(tmpdir(), 'gocm-fcm-'));
  const account = writeServiceAccount(dir, { tokenUri: server.tokenUri, key });
  let lines = '';
  const log = createLogger('trace', new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines += chunk.toString('utf8');
      done();
    },
  }));
  const providers: Provider[] = [];
  let accounts = 0;
  const newProvider = (more: Partial<Config> = {}, other?: Partial<ServiceAccountOptions>): Provider => {
    const credentials = other ? writeServiceAccount(dir, { tokenUri: server.tokenUri, name: `other-${(accounts += 1)}.json`, ...other }).path : account.path;
    const provider = createFcmProvider(testConfig({ credentials, fcmEndpoint: server.url, ...config, ...more }), log);
    providers.push(provider);
    return provider;
  };
  const provider = newProvider();
  return {
    fake: server,
    account,
    provider,
    dir,
    logText: () => lines,
    newProvider,
    async close() {
      await Promise.all(providers.map((p) => p.destroy()));
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const message = (id: string, payload: Record<string, unknown> = { title: 'Hi' }) => ({ id, content: { payload } });
