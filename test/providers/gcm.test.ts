// The legacy provider against the fake legacy endpoint, over real HTTP on 127.0.0.1 (and TLS + HTTP/2).
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { createLogger, type Logger } from '../../src/log.js';
import type { Message, MessageContent } from '../../src/message.js';
import { createGcmProvider, type GcmOptions } from '../../src/providers/gcm.js';
import type { Outcome, Provider } from '../../src/providers/provider.js';
import { startFakeGcm, type FakeGcm, type FakeGcmOptions, type FakeGcmRequest } from '../support/fake-gcm.js';

const API_KEY = 'AAAA-very-secret-legacy-key-0123456789';

/** Options for a provider at `endpoint`; the rest harmless for tests. */
function gcmOptions(fields: Partial<GcmOptions> = {}): GcmOptions {
  return { endpoint: 'http://127.0.0.1:1/fcm/send', apiKey: 'test-api-key', requestTimeoutMs: 10_000, connections: 20, concurrency: 2000, dryRun: false, ...fields };
}

function message(content: Partial<MessageContent> = {}): Message {
  return { id: 'msg-1', app: 'default', acceptedAt: 0, content: { payload: { title: 'Hi', n: 3 }, ...content } };
}

/** A trace-level logger writing to memory, so tests can read every line it wrote. */
function memoryLog(): { log: Logger; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: createLogger('trace', stream), text: () => chunks.join('') };
}

/** The fake and a provider pointed at it; both closed when the test ends. */
async function setup(
  t: TestContext,
  fakeOptions: FakeGcmOptions = {},
  options: Partial<GcmOptions> = {},
): Promise<{ fake: FakeGcm; provider: Provider; logged: () => string }> {
  const fake = await startFakeGcm(fakeOptions);
  const { log, text } = memoryLog();
  const provider = createGcmProvider(gcmOptions({ endpoint: fake.url, apiKey: API_KEY, ...(fake.ca === undefined ? {} : { ca: fake.ca }), ...options }), log);
  t.after(async () => {
    await provider.destroy();
    await fake.close();
  });
  return { fake, provider, logged: text };
}

/** Resolves with the next request the fake receives. */
function nextRequest(): { onRequest: (request: FakeGcmRequest) => void; arrived: Promise<FakeGcmRequest> } {
  let onRequest: (request: FakeGcmRequest) => void = () => {};
  const arrived = new Promise<FakeGcmRequest>((resolve) => {
    onRequest = resolve;
  });
  return { onRequest: (request) => onRequest(request), arrived };
}

/** A port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address && typeof address === 'object');
  return address.port;
}

function kinds(outcomes: readonly Outcome[]): string[] {
  return outcomes.map((outcome) => outcome.kind);
}

test('each kind of token gets its outcome, in the order sent', async (t) => {
  const { fake, provider } = await setup(t);
  const tokens = ['ok-1', 'canon-1', 'gone-1', 'invalid-1', 'unavail-1', 'flaky1-a', 'ok-2'];
  assert.deepEqual(await provider.send(message(), tokens), [
    { kind: 'delivered' },
    { kind: 'delivered', canonical: 'new-canon-1' },
    { kind: 'failed', reason: { source: 'gcm', code: 'NotRegistered' }, notRegistered: true },
    { kind: 'failed', reason: { source: 'gcm', code: 'InvalidRegistration' } },
    { kind: 'retry', reason: { source: 'gcm', code: 'Unavailable' } },
    { kind: 'retry', reason: { source: 'gcm', code: 'Unavailable' } },
    { kind: 'delivered' },
  ]);
  assert.deepEqual(await provider.send(message(), ['flaky1-a', 'unavail-1']), [{ kind: 'delivered' }, { kind: 'retry', reason: { source: 'gcm', code: 'Unavailable' } }]);
  assert.equal(fake.tokensSeen.get('flaky1-a'), 2);
  assert.equal(fake.requests, 2);
});

test('the request is a legacy multicast POST with the key and the message fields', async (t) => {
  const { onRequest, arrived } = nextRequest();
  const { provider } = await setup(t, { onRequest });
  const notification = { title: 'Hello', body: 'World' };
  const sent = provider.send(message({ notification, collapse_key: 'news', priority: 'high', ttl: 3600, dry_run: true }), ['ok-a', 'ok-b']);
  const request = await arrived;
  assert.equal(request.authorization, `key=${API_KEY}`);
  assert.match(request.contentType ?? '', /^application\/json/);
  assert.deepEqual(request.body, {
    registration_ids: ['ok-a', 'ok-b'],
    data: { title: 'Hi', n: 3 },
    notification,
    collapse_key: 'news',
    priority: 'high',
    time_to_live: 3600,
    dry_run: true,
  });
  assert.deepEqual(kinds(await sent), ['delivered', 'delivered']);
});

test('optional fields are left out, and --dry-run wins over whatever a message says', async (t) => {
  const bodies: unknown[] = [];
  const { provider } = await setup(t, { onRequest: (request) => bodies.push(request.body) });
  await provider.send(message(), ['ok-a']);
  const dry = await setup(t, { onRequest: (request) => bodies.push(request.body) }, { dryRun: true });
  await dry.provider.send(message(), ['ok-a']);
  await dry.provider.send(message({ dry_run: false }), ['ok-a']);
  assert.deepEqual(bodies, [
    { registration_ids: ['ok-a'], data: { title: 'Hi', n: 3 } },
    { registration_ids: ['ok-a'], data: { title: 'Hi', n: 3 }, dry_run: true },
    // A staging host with --dry-run never sends for real, whatever the message asks.
    { registration_ids: ['ok-a'], data: { title: 'Hi', n: 3 }, dry_run: true },
  ]);
});

test('no request carries more than 1000 tokens', async (t) => {
  const sizes: number[] = [];
  const { fake, provider } = await setup(t, {
    onRequest: (request) => sizes.push((request.body as { registration_ids: unknown[] }).registration_ids.length),
  });
  assert.equal(provider.maxTokensPerRequest, 1000);
  const tokens = Array.from({ length: 2500 }, (_, i) => (i === 1700 ? `gone-${i}` : `ok-${i}`));
  const outcomes = await provider.send(message(), tokens);
  assert.equal(outcomes.length, 2500);
  assert.deepEqual(outcomes[1700], { kind: 'failed', reason: { source: 'gcm', code: 'NotRegistered' }, notRegistered: true });
  assert.equal(outcomes.filter((outcome) => outcome.kind === 'delivered').length, 2499);
  assert.deepEqual(sizes.sort((a, b) => b - a), [1000, 1000, 500]);
  assert.equal(fake.tokensSeen.size, 2500);
});

test('requests reuse keep-alive connections', async (t) => {
  const { fake, provider } = await setup(t, {}, { connections: 1 });
  for (let i = 0; i < 20; i++) await provider.send(message(), [`ok-${i}`]);
  assert.equal(fake.requests, 20);
  // undici may take a second connection while the first is still finishing its answer; never one per request.
  assert.ok(fake.connections <= 2, `${fake.connections} connections for 20 requests one after another`);
});

test('over http:// each request in flight has its own keep-alive connection, up to --concurrency', async (t) => {
  const { fake, provider } = await setup(t, { latencyMs: 50 }, { connections: 1, concurrency: 3 });
  const outcomes = await Promise.all(Array.from({ length: 9 }, (_, i) => provider.send(message(), [`ok-${i}`])));
  assert.deepEqual(kinds(outcomes.flat()), Array(9).fill('delivered'));
  assert.equal(fake.connections, 3);
});

test('HTTP statuses decide every token of the request', async (t) => {
  const { provider } = await setup(t);
  assert.deepEqual(await provider.send(message(), ['err500-a', 'ok-b']), [
    { kind: 'retry', reason: { source: 'http', code: '500' } },
    { kind: 'retry', reason: { source: 'http', code: '500' } },
  ]);
  assert.deepEqual(await provider.send(message(), ['err400-a', 'ok-b']), [
    { kind: 'failed', reason: { source: 'http', code: '400' } },
    { kind: 'failed', reason: { source: 'http', code: '400' } },
  ]);
});

test('a 503 with Retry-After is retried when the endpoint asks, then delivered', async (t) => {
  const { provider } = await setup(t);
  assert.deepEqual(await provider.send(message(), ['retryafter3-a', 'ok-b']), [
    { kind: 'retry', reason: { source: 'http', code: '503' }, retryAfterMs: 3000 },
    { kind: 'retry', reason: { source: 'http', code: '503' }, retryAfterMs: 3000 },
  ]);
  assert.deepEqual(kinds(await provider.send(message(), ['retryafter3-a', 'ok-b'])), ['delivered', 'delivered']);
});

test('a 200 with an HTML body is a retryable fault of the endpoint', async (t) => {
  const { provider } = await setup(t);
  const bad = { kind: 'retry', reason: { source: 'gcm', code: 'bad_response' } };
  assert.deepEqual(await provider.send(message(), ['garbage-a', 'ok-b']), [bad, bad]);
});

test('a 200 body past any legacy answer is cut off, not buffered: a retry', async (t) => {
  const { provider } = await setup(t);
  const tooLarge = { kind: 'retry', reason: { source: 'network', code: 'ERR_BODY_TOO_LARGE' } };
  assert.deepEqual(await provider.send(message(), ['huge-a', 'ok-b']), [tooLarge, tooLarge]);
  assert.deepEqual(kinds(await provider.send(message(), ['ok-c'])), ['delivered'], 'the transport goes on');
});

test('a 1,000-token answer in which every token has a canonical id fits the bound', async (t) => {
  const { provider } = await setup(t);
  // FCM registration tokens run to ~160 characters; each canonical answer repeats one.
  const tokens = Array.from({ length: 1000 }, (_, i) => `canon-${String(i).padStart(4, '0')}-${'t'.repeat(150)}`);
  const outcomes = await provider.send(message(), tokens);
  assert.deepEqual(outcomes[999], { kind: 'delivered', canonical: `new-${tokens[999]}` });
  assert.deepEqual(new Set(kinds(outcomes)), new Set(['delivered']));
});

test('over TLS the legacy provider speaks HTTP/2 and multiplexes: 300 requests in flight on one connection', async (t) => {
  const { fake, provider } = await setup(t, { tls: true, latencyMs: 100 }, { connections: 1 });
  const outcomes = await Promise.all(Array.from({ length: 300 }, (_, i) => provider.send(message(), [`ok-h2-${i}`])));
  assert.deepEqual(new Set(kinds(outcomes.flat())), new Set(['delivered']));
  assert.deepEqual([...fake.requestsByHttpVersion], [['2.0', 300]]);
  assert.equal(fake.connections, 1);
  assert.equal(fake.peakInFlight, 100, 'as many streams as the server allows');
});

test('a wrong key is a final configuration problem, never a purge', async (t) => {
  const { fake, provider } = await setup(t, { apiKey: 'the-right-key' });
  const refused = { kind: 'failed', reason: { source: 'http', code: '401' }, configProblem: true };
  assert.deepEqual(await provider.send(message(), ['ok-a', 'gone-b']), [refused, refused]);
  assert.deepEqual([...fake.apiKeysSeen], [API_KEY]);
  const right = await setup(t, { apiKey: 'the-right-key' }, { apiKey: 'the-right-key' });
  assert.deepEqual(kinds(await right.provider.send(message(), ['ok-a'])), ['delivered']);
});

test('an endpoint that does not answer in time gives retry outcomes', async (t) => {
  const { provider } = await setup(t, {}, { requestTimeoutMs: 150 });
  const outcomes = await provider.send(message(), ['hang-a', 'ok-b']);
  assert.deepEqual(outcomes, [
    { kind: 'retry', reason: { source: 'network', code: 'ERR_REQUEST_TIMEOUT' } },
    { kind: 'retry', reason: { source: 'network', code: 'ERR_REQUEST_TIMEOUT' } },
  ]);
  // The pool stays usable after a timed-out request.
  assert.deepEqual(kinds(await provider.send(message(), ['ok-c'])), ['delivered']);
});

test('a slow endpoint times out the same way', async (t) => {
  const { provider } = await setup(t, { latencyMs: 2000 }, { requestTimeoutMs: 100 });
  assert.deepEqual(kinds(await provider.send(message(), ['ok-a'])), ['retry']);
});

test('a reset connection gives retry outcomes', async (t) => {
  const { provider } = await setup(t);
  const outcomes = await provider.send(message(), ['reset-a', 'ok-b']);
  assert.deepEqual(kinds(outcomes), ['retry', 'retry']);
  assert.equal(outcomes[0]?.kind === 'retry' && outcomes[0].reason.source, 'network');
});

test('a refused connection gives retry outcomes', async (t) => {
  const port = await closedPort();
  const provider = createGcmProvider(gcmOptions({ endpoint: `http://127.0.0.1:${port}/fcm/send` }), memoryLog().log);
  t.after(() => provider.destroy());
  assert.deepEqual(await provider.send(message(), ['ok-a', 'ok-b']), [
    { kind: 'retry', reason: { source: 'network', code: 'ECONNREFUSED' } },
    { kind: 'retry', reason: { source: 'network', code: 'ECONNREFUSED' } },
  ]);
});

test('no tokens, no request', async (t) => {
  const { fake, provider } = await setup(t);
  assert.deepEqual(await provider.send(message(), []), []);
  assert.equal(fake.requests, 0);
});

test('close() lets the request in flight finish, then refuses new ones; it is idempotent', async (t) => {
  const { onRequest, arrived } = nextRequest();
  const { provider } = await setup(t, { onRequest, latencyMs: 50 });
  const sent = provider.send(message(), ['ok-a']);
  await arrived;
  const closed = provider.close();
  assert.equal(provider.close(), closed);
  assert.deepEqual(await sent, [{ kind: 'delivered' }]);
  await closed;
  assert.deepEqual(kinds(await provider.send(message(), ['ok-b'])), ['retry']);
  await provider.destroy();
});

test('destroy() aborts the request in flight into retry outcomes; it is idempotent', async (t) => {
  const { onRequest, arrived } = nextRequest();
  const { provider } = await setup(t, { onRequest });
  const sent = provider.send(message(), ['hang-a', 'ok-b']);
  await arrived;
  const destroyed = provider.destroy();
  assert.equal(provider.destroy(), destroyed);
  assert.deepEqual(kinds(await sent), ['retry', 'retry']);
  await destroyed;
  await provider.close();
});

test('a Google endpoint draws one warning that the legacy API is gone', async () => {
  for (const endpoint of ['https://fcm.googleapis.com/fcm/send', 'https://gcm-http.googleapis.com/gcm/send']) {
    const { log, text } = memoryLog();
    const provider = createGcmProvider(gcmOptions({ endpoint: endpoint }), log);
    await provider.close();
    const warnings = text().split('\n').filter((line) => line.includes('"level":40'));
    assert.equal(warnings.length, 1, endpoint);
    assert.match(warnings[0] ?? '', /July 2024/);
    assert.match(warnings[0] ?? '', /--provider fcm/);
  }
  const { log, text } = memoryLog();
  await createGcmProvider(gcmOptions({ endpoint: 'http://127.0.0.1:1/fcm/send' }), log).close();
  await createGcmProvider(gcmOptions({ endpoint: 'https://notgoogleapis.com/fcm/send' }), log).close();
  assert.doesNotMatch(text(), /July 2024/);
});

test('the key appears in no log line and no outcome, whatever goes wrong', async (t) => {
  const strict = await setup(t, { apiKey: 'the-right-key' });
  const lenient = await setup(t, {}, { requestTimeoutMs: 150 });
  const outcomes = [
    ...(await strict.provider.send(message(), ['ok-a'])),
    ...(await lenient.provider.send(message(), ['hang-a'])),
    ...(await lenient.provider.send(message(), ['reset-a'])),
    ...(await lenient.provider.send(message(), ['err500-a'])),
  ];
  const port = await closedPort();
  const { log, text } = memoryLog();
  const refused = createGcmProvider(gcmOptions({ endpoint: `http://127.0.0.1:${port}/`, apiKey: API_KEY }), log);
  t.after(() => refused.destroy());
  outcomes.push(...(await refused.send(message(), ['ok-a'])));
  assert.deepEqual(kinds(outcomes), ['failed', 'retry', 'retry', 'retry', 'retry']);
  assert.ok(strict.fake.apiKeysSeen.has(API_KEY), 'the key was sent');
  const everything = strict.logged() + lenient.logged() + text() + JSON.stringify(outcomes);
  assert.ok(everything.includes('"level":20'), 'debug lines were written');
  assert.ok(!everything.includes(API_KEY), 'the key leaked');
  assert.ok(!everything.includes('very-secret'), 'part of the key leaked');
});
