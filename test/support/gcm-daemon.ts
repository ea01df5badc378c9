// A daemon wired to a fake legacy endpoint (plain HTTP/1.1, or TLS + HTTP/2
// with `tls`): the usual set-up of protocol and delivery tests.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DaemonProcess, startDaemon, tempDir } from './daemon.js';
import { type FakeGcm, type FakeGcmOptions, startFakeGcm } from './fake-gcm.js';

export const API_KEY = 'test-server-key-0123456789';

export interface GcmSetup {
  readonly daemon: DaemonProcess;
  readonly upstream: FakeGcm;
  close(): Promise<void>;
}

/** A fake legacy endpoint and a daemon sending to it with fast retries (10 ms back-off cap). */
export async function startGcmDaemon(args: readonly string[] = [], upstreamOptions: FakeGcmOptions = {}, keepDir?: string): Promise<GcmSetup> {
  const dir = keepDir ?? tempDir();
  const removeDir = (): void => {
    if (keepDir === undefined) rmSync(dir, { recursive: true, force: true });
  };
  const upstream = await startFakeGcm({ apiKey: API_KEY, ...upstreamOptions });
  const keyFile = join(dir, 'apikey');
  writeFileSync(keyFile, API_KEY + '\n');
  try {
    const daemon = await startDaemon({
      dir,
      args: ['--provider', 'gcm', '--apikey-file', keyFile, '--gcm-endpoint', upstream.url, '--max-backoff', '10ms', ...args],
      env: upstream.caFile ? { NODE_EXTRA_CA_CERTS: upstream.caFile } : {},
    });
    return {
      daemon,
      upstream,
      async close() {
        await daemon.close();
        await upstream.close();
        removeDir();
      },
    };
  } catch (error) {
    await upstream.close();
    removeDir();
    throw error;
  }
}
