// The node:http2 session pool that carries messages:send over https://, in-process
// against the fake FCM and against small HTTP/2 servers that misbehave on cue
// (GOAWAY, lost sessions, silence). The certificate is passed as `ca`; the
// production trust path (NODE_EXTRA_CA_CERTS) is tested in http2.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadServiceAccount } from '../../../src/providers/fcm/credentials.js';
import { H2Pool } from '../../../src/providers/fcm/h2-pool.js';
import { signAssertion } from '../../../src/providers/fcm/jwt.js';
import { networkOutcome } from '../../../src/providers/answers.js';
import { startFakeFcm } from '../../support/fake-fcm.js';
import { generateServiceAccountKey, writeServiceAccount } from '../../support/service-account.js';
import { makeTlsFixture, type TlsFixture } from '../../support/tls.js';

interface TestServer {
  readonly url: string;
  readonly raw: http2.Http2SecureServer;
  /** Sessions accepted so far. */
  readonly sessions: number;
  /** Streams open now, over all sessions. */
  readonly openStreams: number;
  /** The most streams ever open at once on one session. */
  readonly peakPerSession: number;
  close(): Promise<void>;
}

/** Called for each stream with the 1-based number of its session and of the stream on that session. */
type Handler = (stream: http2.ServerHttp2Stream, path: string, session: number, nth: number) => void;

/** Answer 200 `{}` after `delayMs`, unless the stream is gone by then. */
function answer(stream: http2.ServerHttp2Stream, delayMs = 0, headers: http2.OutgoingHttpHeaders = {}, body = '{}'): void {
  setTimeout(() => {
    if (stream.closed) return;
    stream.respond({ ':status': 200, ...headers });
    stream.end(body);
  }, delayMs);
}

async function startServer(tls: TlsFixture, maxConcurrentStreams: number, handler: Handler): Promise<TestServer> {
  const server = http2.createSecureServer({ key: tls.key, cert: tls.cert, settings: { maxConcurrentStreams } });
  const open = new Map<http2.ServerHttp2Session, { number: number; streams: number; seen: number }>();
  let sessions = 0;
  let openStreams = 0;
  let peakPerSession = 0;
  server.on('session', (session) => {
    open.set(session, { number: (sessions += 1), streams: 0, seen: 0 });
    session.on('error', () => undefined);
    session.on('close', () => open.delete(session));
  });
  server.on('stream', (stream, headers) => {
    const counts = open.get(stream.session as http2.ServerHttp2Session);
    if (!counts) return;
    counts.streams += 1;
    counts.seen += 1;
    openStreams += 1;
    peakPerSession = Math.max(peakPerSession, counts.streams);
    stream.on('error', () => undefined);
    stream.on('close', () => {
      counts.streams -= 1;
      openStreams -= 1;
    });
    stream.resume();
    handler(stream, String(headers[':path']), counts.number, counts.seen);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    raw: server,
    get sessions() {
      return sessions;
    },
    get openStreams() {
      return openStreams;
    },
    get peakPerSession() {
      return peakPerSession;
    },
    close() {
      for (const session of open.keys()) session.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Resolve once `condition` holds, checking every few milliseconds. */
async function waitFor(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const codeOf = (error: unknown): unknown => (error as { code?: unknown }).code;

describe('H2Pool against the fake FCM (TLS, 100 streams per connection)', () => {
  test('one session carries at most 100 streams; the rest wait their turn, in order', async (t) => {
    const key = generateServiceAccountKey();
    const fake = await startFakeFcm({ publicKey: key.publicKey, tls: true, latencyMs: 200 });
    const dir = mkdtempSync(join(tmpdir(), 'gocm-h2-pool-'));
    const pool = new H2Pool(fake.url, { connections: 1, timeoutMs: 5000, ca: readFileSync(fake.caFile ?? '', 'utf8') });
    t.after(async () => {
      await pool.destroy();
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const account = loadServiceAccount(writeServiceAccount(dir, { tokenUri: fake.tokenUri, key }).path);
    const form = `grant_type=${encodeURIComponent('urn:ietf:params:oauth:grant-type:jwt-bearer')}&assertion=${signAssertion(account, Math.floor(Date.now() / 1000))}`;
    const granted = await pool.post('/token', { 'content-type': 'application/x-www-form-urlencoded' }, form);
    assert.equal(granted.status, 200);
    const headers = { authorization: `Bearer ${(JSON.parse(granted.body) as { access_token: string }).access_token}`, 'content-type': 'application/json' };

    const sends = Array.from({ length: 250 }, (_, i) => pool.post('/v1/projects/p/messages:send', headers, JSON.stringify({ message: { token: `ok-${i}` } })));
    await waitFor(() => pool.state.streams === 100, '100 streams');
    assert.deepEqual(pool.state, { sessions: 1, streams: 100, waiting: 150 });
    const responses = await Promise.all(sends);
    assert.ok(responses.every((r) => r.status === 200 && r.body.startsWith('{"name":"projects/p/messages/')));
    assert.equal(fake.peakInFlight, 100, 'the server never had more than its limit');
    assert.equal(fake.connections, 1);
    assert.deepEqual([...fake.requestsByHttpVersion], [['2.0', 251]]);
    for (let i = 0; i < 250; i++) assert.equal(fake.sends.get(`ok-${i}`), 1);
    assert.deepEqual(pool.state, { sessions: 1, streams: 0, waiting: 0 });
  });
});

describe('H2Pool', () => {
  let tls: TlsFixture;
  before(() => {
    tls = makeTlsFixture();
  });
  after(() => tls.remove());

  const poolFor = (server: TestServer, connections = 1, timeoutMs = 5000) => new H2Pool(server.url, { connections, timeoutMs, ca: tls.cert });

  test("a server's lower stream limit is kept; sessions open only as needed", async (t) => {
    const server = await startServer(tls, 5, (stream) => answer(stream, 100));
    const pool = poolFor(server, 3);
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    const first = await pool.post('/', {}, 'x');
    assert.equal(first.status, 200);
    assert.equal(server.sessions, 1, 'one request, one session');
    const responses = await Promise.all(Array.from({ length: 40 }, () => pool.post('/', {}, 'x')));
    assert.ok(responses.every((r) => r.status === 200));
    assert.equal(server.sessions, 3);
    assert.equal(server.peakPerSession, 5);
  });

  test('a server allowing 1,000 streams still gets at most 100 per session', async (t) => {
    const server = await startServer(tls, 1000, (stream) => answer(stream, 100));
    const pool = poolFor(server);
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    await Promise.all(Array.from({ length: 150 }, () => pool.post('/', {}, 'x')));
    assert.equal(server.peakPerSession, 100);
  });

  test('status, Retry-After and a bounded body come back', async (t) => {
    const server = await startServer(tls, 100, (stream, path) =>
      path === '/big' ? answer(stream, 0, {}, 'x'.repeat(200_000)) : answer(stream, 0, { ':status': 503, 'retry-after': '7' }, 'busy'),
    );
    const pool = poolFor(server);
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    assert.deepEqual(await pool.post('/', {}, 'x'), { status: 503, body: 'busy', retryAfter: '7' });
    assert.equal((await pool.post('/big', {}, 'x')).body.length, 64 * 1024);
  });

  test('GOAWAY: streams the server did not take are refused (retries), and the next request reconnects', async (t) => {
    const server = await startServer(tls, 100, (stream, _path, session, nth) => {
      // On the first session, at the third stream, the server says it processed only stream 1.
      if (session === 1 && nth === 3) stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
      else answer(stream, 50);
    });
    const pool = poolFor(server);
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    const results = await Promise.allSettled([1, 2, 3].map(() => pool.post('/', {}, 'x')));
    assert.equal(results[0]?.status === 'fulfilled' && results[0].value.status, 200, 'the stream the server kept is answered');
    for (const result of results.slice(1)) {
      assert.equal(result.status, 'rejected');
      assert.deepEqual(networkOutcome(result.reason), { kind: 'retry', reason: { source: 'network', code: 'NGHTTP2_REFUSED_STREAM' } });
    }
    assert.equal(pool.state.sessions, 0, 'the session is dropped');
    assert.equal((await pool.post('/', {}, 'x')).status, 200);
    assert.equal(server.sessions, 2);
  });

  test('a lost session fails its streams (retries); the next request reconnects', async (t) => {
    const server = await startServer(tls, 100, (stream, _path, session, nth) => {
      if (session === 1 && nth === 3) stream.session?.destroy();
      else if (session > 1) answer(stream);
    });
    const pool = poolFor(server);
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    const results = await Promise.allSettled([1, 2, 3].map(() => pool.post('/', {}, 'x')));
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.equal(networkOutcome(result.reason).kind, 'retry');
    }
    assert.equal((await pool.post('/', {}, 'x')).status, 200);
    assert.equal(server.sessions, 2);
  });

  test('no answer in time: ETIMEDOUT, the stream is cancelled, the session stays', async (t) => {
    const server = await startServer(tls, 100, (stream, path) => path !== '/hang' && answer(stream));
    const pool = poolFor(server, 1, 200);
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    const started = Date.now();
    const error = await pool.post('/hang', {}, 'x').then(() => undefined, (e: unknown) => e);
    assert.deepEqual(networkOutcome(error), { kind: 'retry', reason: { source: 'network', code: 'ETIMEDOUT' } });
    assert.ok(Date.now() - started >= 190, `${Date.now() - started} ms`);
    await waitFor(() => server.openStreams === 0, 'the server to see the stream cancelled');
    assert.deepEqual(pool.state, { sessions: 1, streams: 0, waiting: 0 });
    assert.equal((await pool.post('/', {}, 'x')).status, 200);
    assert.equal(server.sessions, 1);
  });

  test('a server that accepts but never speaks: ETIMEDOUT, and the session is dropped', async (t) => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const sockets = new Set<net.Socket>();
    silent.on('connection', (socket) => sockets.add(socket));
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      silent.close();
    });
    const pool = new H2Pool(`https://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, { connections: 1, timeoutMs: 200, ca: tls.cert });
    const results = await Promise.allSettled([pool.post('/', {}, 'x'), pool.post('/', {}, 'x')]);
    assert.deepEqual(results.map((r) => r.status === 'rejected' && codeOf(r.reason)), ['ETIMEDOUT', 'ETIMEDOUT']);
    await waitFor(() => pool.state.sessions === 0, 'the session to be dropped');
    await pool.destroy();
  });

  test('nothing listening: every waiting request fails with the error, and no reconnect loop follows', async () => {
    const pool = new H2Pool('https://127.0.0.1:9', { connections: 2, timeoutMs: 5000 });
    const results = await Promise.allSettled([1, 2, 3].map(() => pool.post('/', {}, 'x')));
    assert.deepEqual(results.map((r) => r.status === 'rejected' && networkOutcome(r.reason)), Array(3).fill({ kind: 'retry', reason: { source: 'network', code: 'ECONNREFUSED' } }));
    assert.deepEqual(pool.state, { sessions: 0, streams: 0, waiting: 0 });
    await pool.close();
  });

  test('a session that fails to open while another serves: the waiting wait for that one, and no reconnect loop follows', async (t) => {
    const server = await startServer(tls, 1, (stream) => answer(stream, 100));
    let connections = 0;
    server.raw.prependListener('connection', (socket: net.Socket) => {
      if ((connections += 1) > 1) socket.destroy();
    });
    const pool = poolFor(server, 3);
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    await pool.post('/', {}, 'x');
    const responses = await Promise.all(Array.from({ length: 4 }, () => pool.post('/', {}, 'x')));
    assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200]);
    assert.equal(connections, 2, 'one failed attempt, then none within the reconnect delay');
    assert.equal(server.sessions, 1);
  });

  test('a certificate nobody vouches for is refused', async (t) => {
    const server = await startServer(tls, 100, (stream) => answer(stream));
    const pool = new H2Pool(server.url, { connections: 1, timeoutMs: 5000 });
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    const error = await pool.post('/', {}, 'x').then(() => undefined, (e: unknown) => e);
    assert.match(String(codeOf(error)), /CERT|SIGNATURE/);
  });

  test('destroy fails requests in flight and waiting (retries); destroy, close and post after it are safe', async (t) => {
    const server = await startServer(tls, 1, () => undefined);
    const pool = poolFor(server);
    t.after(() => server.close());
    const sends = [1, 2, 3].map(() => pool.post('/', {}, 'x'));
    await waitFor(() => server.openStreams === 1, 'the first stream');
    assert.deepEqual(pool.state, { sessions: 1, streams: 1, waiting: 2 });
    const destroying = pool.destroy();
    assert.equal(pool.destroy(), destroying, 'idempotent');
    for (const result of await Promise.allSettled(sends)) {
      assert.equal(result.status, 'rejected');
      assert.deepEqual(networkOutcome(result.reason), { kind: 'retry', reason: { source: 'network', code: 'ERR_H2_POOL_DESTROYED' } });
    }
    await destroying;
    await pool.close();
    assert.deepEqual(pool.state, { sessions: 0, streams: 0, waiting: 0 });
    await assert.rejects(pool.post('/', {}, 'x'), { code: 'ERR_H2_POOL_CLOSED' });
    await waitFor(() => server.openStreams === 0, 'the server to see the stream go');
  });

  test('close lets requests in flight and waiting finish, then closes the session', async (t) => {
    let closed = false;
    const server = await startServer(tls, 1, (stream) => {
      stream.session?.once('close', () => (closed = true));
      answer(stream, 50);
    });
    const pool = poolFor(server);
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    const sends = [1, 2, 3].map(() => pool.post('/', {}, 'x'));
    await waitFor(() => server.openStreams === 1, 'the first stream');
    const closing = pool.close();
    assert.equal(pool.close(), closing, 'idempotent');
    await assert.rejects(pool.post('/', {}, 'x'), { code: 'ERR_H2_POOL_CLOSED' });
    assert.deepEqual((await Promise.all(sends)).map((r) => r.status), [200, 200, 200]);
    await closing;
    await waitFor(() => closed, 'the server to see the session close');
    assert.equal(server.sessions, 1);
  });
});
