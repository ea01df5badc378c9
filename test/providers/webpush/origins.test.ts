// Transports by push-service origin: one each, reused, closed when idle, and
// never more than the bound (the least recently used idle one makes room).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OriginTransports } from '../../../src/providers/webpush/origins.js';
import type { Transport, TransportResponse } from '../../../src/providers/transport/transport.js';

class CountingTransport implements Transport {
  closed = false;
  destroyed = false;
  answers: Array<(response: TransportResponse) => void> = [];
  constructor(readonly origin: string) {}
  request(): Promise<TransportResponse> {
    return new Promise((resolve) => this.answers.push(resolve));
  }
  answer(): void {
    for (const resolve of this.answers.splice(0)) resolve({ status: 201, headers: {}, body: '' });
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
  destroy(): Promise<void> {
    this.destroyed = true;
    return Promise.resolve();
  }
}

function setUp(options: { maxOrigins?: number; idleMs?: number } = {}) {
  const made: CountingTransport[] = [];
  const origins = new OriginTransports((origin) => {
    const transport = new CountingTransport(origin);
    made.push(transport);
    return transport;
  }, options);
  const send = (origin: string) => origins.run(origin, (transport) => transport.request({ method: 'POST', path: '/', headers: {} }));
  return { made, origins, send };
}

test('one transport per origin, reused', async () => {
  const { made, origins, send } = setUp();
  const sends = [send('https://a'), send('https://a'), send('https://b')];
  assert.deepEqual(made.map((transport) => transport.origin), ['https://a', 'https://b']);
  for (const transport of made) transport.answer();
  await Promise.all(sends);
  const again = send('https://a');
  assert.equal(made.length, 2);
  made[0]?.answer();
  await again;
  await origins.destroy();
});

test('idle ones are closed by the sweep; busy ones stay', async () => {
  const { made, origins, send } = setUp({ idleMs: 60_000 });
  const idle = send('https://idle');
  made[0]?.answer();
  await idle;
  const busy = send('https://busy');
  origins.sweep(Date.now() + 61_000);
  assert.equal(made[0]?.closed, true);
  assert.equal(made[1]?.closed, false);
  assert.equal(origins.size, 1);
  made[1]?.answer();
  await busy;
  await origins.close();
  assert.equal(made[1]?.closed, true);
});

test('bounded: a new origin past the bound retires the least recently used idle one', async () => {
  const { made, origins, send } = setUp({ maxOrigins: 2 });
  const a = send('https://a');
  const b = send('https://b');
  made[1]?.answer();
  await b;
  // a is busy and older, b idle: b makes room.
  const c = send('https://c');
  assert.equal(origins.size, 2);
  assert.deepEqual(made.map((transport) => [transport.origin, transport.closed]), [['https://a', false], ['https://b', true], ['https://c', false]]);
  // All busy: the least recently used goes, and finishes what it has.
  const d = send('https://d');
  assert.equal(made[0]?.closed, true);
  for (const transport of made) transport.answer();
  assert.deepEqual((await Promise.all([a, c, d])).map((response) => response.status), [201, 201, 201]);
  await origins.destroy();
  assert.ok(made.slice(2).every((transport) => transport.destroyed));
});

test('after close or destroy no transport is made again: a late request fails as on a closed pool', async () => {
  const { made, origins, send } = setUp();
  await origins.destroy();
  await assert.rejects(send('https://late'), { code: 'ERR_POOL_DESTROYED' });
  assert.equal(made.length, 0);
  const other = setUp();
  await other.origins.close();
  await assert.rejects(other.send('https://late'), { code: 'ERR_POOL_CLOSED' });
  assert.equal(other.made.length, 0);
});
