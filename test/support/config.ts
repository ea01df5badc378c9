// A complete, frozen Config for tests: every field has a harmless default, tests override what they need.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/config.js';

/**
 * Both endpoints default to a closed port on 127.0.0.1: a test that forgets to
 * point a provider at its fake gets "connection refused", never Google.
 */
const DEFAULTS: Config = {
  socket: join(tmpdir(), 'gocm-test.sock'),
  socketMode: 0o660,
  tcp: undefined,
  tcpAllowRemote: false,
  http: undefined,
  httpTimeoutMs: 10_000,
  metrics: undefined,
  maxLineBytes: 1_048_576,
  maxConnections: 1024,
  idleTimeoutMs: 0,
  spool: ':memory:',
  sync: 'normal',
  spoolMax: 10_000_000,
  fcmEndpoint: 'http://127.0.0.1:1',
  gcmEndpoint: 'http://127.0.0.1:1/fcm/send',
  retries: 2,
  maxBackoffMs: 60_000,
  requestTimeoutMs: 10_000,
  concurrency: 2000,
  connections: 20,
  dryRun: false,
  drainTimeoutMs: 10_000,
  logLevel: 'silent',
  appsFile: undefined,
  apps: { defaultApp: 'default', apps: [] },
  rate: undefined,
  statusRetentionMs: 86_400_000,
  leaseMs: 30_000,
  name: 'test',
  workers: 0,
};

export function testConfig(overrides: Partial<Config> = {}): Config {
  return Object.freeze({ ...DEFAULTS, ...overrides });
}
