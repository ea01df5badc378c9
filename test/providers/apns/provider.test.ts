// The APNs provider against the fake APNs (TLS + HTTP/2, checks the ES256
// provider token as Apple does): every answer's outcome, what the fake
// received, and bad keys. Provider-token renewal: renewal.test.ts.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../../src/errors.js';
import { createApnsProvider } from '../../../src/providers/apns/index.js';
import type { Outcome, Provider } from '../../../src/providers/provider.js';
import { generateApnsKey, writeApnsKey } from '../../support/apns-key.js';
import { type ApnsAnswer, apnsAnswers, randomDeviceToken } from '../../support/fake-apns.js';
import { memoryLog } from '../../support/log.js';
import { type Harness, message, sendOne, start, TOPIC } from './setup.js';

describe('APNs provider', () => {
  let h: Harness;
  let provider: Provider;
  before(async () => {
    h = await start();
    provider = h.provider();
  });
  after(() => h.close());

  test('says what it is', () => {
    assert.equal(provider.name, 'apns');
    assert.equal(provider.maxTokensPerRequest, 1);
  });

  const apns = (code: string) => ({ source: 'apns', code }) as const;
  const rows: Array<[string, ApnsAnswer, Outcome]> = [
    ['success', apnsAnswers.success, { kind: 'delivered' }],
    ['410 Unregistered', apnsAnswers.unregistered, { kind: 'failed', reason: apns('Unregistered'), notRegistered: true }],
    ['410 ExpiredToken', apnsAnswers.expiredToken, { kind: 'failed', reason: apns('ExpiredToken'), notRegistered: true }],
    ['BadDeviceToken', apnsAnswers.badDeviceToken, { kind: 'failed', reason: apns('BadDeviceToken'), configProblem: true }],
    ['DeviceTokenNotForTopic', apnsAnswers.deviceTokenNotForTopic, { kind: 'failed', reason: apns('DeviceTokenNotForTopic'), configProblem: true }],
    ['TopicDisallowed', apnsAnswers.topicDisallowed, { kind: 'failed', reason: apns('TopicDisallowed'), configProblem: true }],
    ['429', apnsAnswers.tooManyRequests, { kind: 'retry', reason: apns('TooManyRequests'), quota: true }],
    ['429 with Retry-After', { status: 429, reason: 'TooManyRequests', headers: { 'retry-after': '7' } }, { kind: 'retry', reason: apns('TooManyRequests'), retryAfterMs: 7000, quota: true }],
    ['500', apnsAnswers.internalServerError, { kind: 'retry', reason: apns('InternalServerError') }],
    ['503', apnsAnswers.serviceUnavailable, { kind: 'retry', reason: apns('ServiceUnavailable') }],
  ];
  test('each answer of the fake becomes its outcome, over HTTP/2', async () => {
    const tokens = rows.map(([, answer]) => {
      const token = randomDeviceToken();
      h.fake.script(token, [answer]);
      return token;
    });
    const outcomes = await Promise.all(tokens.map((token) => sendOne(provider, token, 'rows')));
    assert.deepEqual(outcomes, rows.map(([, , outcome]) => outcome));
    assert.deepEqual([...h.fake.requestsByHttpVersion.keys()], ['2.0']);
  });

  test('a token that is not 64 hex digits is sent as given, and APNs calls it BadDeviceToken', async () => {
    assert.deepEqual(await sendOne(provider, 'not-a-token'), { kind: 'failed', reason: apns('BadDeviceToken'), configProblem: true });
  });

  test('what APNs receives: the path, the headers and the payload of the mapping', async () => {
    const token = randomDeviceToken();
    const acceptedAt = Date.parse('2030-01-01T00:00:00Z');
    const content = {
      payload: { n: 3, deep: { a: [1] }, s: 'x' },
      notification: { title: 'Hi', body: 'there' },
      apns: { headers: { 'apns-collapse-id': 'theirs' }, payload: { aps: { sound: 'default' }, extra: true } },
      priority: 'high',
      ttl: 90,
      collapse_key: 'ours',
    } as const;
    assert.deepEqual(await provider.send(message('mapping', content, acceptedAt), [token]), [{ kind: 'delivered' }]);
    const record = await h.fake.waitForRequest((entry) => entry.token === token);
    assert.equal(record.path, `/3/device/${token}`);
    assert.deepEqual(record.payload, { n: 3, deep: { a: [1] }, s: 'x', extra: true, aps: { alert: { title: 'Hi', body: 'there' }, sound: 'default' } });
    assert.equal(record.headers['apns-topic'], TOPIC);
    assert.equal(record.headers['apns-push-type'], 'alert');
    assert.equal(record.headers['apns-priority'], '10');
    assert.equal(record.headers['apns-expiration'], String(acceptedAt / 1000 + 90));
    assert.equal(record.headers['apns-collapse-id'], 'theirs');
    assert.deepEqual(record.providerToken && { kid: record.providerToken.kid, iss: record.providerToken.iss }, { kid: h.key.keyId, iss: h.key.teamId });
  });

  test('a payload-only message is a background push at priority 5 with content-available', async () => {
    const token = randomDeviceToken();
    await provider.send(message('background', { payload: { sync: true }, priority: 'high' }), [token]);
    const record = await h.fake.waitForRequest((entry) => entry.token === token);
    assert.equal(record.headers['apns-push-type'], 'background');
    assert.equal(record.headers['apns-priority'], '5');
    assert.deepEqual(record.payload, { sync: true, aps: { 'content-available': 1 } });
  });

  test('a key APNs does not know: InvalidProviderToken, final, a configuration problem', async () => {
    const other = generateApnsKey({ keyId: h.key.keyId, teamId: h.key.teamId });
    const dir = mkdtempSync(join(tmpdir(), 'gocm-apns-other-'));
    try {
      const stranger = h.provider({ keyFile: writeApnsKey(dir, other) });
      assert.deepEqual(await sendOne(stranger, randomDeviceToken()), { kind: 'failed', reason: apns('InvalidProviderToken'), configProblem: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a dry run sends nothing', async () => {
    const token = randomDeviceToken();
    assert.deepEqual(await h.provider({ dryRun: true }).send(message('dry'), [token]), [{ kind: 'delivered' }]);
    assert.deepEqual(await provider.send(message('dry-msg', { payload: {}, dry_run: true }), [token]), [{ kind: 'delivered' }]);
    assert.equal(h.fake.tries.has(token), false);
  });

  test('an APNs that never answers: a timeout, retried', async () => {
    const token = randomDeviceToken();
    h.fake.script(token, [apnsAnswers.hang]);
    assert.deepEqual(await sendOne(h.provider({ requestTimeoutMs: 200 }), token), { kind: 'retry', reason: { source: 'network', code: 'ERR_REQUEST_TIMEOUT' } });
  });
});

describe('unusable keys are ConfigErrors that name the field and the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gocm-apns-keys-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const attempt = (keyFile: string) => () =>
    createApnsProvider({ keyFile, keyId: 'K', teamId: 'T', topic: TOPIC, endpoint: 'https://127.0.0.1:1', requestTimeoutMs: 1000, connections: 1, concurrency: 1, dryRun: false }, memoryLog().log);
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const refused = (pattern: RegExp) => (error: unknown) => error instanceof ConfigError && pattern.test(error.message);

  test('missing', () => assert.throws(attempt(join(dir, 'none.p8')), refused(/^"key" .*none\.p8: cannot read it \(ENOENT\)$/)));
  test('not a key', () => assert.throws(attempt(write('text.p8', 'hello')), refused(/"key" .*text\.p8: is not a PEM private key/)));
  test('an RSA key', () => {
    const pem = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.throws(attempt(write('rsa.p8', pem)), refused(/is not an EC P-256 key/));
  });
  test('a P-384 key', () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.throws(attempt(write('p384.p8', pem)), refused(/is not an EC P-256 key/));
  });
  test('the message never carries the key', () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const path = write('secret.p8', pem);
    assert.throws(attempt(path), (error: unknown) => error instanceof Error && !error.message.includes(pem.split('\n')[1] ?? 'x'));
  });
});
