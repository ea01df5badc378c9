// A daemon with three apps, each at its own fake push service: `android` (FCM
// v1), `ios` (APNs) and `web` (Web Push), from one --apps file; the fakes'
// certificates trusted together through NODE_EXTRA_CA_CERTS. For the
// several-apps tests and the README's walk-through.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import webpush from 'web-push';
import { type ApnsKey, generateApnsKey, writeApnsKey } from './apns-key.js';
import { type DaemonProcess, startDaemon, tempDir } from './daemon.js';
import { type FakeApns, startFakeApns } from './fake-apns.js';
import { type FakeFcm, startFakeFcm } from './fake-fcm.js';
import { type FakeWebPush, startFakeWebPush } from './fake-webpush.js';
import { generateServiceAccountKey, writeServiceAccount } from './service-account.js';

export const IOS_TOPIC = 'com.example.app';
/** The three fakes' certificates in one file: NODE_EXTRA_CA_CERTS takes one. */
const CA_FILE = 'ca.pem';
type Json = Record<string, unknown>;

export interface ThreeApps {
  readonly dir: string;
  readonly fcm: FakeFcm;
  readonly apns: FakeApns;
  readonly web: FakeWebPush;
  readonly apnsKey: ApnsKey;
  readonly vapid: { readonly publicKey: string; readonly privateKey: string };
  /** The apps file's path, and its content as written at start. */
  readonly appsFile: string;
  readonly apps: Json;
  /** Write `apps` as the apps file (for a reload). */
  writeApps(apps: Json): void;
  /** A new .p8 for the iOS app, written beside the first; the fake is not told. */
  rotatedKey(): { key: ApnsKey; file: string };
  close(): Promise<void>;
}

export interface ThreeAppsOptions {
  /** Flags beside --apps. */
  readonly args?: readonly string[];
  /** Change the apps file before the daemon starts. */
  readonly edit?: (apps: Json, dir: string) => void;
}

/** The fakes and the apps file, no daemon: for a daemon that must fail at start. */
export async function startFakes(options: ThreeAppsOptions = {}): Promise<ThreeApps> {
  const dir = tempDir('gocm-apps-');
  const fcmKey = generateServiceAccountKey();
  const apnsKey = generateApnsKey();
  const vapid = webpush.generateVAPIDKeys();
  const [fcm, apns, web] = await Promise.all([
    startFakeFcm({ publicKey: fcmKey.publicKey, tls: true }),
    startFakeApns({ keys: [apnsKey], topics: [IOS_TOPIC] }),
    startFakeWebPush({ vapidPublicKey: vapid.publicKey }),
  ]);
  const account = writeServiceAccount(dir, { tokenUri: fcm.tokenUri, key: fcmKey });
  writeFileSync(join(dir, 'vapid.key'), `${vapid.privateKey}\n`, { mode: 0o600 });
  writeFileSync(join(dir, CA_FILE), [fcm.caFile as string, apns.caFile, web.caFile].map((file) => readFileSync(file, 'utf8')).join('\n'));
  const apps: Json = {
    default: 'android',
    apps: {
      android: { provider: 'fcm', credentials: account.path, endpoint: fcm.url },
      ios: { provider: 'apns', key: writeApnsKey(dir, apnsKey), key_id: apnsKey.keyId, team_id: apnsKey.teamId, topic: IOS_TOPIC, environment: 'sandbox', endpoint: apns.url },
      web: { provider: 'webpush', vapid_public_key: vapid.publicKey, vapid_private_key_file: join(dir, 'vapid.key'), subject: 'mailto:ops@example.com' },
    },
  };
  options.edit?.(apps, dir);
  const appsFile = join(dir, 'apps.json');
  const writeApps = (content: Json) => writeFileSync(appsFile, JSON.stringify(content, null, 2));
  writeApps(apps);
  return {
    dir, fcm, apns, web, apnsKey, vapid, appsFile, apps, writeApps,
    rotatedKey() {
      const key = generateApnsKey({ teamId: apnsKey.teamId });
      return { key, file: writeApnsKey(dir, key) };
    },
    async close() {
      await Promise.all([fcm.close(), apns.close(), web.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The flags and environment that point a daemon at the fakes. */
export function daemonLaunch(setup: ThreeApps, args: readonly string[] = []): { args: string[]; env: NodeJS.ProcessEnv } {
  return {
    args: ['--apps', setup.appsFile, '--max-backoff', '10ms', ...args],
    env: { NODE_EXTRA_CA_CERTS: join(setup.dir, CA_FILE) },
  };
}

export async function startThreeApps(options: ThreeAppsOptions = {}): Promise<ThreeApps & { readonly daemon: DaemonProcess }> {
  const setup = await startFakes(options);
  try {
    const daemon = await startDaemon({ ...daemonLaunch(setup, options.args), dir: setup.dir });
    return {
      ...setup,
      daemon,
      async close() {
        await daemon.close();
        await setup.close();
      },
    };
  } catch (error) {
    await setup.close();
    throw error;
  }
}
