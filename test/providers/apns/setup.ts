// Shared set-up for the APNs provider tests: a fake APNs that knows one key,
// the key's .p8 file, and providers pointed at both.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApnsOptions, createApnsProvider } from '../../../src/providers/apns/index.js';
import type { MessageToSend, Outcome, Provider } from '../../../src/providers/provider.js';
import { type ApnsKey, generateApnsKey, writeApnsKey } from '../../support/apns-key.js';
import { type FakeApns, type FakeApnsOptions, startFakeApns } from '../../support/fake-apns.js';
import { memoryLog } from '../../support/log.js';

export const TOPIC = 'com.example.app';
export const MINUTE = 60_000;

export interface Harness {
  readonly fake: FakeApns;
  readonly key: ApnsKey;
  provider(options?: Partial<ApnsOptions>): Provider;
  close(): Promise<void>;
}

export async function start(fakeOptions: Partial<FakeApnsOptions> = {}): Promise<Harness> {
  const key = generateApnsKey();
  const fake = await startFakeApns({ keys: [key], topics: [TOPIC], ...fakeOptions });
  const dir = mkdtempSync(join(tmpdir(), 'gocm-apns-'));
  const keyFile = writeApnsKey(dir, key);
  const providers: Provider[] = [];
  const { log } = memoryLog();
  return {
    fake,
    key,
    provider(options = {}) {
      const provider = createApnsProvider(
        { keyFile, keyId: key.keyId, teamId: key.teamId, topic: TOPIC, endpoint: fake.url, ca: fake.ca, requestTimeoutMs: 5000, connections: 2, concurrency: 64, dryRun: false, ...options },
        log,
      );
      providers.push(provider);
      return provider;
    },
    async close() {
      await Promise.all(providers.map((provider) => provider.destroy()));
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const message = (id: string, content: MessageToSend['content'] = { payload: { n: 1 }, notification: { title: 'Hi' } }, acceptedAt = Date.now()): MessageToSend => ({ id, content, acceptedAt });

export async function sendOne(provider: Provider, token: string, id = 'm'): Promise<Outcome | undefined> {
  const [outcome] = await provider.send(message(id), [token]);
  return outcome;
}
