// Limits against careless and hostile clients: over-long lines amid pipelining
// from several clients, --max-connections, --idle-timeout, and a thousand
// connections that just sit there.
import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { type LineClient } from '../support/daemon.js';
import { startGcmDaemon } from '../support/gcm-daemon.js';
import { errorCode, openFds, until, wellFormed } from './checks.js';

/** A client that never hangs up on its own: with allowHalfOpen it keeps its end open after the daemon's. */
interface Clinger {
  readonly socket: Socket;
  readonly received: () => string;
  readonly ended: Promise<void>;
}

function cling(path: string): Promise<Clinger> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path, allowHalfOpen: true });
    let received = '';
    socket.setEncoding('utf8').on('data', (text: string) => (received += text));
    const ended = new Promise<void>((done) => socket.once('end', () => done()));
    socket.once('connect', () => resolve({ socket, received: () => received, ended }));
    socket.once('error', reject);
  });
}

/** Connect until a client is served (not refused busy): the daemon notices a departure on its own time. */
async function connectServed(connect: () => Promise<LineClient>, id: string): Promise<LineClient> {
  let served: LineClient | undefined;
  await until(async () => {
    const client = await connect();
    client.write({ cmd: 'ping', id });
    const reply = wellFormed(await client.nextLine(), 'a ping');
    if (reply.ok) {
      served = client;
      return true;
    }
    assert.equal(errorCode(reply), 'busy');
    client.close();
    return false;
  }, 'a connection slot to come free', 10_000);
  return served as LineClient;
}

describe('over-long lines', () => {
  test('3 MB lines amid pipelined lines from several clients at once: each gets line_too_long in its place', { timeout: 60_000 }, async (t) => {
    const setup = await startGcmDaemon();
    t.after(() => setup.close());
    const limit = 1024 * 1024;
    const huge = [
      '{"cmd":"send","tokens":["' + 'x'.repeat(3 * limit) + '"]}',
      '{"cmd":"ping","id":"' + '€'.repeat(limit) + '"}', // 3 MB of 3-byte characters, 1 M characters
      'y'.repeat(3 * limit), // no JSON at all, no newline until the end
      '{"cmd":"ping","id":"' + 'z'.repeat(limit - 22) + '"}', // exactly 1 MiB: allowed
    ];
    const clients = await Promise.all(huge.map(() => setup.daemon.connect()));
    t.after(() => clients.forEach((client) => client.close()));
    const perClient = 60;
    // Every client writes everything first (pipelining), and only then reads.
    clients.forEach((client, c) => {
      for (let i = 0; i < perClient; i++) {
        if (i === perClient / 2) client.socket.write((huge[c] as string) + '\n');
        client.write(i % 3 === 0 ? { cmd: 'send', id: `${c}-${i}`, tokens: [`ok-long-${c}-${i}`] } : { cmd: 'ping', id: `${c}-${i}` });
      }
    });
    await Promise.all(
      clients.map(async (client, c) => {
        for (let i = 0; i < perClient; i++) {
          if (i === perClient / 2) {
            const reply = wellFormed(await client.nextLine(), `client ${c}, its long line`);
            if (c === 3) assert.equal((reply.id as string).length, limit - 22, 'a line of exactly --max-line-bytes is served');
            else assert.equal(errorCode(reply), 'line_too_long', `client ${c}: ${JSON.stringify(reply).slice(0, 200)}`);
          }
          const reply = wellFormed(await client.nextLine(), `client ${c}, line ${i}`);
          assert.equal(reply.id, `${c}-${i}`, `client ${c}: replies in request order`);
          assert.equal(reply.ok, true);
        }
      }),
    );
    const report = await setup.daemon.settled();
    assert.equal(report.attempts, clients.length * (perClient / 3), 'every send around the long lines was accepted');
  });
});

describe('--max-connections', () => {
  test('the excess gets one busy line and is closed; a slot that comes free is served again', { timeout: 60_000 }, async (t) => {
    const setup = await startGcmDaemon(['--max-connections', '3']);
    t.after(() => setup.close());
    const { daemon } = setup;
    const admitted = await Promise.all([1, 2, 3].map(() => daemon.connect()));
    t.after(() => admitted.forEach((client) => client.close()));
    for (const [i, client] of admitted.entries()) assert.deepEqual(await client.request({ cmd: 'ping', id: i }), { ok: true, id: i });

    // The fourth writes a request at once: it gets the busy line (not an answer to it), then the end.
    const refused = await daemon.connect();
    t.after(() => refused.close());
    refused.write({ cmd: 'send', id: 'refused', tokens: ['ok-refused'] });
    const busy = wellFormed(await refused.nextLine(), 'the refusal');
    assert.equal(errorCode(busy), 'busy');
    assert.match((busy.error as { message: string }).message, /--max-connections 3/);
    assert.equal(await refused.nextLine(), undefined, 'then the daemon closes');

    for (const [i, client] of admitted.entries()) assert.deepEqual(await client.request({ cmd: 'ping', id: i }), { ok: true, id: i }, 'the admitted are still served');
    (admitted.shift() as LineClient).close();
    const next = await connectServed(() => daemon.connect(), 'after');
    t.after(() => next.close());
    assert.equal(errorCode(await daemon.request({ cmd: 'ping' })), 'busy', 'full again: a newcomer is refused');

    for (const client of [...admitted, next]) client.close();
    const last = await connectServed(() => daemon.connect(), 'last');
    t.after(() => last.close());
    const report = await last.request({ cmd: 'report' });
    assert.equal(report.attempts, 0, 'the refused client\'s send was never accepted');
  });

  test('refused clients that never hang up do not pile up in the daemon', { timeout: 60_000 }, async (t) => {
    const setup = await startGcmDaemon(['--max-connections', '1']);
    t.after(() => setup.close());
    const pid = setup.daemon.child.pid as number;
    const holder = await setup.daemon.connect();
    t.after(() => holder.close());
    assert.deepEqual(await holder.request({ cmd: 'ping' }), { ok: true });
    const before = openFds(pid);
    const clingers: Clinger[] = [];
    t.after(() => clingers.forEach((clinger) => clinger.socket.destroy()));
    for (let i = 0; i < 200; i++) clingers.push(await cling(setup.daemon.socket));
    await Promise.all(clingers.map((clinger) => clinger.ended));
    for (const clinger of clingers) assert.match(clinger.received(), /^\{"ok":false,"error":\{"code":"busy"[^\n]*\}\n$/);
    // They keep their ends open; the daemon must not keep its own for them for long.
    await until(() => openFds(pid) <= before + 10, `the daemon's descriptors to fall back to about ${before}`, 10_000);
    assert.deepEqual(await holder.request({ cmd: 'ping', id: 'holder' }), { ok: true, id: 'holder' });
  });
});

describe('--idle-timeout', () => {
  test('closes a silent connection, not a busy one', { timeout: 60_000 }, async (t) => {
    // A whole second: a loaded machine must not stall the busy client's round trips past it.
    const setup = await startGcmDaemon(['--idle-timeout', '1s']);
    t.after(() => setup.close());
    const silent = await setup.daemon.connect();
    const busy = await setup.daemon.connect();
    t.after(() => [silent, busy].forEach((client) => client.close()));
    let pings = 0;
    let silentClosed = false;
    void silent.closed().then(() => (silentClosed = true));
    // The busy client keeps talking until the silent one has been closed: one whole idle period at least.
    while (!silentClosed) {
      assert.deepEqual(await busy.request({ cmd: 'ping', id: pings }), { ok: true, id: pings }, 'the busy client is served throughout');
      pings++;
    }
    assert.equal(await silent.nextLine(), undefined, 'the silent one got no line, only the end');
    assert.deepEqual(await busy.request({ cmd: 'ping', id: 'last' }), { ok: true, id: 'last' }, 'the busy one is still open');
  });

  test('a subscriber is not silent: it stays open however long no event comes', { timeout: 60_000 }, async (t) => {
    const setup = await startGcmDaemon(['--idle-timeout', '300ms']);
    t.after(() => setup.close());
    const subscriber = await setup.daemon.connect();
    t.after(() => subscriber.close());
    assert.deepEqual(await subscriber.request({ cmd: 'subscribe', id: 's' }), { ok: true, id: 's', subscribed: ['delivered', 'failed', 'retry', 'notregistered', 'canonical'] });
    // Connected after the subscriber last spoke: once it is closed, the subscriber has been as silent for longer.
    const silent = await setup.daemon.connect();
    t.after(() => silent.close());
    await silent.closed();
    assert.deepEqual(await subscriber.request({ cmd: 'ping', id: 'still' }), { ok: true, id: 'still' }, 'the subscriber is still served');
  });

  test('a subscriber that leaves its events unread loses its slot as a silent client does', { timeout: 60_000 }, async (t) => {
    const setup = await startGcmDaemon(['--idle-timeout', '300ms', '--max-connections', '2']);
    t.after(() => setup.close());
    const subscriber = await setup.daemon.connect();
    t.after(() => subscriber.close());
    await subscriber.request({ cmd: 'subscribe', events: ['delivered'] });
    subscriber.socket.pause();
    // 5,000 events of about 130 bytes: more than the socket's buffers hold, so some stay unwritten.
    const sender = await setup.daemon.connect();
    t.after(() => sender.close());
    for (let send = 0; send < 5; send++) {
      const reply = await sender.request({ cmd: 'send', tokens: Array.from({ length: 1000 }, (_, i) => `ok-unread-${send}-${i}`), payload: {} });
      assert.equal(reply.ok, true);
    }
    // The sender stays busy throughout, so it keeps its slot: a new client is served only once the subscriber is cut off.
    while ((await sender.request({ cmd: 'report' })).pending !== 0);
    let served = false;
    const busy = (async () => {
      while (!served) await sender.request({ cmd: 'ping' });
    })();
    const next = await connectServed(() => setup.daemon.connect(), 'next');
    served = true;
    await busy;
    t.after(() => next.close());
    assert.deepEqual(await next.request({ cmd: 'ping', id: 'next' }), { ok: true, id: 'next' });
    assert.deepEqual(await sender.request({ cmd: 'ping', id: 'sender' }), { ok: true, id: 'sender' }, 'the busy sender kept its slot');
  });

  test('a silent client that never hangs up loses its slot all the same', { timeout: 60_000 }, async (t) => {
    const setup = await startGcmDaemon(['--idle-timeout', '300ms', '--max-connections', '1']);
    t.after(() => setup.close());
    const clinger = await cling(setup.daemon.socket);
    t.after(() => clinger.socket.destroy());
    await clinger.ended;
    assert.equal(clinger.received(), '', 'closed without a word');
    // It still holds its end open; a new client must be served once the daemon lets go.
    const next = await connectServed(() => setup.daemon.connect(), 'next');
    t.after(() => next.close());
    assert.deepEqual(await next.request({ cmd: 'ping', id: 2 }), { ok: true, id: 2 });
  });
});

describe('many idle connections', () => {
  test('1,000 idle connections do not stop another client being served', { timeout: 60_000 }, async (t) => {
    const setup = await startGcmDaemon();
    t.after(() => setup.close());
    const idle: LineClient[] = [];
    t.after(() => idle.forEach((client) => client.close()));
    for (let batch = 0; batch < 10; batch++) {
      idle.push(...(await Promise.all(Array.from({ length: 100 }, () => setup.daemon.connect()))));
    }
    const other = await setup.daemon.connect();
    t.after(() => other.close());
    assert.deepEqual(await other.request({ cmd: 'send', id: 'other', tokens: ['ok-other'], payload: { a: 1 } }).then((r) => [r.ok, r.id]), [true, 'other']);
    // The idle ones were admitted and are still there to be served.
    for (const client of [idle[0], idle[499], idle[999]] as LineClient[]) assert.deepEqual(await client.request({ cmd: 'ping' }), { ok: true });
    const report = await setup.daemon.settled();
    assert.equal(report.successes, 1);
  });
});
