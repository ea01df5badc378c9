// --metrics HOST:PORT: where it may listen, as --tcp (SPEC.md "Observing it").
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

const GCM = ['--provider', 'gcm', '--apikey', 'k', '--spool', ':memory:'];

describe('--metrics', () => {
  test('off unless given', async () => {
    assert.equal((await loadConfig(GCM, {}))?.metrics, undefined);
  });

  test('loopback addresses', async () => {
    assert.deepEqual((await loadConfig([...GCM, '--metrics', '127.0.0.1:9464'], {}))?.metrics, { host: '127.0.0.1', port: 9464 });
    assert.deepEqual((await loadConfig([...GCM, '--metrics', '[::1]:9464'], {}))?.metrics, { host: '::1', port: 9464 });
  });

  test('another address only with --tcp-allow-remote', async () => {
    await assert.rejects(loadConfig([...GCM, '--metrics', '192.0.2.1:9464'], {}), (error: unknown) => error instanceof ConfigError && /^--metrics: 192\.0\.2\.1 is not a loopback/.test(error.message));
    assert.deepEqual((await loadConfig([...GCM, '--metrics', '0.0.0.0:9464', '--tcp-allow-remote'], {}))?.metrics, { host: '0.0.0.0', port: 9464 });
  });
});
