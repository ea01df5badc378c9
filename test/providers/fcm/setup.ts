// Shared set-up for the provider tests: a fake FCM, a service account it
// trusts, provider options pointing at both, and a logger whose lines are kept.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../../src/log.js';
import { createFcmProvider, type FcmOptions } from '../../../src/providers/fcm/index.js';
import type { Provider } from '../../../src/providers/provider.js';
import { startFakeFcm, type FakeFcm, type FakeFcmOptions } from '../../support/fake-fcm.js';
import { generateServiceAccountKey, writeServiceAccount, type ServiceAccountFile, type ServiceAccountOptions } from '../../support/service-account.js';

/** Options for a provider at `endpoint` with `credentials`; the rest harmless for tests. */
export function fcmOptions(fields: Partial<FcmOptions> & Pick<FcmOptions, 'credentials' | 'endpoint'>): FcmOptions {
  return Object.freeze({ requestTimeoutMs: 5000, connections: 4, concurrency: 64, dryRun: false, ...fields });
}

export interface Harness {
  readonly fake: FakeFcm;
  readonly account: ServiceAccountFile;
  readonly provider: Provider;
  readonly dir: string;
  /** Every log line written so far. */
  readonly logText: () => string;
  /** Another provider on the same fake and log, e.g. with other settings. */
  newProvider(options?: Partial<FcmOptions>, account?: Partial<ServiceAccountOptions>): Provider;
  close(): Promise<void>;
}

export async function startHarness(fake: Partial<FakeFcmOptions> = {}, options: Partial<FcmOptions> = {}): Promise<Harness> {
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
  const newProvider = (more: Partial<FcmOptions> = {}, other?: Partial<ServiceAccountOptions>): Provider => {
    const credentials = other ? writeServiceAccount(dir, { tokenUri: server.tokenUri, name: `other-${(accounts += 1)}.json`, ...other }).path : account.path;
    const provider = createFcmProvider(fcmOptions({ credentials, endpoint: server.url, ...options, ...more }), log);
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
