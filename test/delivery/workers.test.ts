// The delivery threads' pool, with threads of the test's own that can be told
// to die: what a dead thread had in flight comes back as retries, the thread
// starts again with the apps it knew, and stopping ends every thread.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppConfig } from '../../src/apps.js';
import { DeliveryWorkers } from '../../src/delivery/workers/pool.js';
import { memoryLog } from '../support/log.js';

const APP: AppConfig = { name: 'default', provider: 'gcm', endpoint: 'http://127.0.0.1:9/send', apiKey: 'k', concurrency: 10, rate: undefined, dryRun: false };
const LIMITS = { requestTimeoutMs: 1000, connections: 1, fcmEndpoint: 'http://127.0.0.1:9', gcmEndpoint: 'http://127.0.0.1:9/send' };
const message = { id: 'm1', content: { payload: {} } };

test('a delivery thread that dies: its requests come back as retries, and it starts again with the apps it knew', async (t) => {
  const log = memoryLog();
  const pool = new DeliveryWorkers({ size: 1, logLevel: 'silent', script: new URL('../support/dying-worker.js', import.meta.url) }, log.log);
  t.after(() => pool.stop());
  const provider = pool.load([APP], LIMITS)(APP, 1000);
  assert.deepEqual(await provider.send(message, ['a', 'b']), [{ kind: 'delivered' }, { kind: 'delivered' }]);
  const held = provider.send(message, ['hold']);
  const dying = provider.send(message, ['die']);
  const lost = { kind: 'retry', reason: { source: 'gocm', code: 'worker_exit' } };
  assert.deepEqual(await held, [lost], 'what it had in flight');
  assert.deepEqual(await dying, [lost]);
  assert.equal(log.find(/a delivery thread exited/).length, 1);
  // The thread comes back after a back-off, knowing the apps: a send made meanwhile may find none yet.
  for (;;) {
    const [outcome] = await provider.send(message, ['after']);
    if (outcome?.kind === 'delivered') break;
    assert.equal(outcome?.kind === 'retry' && outcome.reason.code, 'no_worker');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await provider.close();
});

test('stop() ends every thread; a send after it is a retry, never a hang', async () => {
  const pool = new DeliveryWorkers({ size: 2, logLevel: 'silent', script: new URL('../support/dying-worker.js', import.meta.url) }, memoryLog().log);
  const provider = pool.load([APP], LIMITS)(APP, 1);
  assert.deepEqual(await provider.send(message, ['x']), [{ kind: 'delivered' }]);
  await pool.stop();
  assert.deepEqual(await provider.send(message, ['y']), [{ kind: 'retry', reason: { source: 'gocm', code: 'no_worker' } }]);
});
