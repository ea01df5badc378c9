// Over TLS the provider speaks HTTP/2 and multiplexes. It runs in a child
// process because node reads NODE_EXTRA_CA_CERTS only at start: the production
// trust path (system CAs plus that variable) is what gets tested.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Outcome } from '../../../src/providers/provider.js';
import { startFakeFcm, type FakeFcm } from '../../support/fake-fcm.js';
import { generateServiceAccountKey, writeServiceAccount } from '../../support/service-account.js';
import { fcmOptions } from './setup.js';

const SENDS = 300;
const CONNECTIONS = 2;

/** Sends SENDS tokens with the real provider and prints the outcomes as one JSON array. */
const CHILD = `
  import { createFcmProvider } from ${JSON.stringify(new URL('../../../src/providers/fcm/index.js', import.meta.url).href)};
  import { createLogger } from ${JSON.stringify(new URL('../../../src/log.js', import.meta.url).href)};
  const provider = createFcmProvider(JSON.parse(process.env.GOCM_TEST_OPTIONS), createLogger('silent'));
  const sends = Array.from({ length: ${SENDS} }, (_, i) => provider.send({ id: 'm', content: { payload: { a: 'b' } } }, ['ok-h2-' + i]));
  const outcomes = (await Promise.all(sends)).flat();
  await provider.close();
  process.stdout.write(JSON.stringify(outcomes));
`;

function runChild(env: Record<string, string>): Promise<Outcome[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`child exited ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout) as Outcome[]);
    });
  });
}

describe('FCM provider over TLS', () => {
  let fake: FakeFcm;
  let dir: string;
  let config: string;
  before(async () => {
    const key = generateServiceAccountKey();
    fake = await startFakeFcm({ publicKey: key.publicKey, tls: true, latencyMs: 200 });
    dir = mkdtempSync(join(tmpdir(), 'gocm-h2-'));
    const account = writeServiceAccount(dir, { tokenUri: fake.tokenUri, key });
    config = JSON.stringify(fcmOptions({ credentials: account.path, endpoint: fake.url, connections: CONNECTIONS, concurrency: SENDS }));
  });
  after(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('without the CA the certificate is refused: every token is a retry', async () => {
    const outcomes = await runChild({ GOCM_TEST_OPTIONS: config, NODE_EXTRA_CA_CERTS: '' });
    assert.equal(outcomes.length, SENDS);
    for (const outcome of outcomes) assert.deepEqual(outcome.kind === 'retry' ? outcome.reason : outcome.kind, { source: 'token', code: 'network' });
    assert.equal(fake.grants, 0);
  });

  test(`HTTP/2 with the CA: ${SENDS} sends in flight on at most ${CONNECTIONS} connections (+1 for tokens)`, async () => {
    const connectionsBefore = fake.connections;
    const outcomes = await runChild({ GOCM_TEST_OPTIONS: config, NODE_EXTRA_CA_CERTS: fake.caFile ?? '' });
    assert.deepEqual(new Set(outcomes.map((o) => o.kind)), new Set(['delivered']));
    assert.equal(outcomes.length, SENDS);
    assert.equal(fake.grants, 1);
    assert.equal(fake.requestsByHttpVersion.get('2.0'), SENDS + 1, 'every send and the token request');
    assert.equal(fake.requestsByHttpVersion.get('1.1'), undefined);
    assert.ok(fake.connections - connectionsBefore <= CONNECTIONS + 1, `${fake.connections - connectionsBefore} connections`);
    // 50 answers pending at once on so few connections: streams were multiplexed
    // (without idempotent requests undici sends one at a time per connection).
    assert.ok(fake.peakInFlight >= 50, `at most ${fake.peakInFlight} requests in flight at once`);
    assert.ok(fake.peakInFlight <= CONNECTIONS * 100, 'no more streams than the server allows');
  });
});
