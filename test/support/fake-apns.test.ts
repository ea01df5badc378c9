// The fake APNs against a bare node:http2 client: it must accept what Apple
// accepts, refuse what Apple refuses with Apple's reason, and answer scripts by try.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { sign } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import tls from 'node:tls';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { generateApnsKey, type ApnsKey } from './apns-key.js';
import { apnsAnswers, randomDeviceToken, startFakeApns, type FakeApns } from './fake-apns.js';
import { connectH2, h2Request, type H2Response } from './h2-request.js';

const TOPIC = 'com.example.app';
const nowS = () => Math.floor(Date.now() / 1000);
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

interface TokenParts {
  readonly key: ApnsKey;
  readonly header?: Record<string, unknown>;
  readonly claims?: Record<string, unknown>;
  readonly dsaEncoding?: 'ieee-p1363' | 'der';
}

/** A provider token as Apple wants it, or with the parts a test overrides. */
function providerToken({ key, header, claims, dsaEncoding = 'ieee-p1363' }: TokenParts): string {
  const input = `${b64url({ alg: 'ES256', kid: key.keyId, ...header })}.${b64url({ iss: key.teamId, iat: nowS(), ...claims })}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding }).toString('base64url')}`;
}

const alert = (body = 'hello') => JSON.stringify({ aps: { alert: { title: 't', body } }, custom: 1 });
/** A payload of exactly `size` bytes. */
const payloadOf = (size: number) => JSON.stringify({ aps: {}, pad: 'x'.repeat(size - '{"aps":{},"pad":""}'.length) });

describe('fake APNs', () => {
  const key = generateApnsKey();
  let fake: FakeApns;
  let session: http2.ClientHttp2Session;
  let jwt: string;

  /** A good request but for `changes`; a change to undefined leaves that header out. */
  function push(token: string, changes: http2.OutgoingHttpHeaders = {}, body: string | Buffer = alert()): Promise<H2Response> {
    const headers = { ':path': `/3/device/${token}`, authorization: `bearer ${jwt}`, 'apns-topic': TOPIC, 'apns-push-type': 'alert', ...changes };
    return h2Request(session, Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== undefined)), body);
  }
  const reasonOf = (response: H2Response) => (JSON.parse(response.body) as { reason: string }).reason;

  before(async () => {
    fake = await startFakeApns({ keys: [key], topics: [TOPIC] });
    session = await connectH2(fake.url, fake.ca);
    jwt = providerToken({ key });
  });
  after(async () => {
    session.close();
    await fake.close();
  });

  test('a good request: 200, an empty body, the apns-id echoed, everything recorded', async () => {
    const token = randomDeviceToken();
    const apnsId = '123e4567-e89b-12d3-a456-426614174000';
    const response = await push(token, { 'apns-id': apnsId, 'apns-priority': '10', 'apns-expiration': '0', 'apns-collapse-id': 'c'.repeat(64) });
    assert.equal(response.status, 200);
    assert.equal(response.body, '');
    assert.equal(response.headers['apns-id'], apnsId);
    const record = await fake.waitForRequest((entry) => entry.token === token);
    assert.deepEqual(record.payload, JSON.parse(alert()));
    assert.deepEqual(record.providerToken, { kid: key.keyId, iss: key.teamId, iat: JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()).iat });
    assert.equal(record.headers['apns-priority'], '10');
    assert.equal(record.attempt, 1);
    assert.equal(fake.tries.get(token), 1);
    assert.ok(fake.requestsByHttpVersion.get('2.0'));
  });

  test('without an apns-id, APNs makes one up and returns it', async () => {
    const response = await push(randomDeviceToken());
    assert.equal(response.status, 200);
    assert.match(String(response.headers['apns-id']), /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
  });

  test('each refusal carries Apple’s status and reason, and costs the token no try', async (t) => {
    const other = generateApnsKey({ keyId: key.keyId, teamId: key.teamId });
    const refusals: [string, () => Promise<H2Response>, number, string][] = [
      ['no authorization', () => push(randomDeviceToken(), { authorization: undefined }), 403, 'MissingProviderToken'],
      ['signed by another key', () => push(randomDeviceToken(), { authorization: `bearer ${providerToken({ key: other })}` }), 403, 'InvalidProviderToken'],
      ['a DER signature', () => push(randomDeviceToken(), { authorization: `bearer ${providerToken({ key, dsaEncoding: 'der' })}` }), 403, 'InvalidProviderToken'],
      ['a wrong kid', () => push(randomDeviceToken(), { authorization: `bearer ${providerToken({ key, header: { kid: 'WRONGKEYID' } })}` }), 403, 'InvalidProviderToken'],
      ['a wrong iss', () => push(randomDeviceToken(), { authorization: `bearer ${providerToken({ key, claims: { iss: 'WRONGTEAM0' } })}` }), 403, 'InvalidProviderToken'],
      ['RS256 claimed', () => push(randomDeviceToken(), { authorization: `bearer ${providerToken({ key, header: { alg: 'RS256' } })}` }), 403, 'InvalidProviderToken'],
      ['iat in milliseconds', () => push(randomDeviceToken(), { authorization: `bearer ${providerToken({ key, claims: { iat: Date.now() } })}` }), 403, 'InvalidProviderToken'],
      ['iat over an hour old', () => push(randomDeviceToken(), { authorization: `bearer ${providerToken({ key, claims: { iat: nowS() - 3601 } })}` }), 403, 'ExpiredProviderToken'],
      ['no topic', () => push(randomDeviceToken(), { 'apns-topic': undefined }), 400, 'MissingTopic'],
      ['another app’s topic', () => push(randomDeviceToken(), { 'apns-topic': 'com.example.other' }), 400, 'TopicDisallowed'],
      ['priority 7', () => push(randomDeviceToken(), { 'apns-priority': '7' }), 400, 'BadPriority'],
      ['an unknown push type', () => push(randomDeviceToken(), { 'apns-push-type': 'shout' }), 400, 'InvalidPushType'],
      ['a collapse id of 65 bytes', () => push(randomDeviceToken(), { 'apns-collapse-id': 'c'.repeat(65) }), 400, 'BadCollapseId'],
      ['an apns-id that is no UUID', () => push(randomDeviceToken(), { 'apns-id': 'not-a-uuid' }), 400, 'BadMessageId'],
      ['a date that is no number', () => push(randomDeviceToken(), { 'apns-expiration': 'tomorrow' }), 400, 'BadExpirationDate'],
      ['the topic twice', () => push(randomDeviceToken(), { 'apns-topic': [TOPIC, TOPIC] }), 400, 'DuplicateHeaders'],
      ['a token of 63 hex digits', () => push(randomDeviceToken().slice(1)), 400, 'BadDeviceToken'],
      ['a token that is not hex', () => push('z'.repeat(64)), 400, 'BadDeviceToken'],
      ['no token', () => push(''), 400, 'MissingDeviceToken'],
      ['an empty body', () => push(randomDeviceToken(), {}, ''), 400, 'PayloadEmpty'],
      ['a body that is not JSON', () => push(randomDeviceToken(), {}, '{"aps":'), 400, 'BadPayload'],
      ['a body without aps', () => push(randomDeviceToken(), {}, '{"alert":"hi"}'), 400, 'BadPayload'],
      ['4097 bytes of payload', () => push(randomDeviceToken(), {}, payloadOf(4097)), 413, 'PayloadTooLarge'],
      ['GET', () => push(randomDeviceToken(), { ':method': 'GET' }, ''), 405, 'MethodNotAllowed'],
      ['another path', () => h2Request(session, { ':path': '/2/device/x', authorization: `bearer ${jwt}` }, alert()), 404, 'BadPath'],
    ];
    for (const [name, send, status, reason] of refusals) {
      await t.test(name, async () => {
        const tries = [...fake.tries.values()].reduce((sum, count) => sum + count, 0);
        const response = await send();
        assert.equal(response.status, status);
        assert.equal(reasonOf(response), reason);
        assert.equal([...fake.tries.values()].reduce((sum, count) => sum + count, 0), tries, 'no try counted');
      });
    }
  });

  test('the limits themselves pass: 4096 bytes of payload, 5120 for VoIP, a 64-byte collapse id', async () => {
    assert.equal(Buffer.byteLength(payloadOf(4096)), 4096);
    assert.equal((await push(randomDeviceToken(), {}, payloadOf(4096))).status, 200);
    assert.equal((await push(randomDeviceToken(), { 'apns-push-type': 'voip' }, payloadOf(5120))).status, 200);
    assert.equal((await push(randomDeviceToken(), { 'apns-push-type': 'voip' }, payloadOf(5121))).status, 413);
    assert.equal((await push(randomDeviceToken(), { 'apns-collapse-id': 'c'.repeat(64) })).status, 200);
  });

  test('scripted answers by try, then success', async (t) => {
    const cases: [string, (typeof apnsAnswers)[keyof typeof apnsAnswers], number, string][] = [
      ['Unregistered', apnsAnswers.unregistered, 410, 'Unregistered'],
      ['ExpiredToken', apnsAnswers.expiredToken, 410, 'ExpiredToken'],
      ['BadDeviceToken', apnsAnswers.badDeviceToken, 400, 'BadDeviceToken'],
      ['DeviceTokenNotForTopic', apnsAnswers.deviceTokenNotForTopic, 400, 'DeviceTokenNotForTopic'],
      ['TooManyRequests', apnsAnswers.tooManyRequests, 429, 'TooManyRequests'],
      ['InternalServerError', apnsAnswers.internalServerError, 500, 'InternalServerError'],
      ['ServiceUnavailable', apnsAnswers.serviceUnavailable, 503, 'ServiceUnavailable'],
    ];
    for (const [name, answer, status, reason] of cases) {
      await t.test(name, async () => {
        const token = randomDeviceToken();
        fake.script(token, [answer]);
        const first = await push(token);
        assert.equal(first.status, status);
        const body = JSON.parse(first.body) as { reason: string; timestamp?: number };
        assert.equal(body.reason, reason);
        if (status === 410) assert.ok(typeof body.timestamp === 'number' && Math.abs(body.timestamp - Date.now()) < 60_000, 'a timestamp in ms');
        else assert.equal(body.timestamp, undefined);
        assert.ok(first.headers['apns-id']);
        assert.equal((await push(token)).status, 200, 'the next try succeeds');
        assert.equal(fake.tries.get(token), 2);
      });
    }
  });

  test('ExpiredProviderToken once: that JWT, and any of the same iat, stay stale; a newer one gets through', async () => {
    const token = randomDeviceToken();
    fake.script(token, [apnsAnswers.expiredProviderToken]);
    const old = providerToken({ key, claims: { iat: nowS() - 30 } });
    const send = (bearer: string) => push(token, { authorization: `bearer ${bearer}` });
    const first = await send(old);
    assert.deepEqual([first.status, reasonOf(first)], [403, 'ExpiredProviderToken']);
    const again = await send(old);
    assert.deepEqual([again.status, reasonOf(again)], [403, 'ExpiredProviderToken'], 'the same JWT is refused for ever');
    const resigned = await send(providerToken({ key, claims: { iat: nowS() - 30 } }));
    assert.equal(resigned.status, 403, 'a new signature over the same iat is no new token');
    assert.equal(fake.tries.get(token), 1, 'stale tokens cost no try');
    assert.equal((await send(providerToken({ key }))).status, 200);
    assert.equal(fake.tries.get(token), 2);
  });

  test('a script may be a function of token and try', async () => {
    const scripted = await startFakeApns({ keys: [key], script: (_token, attempt) => (attempt < 3 ? apnsAnswers.serviceUnavailable : undefined) });
    const client = await connectH2(scripted.url, scripted.ca);
    try {
      const token = randomDeviceToken();
      const send = () => h2Request(client, { ':path': `/3/device/${token}`, authorization: `bearer ${jwt}`, 'apns-topic': TOPIC }, alert());
      assert.deepEqual([(await send()).status, (await send()).status, (await send()).status], [503, 503, 200]);
    } finally {
      client.close();
      await scripted.close();
    }
  });

  test('distinct provider tokens are tracked; a rotated key replaces the old one', async () => {
    const before = fake.providerTokens.length;
    await push(randomDeviceToken());
    assert.equal(fake.providerTokens.length, before, 'the same JWT again is no update');
    const fresh = providerToken({ key, claims: { iat: nowS() } });
    await push(randomDeviceToken(), { authorization: `bearer ${fresh}` });
    assert.equal(fake.providerTokens.length, before + 1);
    const latest = fake.providerTokens.at(-1);
    assert.ok(latest && latest.kid === key.keyId && Math.abs(latest.firstSeenAt - Date.now()) < 60_000);

    const rotated = generateApnsKey({ teamId: key.teamId });
    fake.setKeys([rotated]);
    try {
      assert.equal(reasonOf(await push(randomDeviceToken())), 'InvalidProviderToken', 'the old key is gone');
      assert.equal((await push(randomDeviceToken(), { authorization: `bearer ${providerToken({ key: rotated })}` })).status, 200);
    } finally {
      fake.setKeys([key]);
    }
  });

  test('a provider token renewed too soon gets 429 TooManyProviderTokenUpdates', async () => {
    let clock = Date.now();
    const strict = await startFakeApns({ keys: [key], minTokenUpdateIntervalMs: 20 * 60_000, now: () => clock });
    const client = await connectH2(strict.url, strict.ca);
    try {
      const send = (bearer: string) => h2Request(client, { ':path': `/3/device/${randomDeviceToken()}`, authorization: `bearer ${bearer}`, 'apns-topic': TOPIC }, alert());
      assert.equal((await send(providerToken({ key, claims: { iat: nowS() - 10 } }))).status, 200);
      const tooSoon = await send(providerToken({ key, claims: { iat: nowS() } }));
      assert.deepEqual([tooSoon.status, reasonOf(tooSoon)], [429, 'TooManyProviderTokenUpdates']);
      clock += 20 * 60_000;
      const renewed = providerToken({ key, claims: { iat: Math.floor(clock / 1000) } });
      assert.equal((await send(renewed)).status, 200);
      assert.deepEqual(strict.providerTokens.map((entry) => entry.firstSeenAt - strict.providerTokens[0]!.firstSeenAt), [0, 20 * 60_000]);
      clock += 61 * 60_000;
      const expired = await send(renewed);
      assert.deepEqual([expired.status, reasonOf(expired)], [403, 'ExpiredProviderToken'], 'a verified token still ages');
    } finally {
      client.close();
      await strict.close();
    }
  });

  test('HTTP/2 only, at most 100 streams a connection', async () => {
    const probe = http2.connect(fake.url, { ca: fake.ca });
    try {
      const [settings] = (await once(probe, 'remoteSettings')) as [http2.Settings];
      assert.equal(settings.maxConcurrentStreams, 100);
    } finally {
      probe.close();
    }
    for (const ALPNProtocols of [['http/1.1'], undefined]) {
      const refused = fake.refusedConnections;
      const http1 = tls.connect({ host: '127.0.0.1', port: Number(new URL(fake.url).port), ca: fake.ca, ALPNProtocols });
      http1.on('error', () => undefined);
      http1.on('secureConnect', () => http1.write(`POST /3/device/${randomDeviceToken()} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 2\r\n\r\n{}`));
      let answer = '';
      http1.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      await new Promise((resolve) => http1.once('close', resolve));
      assert.equal(answer, '', 'no HTTP/1.1 answer');
      assert.equal(fake.refusedConnections, refused + 1);
    }
  });

  test('latency: answers wait, streams pile up, the peak is recorded', async () => {
    const slow = await startFakeApns({ keys: [key], latencyMs: 100, maxConcurrentStreams: 7 });
    const client = await connectH2(slow.url, slow.ca);
    try {
      const sends = Array.from({ length: 20 }, () => h2Request(client, { ':path': `/3/device/${randomDeviceToken()}`, authorization: `bearer ${jwt}`, 'apns-topic': TOPIC }, alert()));
      const statuses = (await Promise.all(sends)).map((response) => response.status);
      assert.deepEqual(statuses, Array(20).fill(200));
      assert.equal(slow.peakInFlight, 7, 'the client queued to the advertised limit');
      assert.equal(slow.connections, 1);
    } finally {
      client.close();
      await slow.close();
    }
  });

  test('close() drops hung streams, is idempotent and removes its files', async () => {
    const hanging = await startFakeApns({ keys: [key], script: () => apnsAnswers.hang });
    const client = await connectH2(hanging.url, hanging.ca);
    client.on('error', () => undefined);
    const pending = h2Request(client, { ':path': `/3/device/${randomDeviceToken()}`, authorization: `bearer ${jwt}`, 'apns-topic': TOPIC }, alert());
    const record = await hanging.waitForRequest();
    assert.equal(record.status, 0);
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

test('standalone: prints where it is and its key, serves, stops on SIGTERM', async () => {
  const script = fileURLToPath(new URL('./fake-apns.js', import.meta.url));
  const child = spawn(process.execPath, [script, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const started = JSON.parse(line) as { url: string; caFile: string; key: string; keyId: string; teamId: string; topic: string };
    assert.match(started.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(started.key, /AuthKey_[A-Z0-9]{10}\.p8$/);
    const pem = readFileSync(started.key, 'utf8');
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----/);
    const { createPrivateKey, createPublicKey } = await import('node:crypto');
    const privateKey = createPrivateKey(pem);
    const key: ApnsKey = { privateKeyPem: pem, privateKey, publicKey: createPublicKey(privateKey), keyId: started.keyId, teamId: started.teamId };
    const client = await connectH2(started.url, readFileSync(started.caFile, 'utf8'));
    const response = await h2Request(client, { ':path': `/3/device/${randomDeviceToken()}`, authorization: `bearer ${providerToken({ key })}`, 'apns-topic': started.topic }, alert());
    client.close();
    assert.equal(response.status, 200);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
    assert.equal(existsSync(started.key), false, 'its key file is gone');
    assert.equal(existsSync(started.caFile), false, 'its certificate is gone');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
