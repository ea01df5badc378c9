// The HTTP/1.1 keep-alive transport (undici) against small http servers on
// 127.0.0.1: one deadline over connect, headers and body, a bounded body,
// the headers asked for; and the factory that picks a transport per origin.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { networkOutcome } from '../../../src/providers/answers.js';
import { createTransport } from '../../../src/providers/transport/create.js';
import { NegotiatedTransport } from '../../../src/providers/transport/negotiated.js';
import { UndiciPool } from '../../../src/providers/transport/undici-pool.js';

async function serve(t: TestContext, handler: (request: http.IncomingMessage, response: http.ServerResponse) => void): Promise<string> {
  const server = http.createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const post = (pool: UndiciPool, path = '/') => pool.request({ method: 'POST', path, headers: { 'content-type': 'text/plain' }, body: 'x' });
const poolAt = (t: TestContext, origin: string, timeoutMs = 5000, more: { maxBodyBytes?: number; responseHeaders?: string[] } = {}) => {
  const pool = new UndiciPool(origin, { connections: 2, concurrency: 4, timeoutMs, ...more });
  t.after(() => pool.destroy());
  return pool;
};

test('a body that drips a byte every 50 ms still ends at the deadline', { timeout: 10_000 }, async (t) => {
  const origin = await serve(t, (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    const drip = setInterval(() => response.write(' '), 50);
    response.on('close', () => clearInterval(drip));
  });
  const pool = poolAt(t, origin, 400);
  const error = await post(pool).then(() => undefined, (e: unknown) => e);
  assert.deepEqual(networkOutcome(error), { kind: 'retry', reason: { source: 'network', code: 'ERR_REQUEST_TIMEOUT' } });
});

test('no headers in time: ERR_REQUEST_TIMEOUT, and the pool goes on', async (t) => {
  const origin = await serve(t, (request, response) => {
    if (request.url === '/hang') return;
    response.end('{}');
  });
  const pool = poolAt(t, origin, 200);
  await assert.rejects(post(pool, '/hang'), { code: 'ERR_REQUEST_TIMEOUT' });
  assert.equal((await post(pool)).status, 200);
});

test('status, the headers asked for and the body come back; a body past the bound fails the request', async (t) => {
  const origin = await serve(t, (request, response) => {
    if (request.url === '/big') return void response.end('y'.repeat(300_000));
    response.writeHead(503, { 'retry-after': '7', 'x-request-id': 'r-1', 'x-other': 'no' });
    response.end('busy');
  });
  const pool = poolAt(t, origin, 5000, { maxBodyBytes: 100_000, responseHeaders: ['retry-after', 'x-request-id'] });
  assert.deepEqual(await post(pool), { status: 503, headers: { 'retry-after': '7', 'x-request-id': 'r-1' }, body: 'busy' });
  await assert.rejects(post(pool, '/big'), { code: 'ERR_BODY_TOO_LARGE' });
  assert.equal((await post(pool)).status, 503, 'the pool goes on');
});

test('nothing listening: the system code; destroy and close: their own', async (t) => {
  const refused = poolAt(t, 'http://127.0.0.1:9');
  await assert.rejects(post(refused), { code: 'ECONNREFUSED' });
  const origin = await serve(t, () => undefined);
  const pool = poolAt(t, origin);
  const hanging = post(pool);
  const destroyed = pool.destroy();
  assert.equal(pool.destroy(), destroyed, 'idempotent');
  await assert.rejects(hanging, { code: 'ERR_POOL_DESTROYED' });
  await assert.rejects(post(pool), { code: 'ERR_POOL_DESTROYED' });
  await pool.close();
  const other = poolAt(t, origin);
  const closing = other.close();
  assert.equal(other.close(), closing, 'idempotent');
  await assert.rejects(post(other), { code: 'ERR_POOL_CLOSED' });
});

test('the factory: HTTP/2 (where offered) for https://, undici for http://', async () => {
  const options = { connections: 1, concurrency: 1, timeoutMs: 1000 };
  const secure = createTransport('https://127.0.0.1:9/fcm/send', options);
  const plain = createTransport(new URL('http://127.0.0.1:9'), options);
  assert.ok(secure instanceof NegotiatedTransport);
  assert.ok(plain instanceof UndiciPool);
  await Promise.all([secure.close(), plain.close()]);
});
