// A daemon wired to the fake FCM v1 server (HTTPS + HTTP/2 by default), with
// a generated service account: the set-up of FCM delivery tests and the demo.
import { rmSync } from 'node:fs';
import { type DaemonProcess, startDaemon, tempDir } from './daemon.js';
import { type FakeFcm, startFakeFcm } from './fake-fcm.js';
import { generateServiceAccountKey, type ServiceAccountFile, writeServiceAccount } from './service-account.js';

export interface FcmSetup {
  readonly daemon: DaemonProcess;
  readonly upstream: FakeFcm;
  readonly account: ServiceAccountFile;
  close(): Promise<void>;
}

export interface FcmSetupOptions {
  readonly args?: readonly string[];
  readonly tls?: boolean;
  readonly latencyMs?: number;
  readonly expiresInS?: number;
}

export async function startFcmDaemon(options: FcmSetupOptions = {}): Promise<FcmSetup> {
  const dir = tempDir();
  const key = generateServiceAccountKey();
  const upstream = await startFakeFcm({
    publicKey: key.publicKey,
    tls: options.tls ?? true,
    ...(options.latencyMs !== undefined && { latencyMs: options.latencyMs }),
    ...(options.expiresInS !== undefined && { expiresInS: options.expiresInS }),
  });
  const account = writeServiceAccount(dir, { tokenUri: upstream.tokenUri, key });
  const cleanUp = async (): Promise<void> => {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const daemon = await startDaemon({
      dir,
      args: ['--credentials', account.path, '--fcm-endpoint', upstream.url, '--max-backoff', '10ms', ...(options.args ?? [])],
      env: upstream.caFile ? { NODE_EXTRA_CA_CERTS: upstream.caFile } : {},
    });
    return {
      daemon,
      upstream,
      account,
      async close() {
        await daemon.close();
        await cleanUp();
      },
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
