// https:// servers that do not speak HTTP/2: one that says so in its TLS
// handshake (ALPN offers only http/1.1) and one that ignores ALPN altogether.
// Both are served over HTTP/1.1 keep-alive instead of failing every request.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import tls from 'node:tls';
import { after, before, test, type TestContext } from 'node:test';
import { NegotiatedTransport } from '../../../src/providers/transport/negotiated.js';
import { makeTlsFixture, type TlsFixture } from '../../support/tls.js';

let fixture: TlsFixture;
before(() => {
  fixture = makeTlsFixture();
});
after(() => fixture.remove());

const handler = (request: http.IncomingMessage, response: http.ServerResponse): void => {
  response.writeHead(200, { 'retry-after': '3' });
  response.end(`HTTP/${request.httpVersion}`);
};

async function listen(t: TestContext, server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function assertServedOverHttp1(t: TestContext, origin: string): Promise<void> {
  const transport = new NegotiatedTransport(origin, { connections: 2, concurrency: 8, timeoutMs: 5000, ca: fixture.cert });
  t.after(() => transport.destroy());
  const responses = await Promise.all(Array.from({ length: 8 }, () => transport.request({ method: 'POST', path: '/', headers: {}, body: 'x' })));
  assert.deepEqual(new Set(responses.map((r) => JSON.stringify(r))), new Set([JSON.stringify({ status: 200, headers: { 'retry-after': '3' }, body: 'HTTP/1.1' })]));
  assert.equal(transport.protocol, 'http/1.1');
  await transport.close();
}

test('a server whose ALPN offers only http/1.1', async (t) => {
  const server = https.createServer({ key: fixture.key, cert: fixture.cert, keepAlive: true }, handler);
  t.after(() => server.closeAllConnections());
  await assertServedOverHttp1(t, await listen(t, server));
});

test('a server that ignores ALPN', async (t) => {
  const plain = http.createServer({ keepAlive: true }, handler);
  const server = tls.createServer({ key: fixture.key, cert: fixture.cert }, (socket) => plain.emit('connection', socket));
  t.after(() => plain.closeAllConnections());
  await assertServedOverHttp1(t, await listen(t, server));
});
