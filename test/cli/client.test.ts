// The client library against a real gocmd: pipelined requests get their
// replies in order; connections that fail or misbehave fail its promises.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConnectionLostError, GocmClient, UnreachableError } from '../../src/client/client.js';
import { tempDir } from '../support/daemon.js';
import { type GcmSetup, startGcmDaemon } from '../support/gcm-daemon.js';

describe('GocmClient and gocmd', () => {
  let setup: GcmSetup;
  before(async () => {
    setup = await startGcmDaemon();
  });
  after(() => setup?.close());

  test('requests written back to back get their replies in order', async (t) => {
    const client = await GocmClient.connect({ path: setup.daemon.socket });
    t.after(() => client.close());
    // Good and bad lines mixed: a refused one must not shift the others.
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, id) => client.request(id % 3 === 0 ? { cmd: 'nope', id } : { cmd: 'ping', id })),
    );
    assert.deepEqual(
      replies.map((reply) => [reply.id, reply.ok]),
      Array.from({ length: 200 }, (_, id) => [id, id % 3 !== 0]),
    );
    assert.equal(client.pending, 0);
  });

  test('close() half-closes: the requests already written are still answered', async () => {
    const client = await GocmClient.connect({ path: setup.daemon.socket });
    const reply = client.request({ cmd: 'ping', id: 'last' });
    const closed = client.close();
    assert.deepEqual(await reply, { ok: true, id: 'last' });
    await closed;
    await assert.rejects(client.request({ cmd: 'ping' }), ConnectionLostError);
  });
});

describe('GocmClient without a gocmd', () => {
  const dir = tempDir('gocmctl-client-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a missing socket: UnreachableError with the path and the code', async () => {
    const path = join(dir, 'none.sock');
    await assert.rejects(GocmClient.connect({ path }), (error: unknown) => {
      assert.ok(error instanceof UnreachableError);
      assert.equal(error.code, 'ENOENT');
      assert.equal(error.message, `cannot reach gocmd at ${path}: ENOENT (is gocmd running?)`);
      return true;
    });
  });

  /** A stand-in server that answers each connection's first line with `answer`. */
  async function server(t: { after(fn: () => unknown): void }, name: string, answer: (socket: Socket) => void): Promise<string> {
    const path = join(dir, name);
    const stub: Server = createServer((socket) => socket.once('data', () => answer(socket)));
    await new Promise<void>((resolve) => stub.listen(path, resolve));
    t.after(() => new Promise((resolve) => stub.close(resolve)));
    return path;
  }

  test('a connection dropped with requests unanswered fails every one of them', async (t) => {
    const path = await server(t, 'drop.sock', (socket) => socket.destroy());
    const client = await GocmClient.connect({ path });
    const results = await Promise.allSettled([client.request({ cmd: 'ping' }), client.request({ cmd: 'report' })]);
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.ok(result.reason instanceof ConnectionLostError);
      assert.match(result.reason.message, new RegExp(`lost the connection to gocmd at ${path}`));
    }
  });

  test('a reply that is not JSON ends the connection: later replies could not be matched', async (t) => {
    const path = await server(t, 'garbage.sock', (socket) => socket.write('<html>\n{"ok":true}\n'));
    const client = await GocmClient.connect({ path });
    const results = await Promise.allSettled([client.request({ cmd: 'ping' }), client.request({ cmd: 'ping' })]);
    assert.deepEqual(
      results.map((result) => result.status),
      ['rejected', 'rejected'],
    );
    assert.match(String((results[0] as PromiseRejectedResult).reason), /not JSON/);
  });
});
