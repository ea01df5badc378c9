// The node:http2 session pool, in-process against the fake FCM and small
// HTTP/2 servers: stream limits, answers, timeouts, lost sessions, close and
// destroy. The certificate is passed as `ca`; the production trust path
// (NODE_EXTRA_CA_CERTS) is tested in test/providers/fcm/http2.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { networkOutcome } from '../../../src/providers/answers.js';
import { loadServiceAccount } from '../../../src/providers/fcm/credentials.js';
import { signAssertion } from '../../../src/providers/fcm/jwt.js';
import { H2Pool } from '../../../src/providers/transport/h2-pool.js';
import { startFakeFcm } from '../../support/fake-fcm.js';
import { generateServiceAccountKey, writeServiceAccount } from '../../support/service-account.js';
import { makeTlsFixture, type TlsFixture } from '../../support/tls.js';
import { answer, startServer, type TestServer, waitFor } from './h2-server.js';

const codeOf = (error: unknown): unknown => (error as { code?: unknown }).code;
const post = (pool: H2Pool, path = '/', headers: Record<string, string> = {}, body = 'x') => pool.request({ method: 'POST', path, headers, body });

describe('H2Pool against the fake FCM (TLS, 100 streams per connection)', () => {
  test('one session carries at most 100 streams; the rest wait their turn, in order', async (t) => {
    const key = generateServiceAccountKey();
    const fake = await startFakeFcm({ publicKey: key.publicKey, tls: true, latencyMs: 200 });
    const dir = mkdtempSync(join(tmpdir(), 'gocm-h2-pool-'));
    const pool = new H2Pool(new URL(fake.url).origin, { connections: 1, concurrency: 250, timeoutMs: 5000, ca: makeCa(fake.caFile) });
    t.after(async () => {
      await pool.destroy();
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const account = loadServiceAccount(writeServiceAccount(dir, { tokenUri: fake.tokenUri, key }).path);
    const form = `grant_type=${encodeURIComponent('urn:ietf:params:oauth:grant-type:jwt-bearer')}&assertion=${signAssertion(account, Math.floor(Date.now() / 1000))}`;
    const granted = await post(pool, '/token', { 'content-type': 'application/x-www-form-urlencoded' }, form);
    assert.equal(granted.status, 200);
    const headers = { authorization: `Bearer ${(JSON.parse(granted.body) as { access_token: string }).access_token}`, 'content-type': 'application/json' };

    const sends = Array.from({ length: 250 }, (_, i) => post(pool, '/v1/projects/p/messages:send', headers, JSON.stringify({ message: { token: `ok-${i}` } })));
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

function makeCa(file: string | undefined): string {
  assert.ok(file);
  return readFileSync(file, 'utf8');
}

describe('H2Pool', () => {
  let tls: TlsFixture;
  before(() => {
    tls = makeTlsFixture();
  });
  after(() => tls.remove());

  const poolFor = (server: TestServer, connections = 1, timeoutMs = 5000, more: { responseHeaders?: string[]; maxBodyBytes?: number } = {}) =>
    new H2Pool(server.url, { connections, concurrency: 100, timeoutMs, ca: tls.cert, ...more });

  test("a server's lower stream limit is kept; sessions open only as needed", async (t) => {
    const server = await startServer(tls, 5, (stream) => answer(stream, 100));
    const pool = poolFor(server, 3);
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    assert.equal((await post(pool)).status, 200);
    assert.equal(server.sessions, 1, 'one request, one session');
    const responses = await Promise.all(Array.from({ length: 40 }, () => post(pool)));
    assert.ok(responses.every((r) => r.status === 200));
    assert.equal(server.sessions, 3);
    assert.equal(server.peakPerSession, 5);
  });

  test('a server allowing 1,000 streams still gets at most 100 per session', async (t) => {
    const server = await startServer(tls, 1000, (stream) => answer(stream, 100));
    const pool = poolFor(server);
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    await Promise.all(Array.from({ length: 150 }, () => post(pool)));
    assert.equal(server.peakPerSession, 100);
  });

  test('status, the headers asked for and the body come back; a body past the bound fails the request', async (t) => {
    const server = await startServer(tls, 100, (stream, path) =>
      path === '/big' ? answer(stream, 0, {}, 'x'.repeat(200_000)) : answer(stream, 0, { ':status': 503, 'retry-after': '7', 'apns-id': 'a-1', 'x-other': 'no' }, 'busy'),
    );
    const pool = poolFor(server, 1, 5000, { responseHeaders: ['retry-after', 'apns-id'], maxBodyBytes: 100_000 });
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    assert.deepEqual(await post(pool), { status: 503, headers: { 'retry-after': '7', 'apns-id': 'a-1' }, body: 'busy' });
    const error = await post(pool, '/big').then(() => undefined, (e: unknown) => e);
    assert.deepEqual(networkOutcome(error), { kind: 'retry', reason: { source: 'network', code: 'ERR_BODY_TOO_LARGE' } });
    await waitFor(() => server.openStreams === 0, 'the stream to be cancelled');
    assert.equal((await post(pool)).status, 503, 'the session still serves');
  });

  test('a lost session fails its streams (retries); the next request reconnects', async (t) => {
    const server = await startServer(tls, 100, (stream, _path, session, nth) => {
      if (session === 1 && nth === 3) stream.session?.destroy();
      else if (session > 1) answer(stream);
    });
    const pool = poolFor(server);
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    const results = await Promise.allSettled([1, 2, 3].map(() => post(pool)));
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.equal(networkOutcome(result.reason).kind, 'retry');
    }
    assert.equal((await post(pool)).status, 200);
    assert.equal(server.sessions, 2);
  });

  test('a stream reset by the server fails with ERR_STREAM_RESET; the session stays', async (t) => {
    const server = await startServer(tls, 100, (stream, path) => (path === '/reset' ? stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR) : answer(stream)));
    const pool = poolFor(server);
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    await assert.rejects(post(pool, '/reset'), { code: 'ERR_STREAM_RESET' });
    assert.equal((await post(pool)).status, 200);
    assert.equal(server.sessions, 1);
  });

  test('no answer in time: ERR_REQUEST_TIMEOUT, the stream is cancelled, the session stays', async (t) => {
    const server = await startServer(tls, 100, (stream, path) => path !== '/hang' && answer(stream));
    const pool = poolFor(server, 1, 200);
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    const error = await post(pool, '/hang').then(() => undefined, (e: unknown) => e);
    assert.deepEqual(networkOutcome(error), { kind: 'retry', reason: { source: 'network', code: 'ERR_REQUEST_TIMEOUT' } });
    await waitFor(() => server.openStreams === 0, 'the server to see the stream cancelled');
    assert.deepEqual(pool.state, { sessions: 1, streams: 0, waiting: 0 });
    assert.equal((await post(pool)).status, 200);
    assert.equal(server.sessions, 1);
  });

  test('a server that accepts but never speaks: ERR_CONNECT_TIMEOUT, and the session is dropped', async (t) => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const sockets = new Set<net.Socket>();
    silent.on('connection', (socket) => sockets.add(socket));
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      silent.close();
    });
    const pool = new H2Pool(`https://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, { connections: 1, concurrency: 2, timeoutMs: 200, ca: tls.cert });
    const results = await Promise.allSettled([post(pool), post(pool)]);
    assert.deepEqual(results.map((r) => r.status === 'rejected' && codeOf(r.reason)), ['ERR_CONNECT_TIMEOUT', 'ERR_CONNECT_TIMEOUT']);
    await waitFor(() => pool.state.sessions === 0, 'the session to be dropped');
    await pool.destroy();
  });

  test('nothing listening: every waiting request fails with the error, and no reconnect loop follows', async () => {
    const pool = new H2Pool('https://127.0.0.1:9', { connections: 2, concurrency: 3, timeoutMs: 5000 });
    const results = await Promise.allSettled([1, 2, 3].map(() => post(pool)));
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
    await post(pool);
    const responses = await Promise.all(Array.from({ length: 4 }, () => post(pool)));
    assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200]);
    assert.equal(connections, 2, 'one failed attempt, then none within the reconnect delay');
    assert.equal(server.sessions, 1);
  });

  test('a certificate nobody vouches for is refused', async (t) => {
    const server = await startServer(tls, 100, (stream) => answer(stream));
    const pool = new H2Pool(server.url, { connections: 1, concurrency: 1, timeoutMs: 5000 });
    t.after(() => Promise.all([pool.destroy(), server.close()]));
    const error = await post(pool).then(() => undefined, (e: unknown) => e);
    assert.match(String(codeOf(error)), /CERT|SIGNATURE/);
  });

  test('destroy fails requests in flight and waiting (retries); destroy, close and request after it are safe', async (t) => {
    const server = await startServer(tls, 1, () => undefined);
    const pool = poolFor(server);
    t.after(() => server.close());
    const sends = [1, 2, 3].map(() => post(pool));
    await waitFor(() => server.openStreams === 1, 'the first stream');
    assert.deepEqual(pool.state, { sessions: 1, streams: 1, waiting: 2 });
    const destroying = pool.destroy();
    assert.equal(pool.destroy(), destroying, 'idempotent');
    for (const result of await Promise.allSettled(sends)) {
      assert.equal(result.status, 'rejected');
      assert.deepEqual(networkOutcome(result.reason), { kind: 'retry', reason: { source: 'network', code: 'ERR_POOL_DESTROYED' } });
    }
    await destroying;
    await pool.close();
    assert.deepEqual(pool.state, { sessions: 0, streams: 0, waiting: 0 });
    await assert.rejects(post(pool), { code: 'ERR_POOL_DESTROYED' });
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
    const sends = [1, 2, 3].map(() => post(pool));
    await waitFor(() => server.openStreams === 1, 'the first stream');
    const closing = pool.close();
    assert.equal(pool.close(), closing, 'idempotent');
    await assert.rejects(post(pool), { code: 'ERR_POOL_CLOSED' });
    assert.deepEqual((await Promise.all(sends)).map((r) => r.status), [200, 200, 200]);
    await closing;
    await waitFor(() => closed, 'the server to see the session close');
    assert.equal(server.sessions, 1);
  });
});
