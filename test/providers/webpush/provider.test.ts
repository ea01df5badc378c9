// The Web Push provider against the fake push service, which checks VAPID and
// decrypts as the browser would: the plaintext arrives as sent, the headers
// carry TTL, Urgency and Topic, and each status becomes its outcome.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import webpush from 'web-push';
import { ConfigError } from '../../../src/errors.js';
import type { MessageToSend, Outcome, Provider } from '../../../src/providers/provider.js';
import { createWebPushProvider, type WebPushOptions } from '../../../src/providers/webpush/index.js';
import { type FakeWebPush, startFakeWebPush, tooManyRequestsRetryAfter, webPushAnswers } from '../../support/fake-webpush.js';
import { memoryLog } from '../../support/log.js';

const SUBJECT = 'mailto:ops@example.com';
const http = (code: number) => ({ source: 'http', code: String(code) }) as const;

describe('Web Push provider', () => {
  const vapid = webpush.generateVAPIDKeys();
  const dir = mkdtempSync(join(tmpdir(), 'gocm-webpush-'));
  const keyFile = join(dir, 'vapid.key');
  writeFileSync(keyFile, `${vapid.privateKey}\n`);
  let fake: FakeWebPush;
  let second: FakeWebPush;
  const providers: Provider[] = [];
  const make = (options: Partial<WebPushOptions> = {}, ca = fake.ca + second.ca): Provider => {
    const provider = createWebPushProvider(
      { vapidPublicKey: vapid.publicKey, vapidPrivateKeyFile: keyFile, subject: SUBJECT, requestTimeoutMs: 5000, connections: 2, concurrency: 64, dryRun: false, ca, ...options },
      memoryLog().log,
    );
    providers.push(provider);
    return provider;
  };
  let provider: Provider;
  const message = (id: string, content: MessageToSend['content'] = { payload: { n: 1 } }): MessageToSend => ({ id, content });
  const sendOne = async (token: string, content?: MessageToSend['content']): Promise<Outcome | undefined> => (await provider.send(message('m', content), [token]))[0];

  before(async () => {
    fake = await startFakeWebPush({ vapidPublicKey: vapid.publicKey });
    second = await startFakeWebPush({ vapidPublicKey: vapid.publicKey });
    provider = make();
  });
  after(async () => {
    await Promise.all(providers.map((p) => p.destroy()));
    await Promise.all([fake.close(), second.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('says what it is', () => {
    assert.equal(provider.name, 'webpush');
    assert.equal(provider.maxTokensPerRequest, 1);
  });

  test('the browser decrypts exactly what was sent, values in their JSON types, over HTTP/2', async () => {
    const subscription = fake.subscribe();
    const content = { payload: { n: 3, s: 'x', deep: { a: [1, null] }, yes: true }, notification: { title: 'Hi', body: 'there' } };
    assert.deepEqual(await sendOne(JSON.stringify(subscription), content), { kind: 'delivered' });
    const [received] = fake.received(subscription.endpoint);
    assert.deepEqual(received?.json, { notification: { title: 'Hi', body: 'there' }, data: { n: 3, s: 'x', deep: { a: [1, null] }, yes: true } });
    assert.equal(received?.plaintext, JSON.stringify({ notification: content.notification, data: content.payload }));
    assert.equal(received?.httpVersion, '2.0');
    assert.equal(received?.vapid?.sub, SUBJECT);
    assert.equal(received?.vapid?.aud, fake.url);
  });

  test('ttl → TTL (28 days by default), priority → Urgency, collapse_key → Topic', async () => {
    const plain = fake.subscribe();
    const mapped = fake.subscribe();
    await sendOne(JSON.stringify(plain));
    await provider.send(message('headers', { payload: {}, ttl: 120, priority: 'high', collapse_key: 'scores' }), [JSON.stringify(mapped)]);
    assert.deepEqual(fake.received(plain.endpoint)[0]?.push, { ttl: 2_419_200, urgency: undefined, topic: undefined });
    assert.deepEqual(fake.received(mapped.endpoint)[0]?.push, { ttl: 120, urgency: 'high', topic: 'scores' });
  });

  test('404 and 410 are notregistered; 429 (quota, no floor) and 5xx are retried; other 4xx final', async () => {
    const gone = fake.subscribe();
    fake.unsubscribe(gone.endpoint);
    const unknown = { ...fake.subscribe(), endpoint: `${fake.url}/push/never-made` };
    const busy = fake.subscribe({ answers: [webPushAnswers.tooManyRequests] });
    const busyAfter = fake.subscribe({ answers: [tooManyRequestsRetryAfter('9')] });
    const broken = fake.subscribe({ answers: [webPushAnswers.internalServerError] });
    const tooLarge = fake.subscribe({ answers: [webPushAnswers.payloadTooLarge] });
    const tokens = [gone, unknown, busy, busyAfter, broken, tooLarge].map((subscription) => JSON.stringify(subscription));
    assert.deepEqual(await provider.send(message('statuses'), tokens), [
      { kind: 'failed', reason: http(410), notRegistered: true },
      { kind: 'failed', reason: http(404), notRegistered: true },
      { kind: 'retry', reason: http(429), quota: true },
      { kind: 'retry', reason: http(429), retryAfterMs: 9000, quota: true },
      { kind: 'retry', reason: http(500) },
      { kind: 'failed', reason: http(413) },
    ]);
    // The retried ones get through on their next try.
    assert.deepEqual(await provider.send(message('statuses-again'), [tokens[2] as string, tokens[4] as string]), [{ kind: 'delivered' }, { kind: 'delivered' }]);
  });

  test('a token that is no subscription, or whose key is no point: a final bad_subscription, nothing sent', async () => {
    const requests = fake.requests.length;
    const offCurve = { ...fake.subscribe(), keys: { p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 7)]).toString('base64url'), auth: 'AAAAAAAAAAAAAAAAAAAAAA' } };
    const bad = { kind: 'failed', reason: { source: 'webpush', code: 'bad_subscription' } };
    assert.deepEqual(await provider.send(message('bad'), ['not json', '{"endpoint":"https://x.example"}', JSON.stringify(offCurve)]), [bad, bad, bad]);
    assert.equal(fake.requests.length, requests);
  });

  test("a subscription made with another app's key: 403, a configuration problem", async () => {
    const stranger = fake.subscribe({ applicationServerKey: webpush.generateVAPIDKeys().publicKey });
    assert.deepEqual(await sendOne(JSON.stringify(stranger)), { kind: 'failed', reason: http(403), configProblem: true });
  });

  test('one VAPID signature per push service for many pushes; each push service its own pool and audience', async () => {
    const here = Array.from({ length: 20 }, () => JSON.stringify(fake.subscribe()));
    const there = Array.from({ length: 20 }, () => JSON.stringify(second.subscribe()));
    const fresh = make();
    const outcomes = await fresh.send(message('two-services'), [...here, ...there]);
    assert.ok(outcomes.every((outcome) => outcome.kind === 'delivered'));
    const authorizations = (records: FakeWebPush['requests'], tokens: string[]) => {
      const endpoints = new Set(tokens.map((token) => (JSON.parse(token) as { endpoint: string }).endpoint));
      return new Set(records.filter((record) => endpoints.has(record.endpoint)).map((record) => record.headers.authorization));
    };
    assert.equal(authorizations(fake.requests, here).size, 1);
    assert.equal(authorizations(second.requests, there).size, 1);
    assert.equal(second.received((JSON.parse(there[0] as string) as { endpoint: string }).endpoint)[0]?.vapid?.aud, second.url);
  });

  test('a dry run sends nothing', async () => {
    const subscription = JSON.stringify(fake.subscribe());
    const requests = fake.requests.length;
    assert.deepEqual(await make({ dryRun: true }).send(message('dry'), [subscription]), [{ kind: 'delivered' }]);
    assert.deepEqual(await sendOne(subscription, { payload: {}, dry_run: true }), { kind: 'delivered' });
    assert.equal(fake.requests.length, requests);
  });

  test('a push service that never answers: a timeout, retried', async () => {
    const subscription = fake.subscribe({ answers: [webPushAnswers.hang] });
    assert.deepEqual(await make({ requestTimeoutMs: 200 }).send(message('hang'), [JSON.stringify(subscription)]), [{ kind: 'retry', reason: { source: 'network', code: 'ERR_REQUEST_TIMEOUT' } }]);
  });

  test('a subject web-push refuses is a ConfigError naming "subject"', () => {
    assert.throws(
      () => createWebPushProvider({ vapidPublicKey: vapid.publicKey, vapidPrivateKeyFile: keyFile, subject: 'ops@example.com', requestTimeoutMs: 1, connections: 1, concurrency: 1, dryRun: false }, memoryLog().log),
      (error: unknown) => error instanceof ConfigError && /^"subject": /.test(error.message),
    );
  });
});
