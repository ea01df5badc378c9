// The fake push service against requests the web-push library builds, sent
// with a bare node:http2 client: the plaintext must arrive exactly, VAPID must
// verify, and what a push service or a browser would refuse must be refused.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import type http2 from 'node:http2';
import https from 'node:https';
import { createInterface } from 'node:readline';
import { text } from 'node:stream/consumers';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import webpush from 'web-push';
import { startFakeWebPush, tooManyRequestsRetryAfter, webPushAnswers, type FakeWebPush, type PushSubscriptionJson, type WebPushAnswer } from './fake-webpush.js';
import { connectH2, h2Request, type H2Response } from './h2-request.js';

const SUBJECT = 'mailto:ops@example.com';
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
/** The aes128gcm header (86 bytes) and the record's delimiter and tag (17): what a message adds to its plaintext. */
const OVERHEAD = 86 + 17;

interface VapidKeys {
  readonly publicKey: string;
  readonly privateKey: string;
}

/** A VAPID JWT signed by hand, for the claims web-push itself would refuse to sign. */
function vapidHeader(keys: VapidKeys, claims: Record<string, unknown>, dsaEncoding: 'ieee-p1363' | 'der' = 'ieee-p1363'): string {
  const point = Buffer.from(keys.publicKey, 'base64url');
  const jwk = { kty: 'EC', crv: 'P-256', d: keys.privateKey, x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') };
  const input = `${b64url({ typ: 'JWT', alg: 'ES256' })}.${b64url(claims)}`;
  const signature = sign('sha256', Buffer.from(input), { key: createPrivateKey({ key: jwk, format: 'jwk' }), dsaEncoding });
  return `vapid t=${input}.${signature.toString('base64url')}, k=${keys.publicKey}`;
}

/** Send what web-push built, over HTTP/2; `changes` replace headers, undefined removes one. */
function send(session: http2.ClientHttp2Session, details: webpush.RequestDetails, changes: Record<string, string | undefined> = {}): Promise<H2Response> {
  const headers: Record<string, string | number | undefined> = {};
  for (const [name, value] of Object.entries(details.headers)) headers[name.toLowerCase()] = value;
  Object.assign(headers, changes);
  const defined = Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== undefined)) as http2.OutgoingHttpHeaders;
  return h2Request(session, { ':path': new URL(details.endpoint).pathname, ...defined }, details.body ?? undefined);
}

describe('fake Web Push', () => {
  const vapid = webpush.generateVAPIDKeys();
  const vapidDetails = { subject: SUBJECT, ...vapid };
  let fake: FakeWebPush;
  let session: http2.ClientHttp2Session;
  const build = (subscription: PushSubscriptionJson, payload: string | Buffer = '{"notification":{"title":"hi"}}', options: webpush.RequestOptions = {}) =>
    webpush.generateRequestDetails(subscription, payload, { vapidDetails, TTL: 60, ...options });
  const totalTries = () => [...fake.tries.values()].reduce((sum, count) => sum + count, 0);

  before(async () => {
    fake = await startFakeWebPush({ vapidPublicKey: vapid.publicKey });
    session = await connectH2(fake.url, fake.ca);
  });
  after(async () => {
    session.close();
    await fake.close();
  });

  test('subscribe() gives a browser’s PushSubscription: an endpoint here, a P-256 point, a 16-byte secret', () => {
    const subscription = fake.subscribe();
    assert.match(subscription.endpoint, new RegExp(`^${fake.url}/push/[A-Za-z0-9_-]+$`));
    const point = Buffer.from(subscription.keys.p256dh, 'base64url');
    assert.equal(point.length, 65);
    assert.equal(point[0], 0x04);
    assert.equal(Buffer.from(subscription.keys.auth, 'base64url').length, 16);
    assert.notEqual(fake.subscribe().endpoint, subscription.endpoint);
  });

  test('a message web-push encrypted arrives decrypted, byte for byte, with its headers and VAPID claims', async () => {
    const subscription = fake.subscribe();
    const message = { notification: { title: 'Grüße', body: '☃ snow' }, data: { n: 1, nested: { ok: true } } };
    const response = await send(session, build(subscription, JSON.stringify(message), { TTL: 3600, urgency: 'high', topic: 'news-1' }));
    assert.equal(response.status, 201);
    assert.match(String(response.headers.location), new RegExp(`^${fake.url}/message/\\d+$`));
    assert.equal(response.headers.ttl, '3600');
    const [received] = fake.received(subscription.endpoint);
    assert.ok(received);
    assert.equal(received.plaintext, JSON.stringify(message));
    assert.deepEqual(received.json, message);
    assert.deepEqual(received.push, { ttl: 3600, urgency: 'high', topic: 'news-1' });
    assert.equal(received.vapid?.aud, fake.url);
    assert.equal(received.vapid?.sub, SUBJECT);
    assert.equal(received.vapid?.k, vapid.publicKey);
    assert.equal(received.attempt, 1);
    assert.equal(received.httpVersion, '2.0');
    assert.equal(fake.tries.get(subscription.endpoint), 1);
  });

  test('a binary payload and an empty one decrypt too; a push without a body needs no encryption', async () => {
    const subscription = fake.subscribe();
    const bytes = Buffer.from('ff00fe01c3', 'hex');
    assert.equal((await send(session, build(subscription, bytes))).status, 201);
    assert.equal((await send(session, build(subscription, Buffer.alloc(0)))).status, 201);
    // web-push reads an empty string as no payload at all: no body, no Content-Encoding.
    const bodyless = build(subscription, '');
    assert.equal(bodyless.body, null);
    assert.equal((await send(session, bodyless)).status, 201);
    const [binary, empty, none] = fake.received(subscription.endpoint);
    assert.deepEqual(binary?.plaintextBytes, bytes);
    assert.deepEqual([empty?.plaintext, empty?.bodyBytes], ['', OVERHEAD]);
    assert.deepEqual([none?.plaintext, none?.bodyBytes], ['', 0]);
  });

  test('HTTP/1.1 is served as well', async () => {
    const subscription = fake.subscribe();
    const details = build(subscription);
    const request = https.request(details.endpoint, { method: 'POST', headers: details.headers, ca: fake.ca });
    request.end(details.body);
    const [response] = (await once(request, 'response')) as [import('node:http').IncomingMessage];
    await text(response);
    assert.equal(response.statusCode, 201);
    const [received] = fake.received(subscription.endpoint);
    assert.equal(received?.httpVersion, '1.1');
    assert.ok(received && received.connection > 1, 'its own connection');
    assert.ok(fake.requestsByHttpVersion.get('1.1'));
  });

  test('the size limit counts the whole body: 3993 bytes of plaintext fit, 3994 get 413', async () => {
    const subscription = fake.subscribe();
    const fits = build(subscription, 'x'.repeat(4096 - OVERHEAD));
    assert.equal(fits.body.length, 4096);
    assert.equal((await send(session, fits)).status, 201);
    assert.equal((await send(session, build(subscription, 'x'.repeat(4097 - OVERHEAD)))).status, 413);
  });

  test('what a push service or the browser refuses is refused, and costs no try', async (t) => {
    const subscription = fake.subscribe();
    const other = fake.subscribe();
    const good = () => build(subscription);
    const otherVapid = webpush.generateVAPIDKeys();
    const inHours = (hours: number) => Math.floor(Date.now() / 1000) + hours * 3600;
    const claims = { aud: fake.url, sub: SUBJECT, exp: inHours(12) };
    const tamper = (authorization: string) => authorization.replace(/t=([^,]+)/, (_all, jwt: string) => `t=${jwt.slice(0, -4)}${jwt.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`);
    const refusals: [string, () => Promise<H2Response>, number, RegExp][] = [
      ['the wrong auth secret', () => send(session, build({ ...subscription, keys: { ...subscription.keys, auth: randomBytes(16).toString('base64url') } })), 400, /decrypt/],
      ['another subscription’s keys', () => send(session, build({ ...subscription, keys: other.keys })), 400, /decrypt/],
      ['a corrupt body', () => { const details = good(); details.body[100] = (details.body[100] ?? 0) ^ 1; return send(session, details); }, 400, /decrypt/],
      ['no TTL', () => send(session, good(), { ttl: undefined }), 400, /TTL/],
      ['a TTL that is no number', () => send(session, good(), { ttl: 'soon' }), 400, /TTL/],
      ['aesgcm, the old draft', () => send(session, good(), { 'content-encoding': 'aesgcm' }), 400, /aes128gcm/],
      ['an unknown urgency', () => send(session, good(), { urgency: 'urgent' }), 400, /Urgency/],
      ['a topic of 33 characters', () => send(session, good(), { topic: 'a'.repeat(33) }), 400, /Topic/],
      ['a topic with a slash', () => send(session, good(), { topic: 'a/b' }), 400, /Topic/],
      ['no authorization', () => send(session, good(), { authorization: undefined }), 401, /no vapid/],
      ['the old WebPush scheme', () => send(session, good(), { authorization: `WebPush ${String(good().headers.Authorization).slice(8)}` }), 401, /no vapid/],
      ['a tampered signature', () => send(session, good(), { authorization: tamper(String(good().headers.Authorization)) }), 403, /signature/],
      ['a DER signature', () => send(session, good(), { authorization: vapidHeader(vapid, claims, 'der') }), 403, /signature/],
      ['a key other than the subscribed one', () => send(session, webpush.generateRequestDetails(subscription, 'x', { vapidDetails: { subject: SUBJECT, ...otherVapid }, TTL: 60 })), 403, /subscription was made for/],
      ['another audience', () => send(session, good(), { authorization: webpush.getVapidHeaders('https://127.0.0.1:1', SUBJECT, vapid.publicKey, vapid.privateKey, 'aes128gcm').Authorization }), 403, /aud/],
      ['an expired token', () => send(session, good(), { authorization: vapidHeader(vapid, { ...claims, exp: inHours(-1) }) }), 403, /expired/],
      ['a token for 25 hours', () => send(session, good(), { authorization: vapidHeader(vapid, { ...claims, exp: inHours(25) }) }), 403, /24 hours/],
      ['an http: subject', () => send(session, good(), { authorization: vapidHeader(vapid, { ...claims, sub: 'http://example.com' }) }), 403, /sub/],
      ['no subject', () => send(session, good(), { authorization: vapidHeader(vapid, { aud: fake.url, exp: inHours(1) }) }), 403, /sub/],
      ['an unknown endpoint', () => send(session, { ...good(), endpoint: `${fake.url}/push/nobody` }), 404, /no such subscription/],
    ];
    for (const [name, sendIt, status, reason] of refusals) {
      await t.test(name, async () => {
        const tries = totalTries();
        const response = await sendIt();
        assert.equal(response.status, status);
        assert.match((JSON.parse(response.body) as { message: string }).message, reason);
        assert.equal(totalTries(), tries, 'no try counted');
      });
    }
    assert.equal(fake.received(subscription.endpoint).length, 0);
  });

  test('a browser that subscribed with another application server key refuses ours', async () => {
    const subscription = fake.subscribe({ applicationServerKey: webpush.generateVAPIDKeys().publicKey });
    assert.equal((await send(session, build(subscription))).status, 403);
  });

  test('an unsubscribed endpoint answers 410 Gone', async () => {
    const subscription = fake.subscribe();
    assert.equal((await send(session, build(subscription))).status, 201);
    fake.unsubscribe(subscription.endpoint);
    assert.equal((await send(session, build(subscription))).status, 410);
  });

  test('scripted answers by try, then 201 Created', async (t) => {
    const cases: [string, WebPushAnswer, number, string | undefined][] = [
      ['404', webPushAnswers.notFound, 404, undefined],
      ['410', webPushAnswers.gone, 410, undefined],
      ['413', webPushAnswers.payloadTooLarge, 413, undefined],
      ['429 without Retry-After', webPushAnswers.tooManyRequests, 429, undefined],
      ['429 with Retry-After', tooManyRequestsRetryAfter('7'), 429, '7'],
      ['500', webPushAnswers.internalServerError, 500, undefined],
    ];
    for (const [name, answer, status, retryAfter] of cases) {
      await t.test(name, async () => {
        const subscription = fake.subscribe({ answers: [answer] });
        const first = await send(session, build(subscription));
        assert.equal(first.status, status);
        assert.equal(first.headers['retry-after'], retryAfter);
        assert.equal((await send(session, build(subscription))).status, 201);
        assert.deepEqual(fake.received(subscription.endpoint).map((entry) => [entry.attempt, entry.status]), [[1, status], [2, 201]]);
      });
    }
  });

  test('VAPID expiry is judged by the fake’s clock', async () => {
    let clock = Date.now();
    const later = await startFakeWebPush({ now: () => clock });
    const client = await connectH2(later.url, later.ca);
    try {
      const subscription = later.subscribe();
      assert.equal((await send(client, build(subscription))).status, 201);
      clock += 13 * 3600_000;
      const expired = await send(client, build(subscription));
      assert.equal(expired.status, 403, 'web-push signs for 12 hours');
    } finally {
      client.close();
      await later.close();
    }
  });

  test('latency: answers wait, streams pile up to the advertised limit', async () => {
    const slow = await startFakeWebPush({ latencyMs: 100, maxConcurrentStreams: 5 });
    const client = await connectH2(slow.url, slow.ca);
    try {
      const subscription = slow.subscribe();
      const statuses = await Promise.all(Array.from({ length: 12 }, async () => (await send(client, build(subscription))).status));
      assert.deepEqual(statuses, Array(12).fill(201));
      assert.equal(slow.peakInFlight, 5);
      assert.equal(slow.connections, 1);
      assert.deepEqual(slow.received(subscription.endpoint).map((entry) => entry.connection), Array(12).fill(1));
    } finally {
      client.close();
      await slow.close();
    }
  });

  test('close() drops hung requests, is idempotent and removes its files', async () => {
    const hanging = await startFakeWebPush();
    const client = await connectH2(hanging.url, hanging.ca);
    client.on('error', () => undefined);
    const subscription = hanging.subscribe({ answers: [webPushAnswers.hang] });
    const pending = send(client, build(subscription));
    assert.equal((await hanging.waitForRequest()).status, 0);
    assert.equal(hanging.inFlight, 1);
    const closed = hanging.close();
    assert.equal(hanging.close(), closed);
    await closed;
    await assert.rejects(pending);
    assert.equal(existsSync(hanging.caFile), false);
    await assert.rejects(hanging.waitForRequest(() => false), /closed/);
    client.destroy();
  });
});

test('standalone: prints where it is, its VAPID keys and subscriptions, serves, stops on SIGTERM', async () => {
  const script = fileURLToPath(new URL('./fake-webpush.js', import.meta.url));
  const child = spawn(process.execPath, [script, '--port', '0', '--subscriptions', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const started = JSON.parse(line) as { url: string; caFile: string; vapidPublicKey: string; vapidPrivateKeyFile: string; subscriptions: string };
    assert.match(started.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const subscriptions = readFileSync(started.subscriptions, 'utf8').trim().split('\n').map((entry) => JSON.parse(entry) as PushSubscriptionJson);
    assert.equal(subscriptions.length, 3);
    const vapidDetails = { subject: SUBJECT, publicKey: started.vapidPublicKey, privateKey: readFileSync(started.vapidPrivateKeyFile, 'utf8').trim() };
    const client = await connectH2(started.url, readFileSync(started.caFile, 'utf8'));
    const response = await send(client, webpush.generateRequestDetails(subscriptions[2]!, 'hello', { vapidDetails, TTL: 60 }));
    client.close();
    assert.equal(response.status, 201);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
    assert.equal(existsSync(started.vapidPrivateKeyFile), false, 'its key file is gone');
    assert.equal(existsSync(started.caFile), false, 'its certificate is gone');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
