// The line protocol end to end: a real gocmd on a Unix socket and on TCP,
// every command and error code, ordering, pipelining, half-close, backpressure.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LineClient, type Reply } from '../support/daemon.js';
import { type GcmSetup, startGcmDaemon } from '../support/gcm-daemon.js';
import { createConnection } from 'node:net';

function errorCode(reply: Reply): string | undefined {
  return (reply.error as { code?: string } | undefined)?.code;
}

for (const transport of ['unix', 'tcp'] as const) {
  describe(`protocol over ${transport}`, () => {
    let setup: GcmSetup;
    let open: () => Promise<LineClient>;

    before(async () => {
      setup = await startGcmDaemon(transport === 'tcp' ? ['--tcp', '127.0.0.1:0'] : []);
      if (transport === 'unix') {
        open = () => setup.daemon.connect();
        return;
      }
      const listening = setup.daemon.logs().find((line) => typeof line.tcp === 'string');
      const [, host, port] = /^\[?(.+?)\]?:(\d+)$/.exec(String(listening?.tcp)) ?? [];
      open = () =>
        new Promise((resolve, reject) => {
          const socket = createConnection(Number(port), host);
          socket.once('connect', () => resolve(new LineClient(socket)));
          socket.once('error', reject);
        });
    });
    after(() => setup.close());

    test('ping answers and echoes string and number ids', async () => {
      const client = await open();
      assert.deepEqual(await client.request({ cmd: 'ping' }), { ok: true });
      assert.deepEqual(await client.request({ cmd: 'ping', id: 'a-1' }), { ok: true, id: 'a-1' });
      assert.deepEqual(await client.request({ cmd: 'ping', id: 42 }), { ok: true, id: 42 });
      client.close();
    });

    test('send answers with a message id and the count of distinct tokens', async () => {
      const client = await open();
      const reply = await client.request({ cmd: 'send', id: 's', tokens: ['ok-1', 'ok-2', 'ok-1'], payload: { title: 'Hi', n: 3 } });
      assert.equal(reply.ok, true);
      assert.equal(reply.id, 's');
      assert.equal(reply.accepted, 2);
      assert.match(String(reply.msg), /^[0-9a-f-]{36}$/);
      client.close();
    });

    const refusals: Array<[string, string, string]> = [
      ['not JSON', '{"cmd":', 'bad_json'],
      ['a JSON array', '[1,2]', 'bad_json'],
      ['a JSON string', '"ping"', 'bad_json'],
      ['no cmd', '{"id":1}', 'unknown_command'],
      ['an unknown cmd', '{"cmd":"explode","id":1}', 'unknown_command'],
      ['tokens missing', '{"cmd":"send","id":1,"payload":{}}', 'bad_request'],
      ['tokens empty', '{"cmd":"send","id":1,"tokens":[],"payload":{}}', 'bad_request'],
      ['a token not a string', '{"cmd":"send","id":1,"tokens":[1],"payload":{}}', 'bad_request'],
      ['payload not an object', '{"cmd":"send","id":1,"tokens":["ok"],"payload":[1]}', 'bad_request'],
      ['keep not a boolean', '{"cmd":"canonical","id":1,"keep":"yes"}', 'bad_request'],
      ['a payload over 4096 bytes', JSON.stringify({ cmd: 'send', id: 1, tokens: ['ok'], payload: { x: 'y'.repeat(5000) } }), 'payload_too_large'],
    ];
    test('bad lines get their error code and the connection goes on', async () => {
      const client = await open();
      for (const [name, line, code] of refusals) {
        const reply = await client.request(line);
        assert.equal(reply.ok, false, name);
        assert.equal(errorCode(reply), code, `${name}: ${JSON.stringify(reply)}`);
        assert.ok(String((reply.error as { message: string }).message).length > 10, `${name} has a message`);
        if (line.includes('"id":1')) assert.equal(reply.id, 1, `${name} echoes its id`);
        assert.deepEqual(await client.request({ cmd: 'ping', id: name }), { ok: true, id: name }, `alive after ${name}`);
      }
      client.close();
    });

    test('blank lines are ignored and \\r\\n is tolerated', async () => {
      const client = await open();
      client.socket.write('\n\r\n   \n{"cmd":"ping","id":1}\r\n');
      assert.deepEqual(await client.next(), { ok: true, id: 1 });
      client.close();
    });

    test('a line over --max-line-bytes gets line_too_long and the next line is answered', async () => {
      const client = await open();
      client.write({ cmd: 'ping', id: 'before' });
      client.socket.write('{"cmd":"send","tokens":["' + 'x'.repeat(3 * 1024 * 1024) + '"]}\n');
      client.write({ cmd: 'ping', id: 'after' });
      assert.deepEqual(await client.next(), { ok: true, id: 'before' });
      assert.equal(errorCode(await client.next()), 'line_too_long');
      assert.deepEqual(await client.next(), { ok: true, id: 'after' });
      client.close();
    });

    test('hundreds of pipelined lines are answered once each, in order', async () => {
      const client = await open();
      const lines = Array.from({ length: 600 }, (_, i) => {
        if (i % 3 === 0) return JSON.stringify({ cmd: 'send', id: i, tokens: [`ok-p${i}`], payload: { i } });
        if (i % 3 === 1) return JSON.stringify({ cmd: 'ping', id: i });
        return i % 2 === 0 ? `{"id":${i},` : JSON.stringify({ cmd: 'report', id: i });
      });
      client.socket.write(lines.join('\n') + '\n');
      for (let i = 0; i < lines.length; i++) {
        const reply = await client.next();
        if (i % 3 === 2 && i % 2 === 0) {
          assert.equal(errorCode(reply), 'bad_json', `line ${i}`);
          continue;
        }
        assert.equal(reply.id, i, `reply ${i} in order`);
        assert.equal(reply.ok, true);
      }
      client.close();
    });

    test('report has GoCM\'s keys, all numbers', async () => {
      const reply = await (await open()).request({ cmd: 'report' });
      for (const key of ['attempts', 'failures', 'pending', 'canonicals', 'notregistered', 'successes', 'retries']) {
        assert.equal(typeof reply[key], 'number', key);
      }
    });

    test('queue reports pending tokens by state', async () => {
      const reply = await (await open()).request({ cmd: 'queue' });
      for (const key of ['pending', 'queued', 'inflight', 'retrying']) assert.equal(typeof reply[key], 'number', key);
      assert.ok('oldest_age_ms' in reply);
    });

    test('lists are arrays, never null', async () => {
      const client = await open();
      assert.ok(Array.isArray((await client.request({ cmd: 'canonical', keep: true })).canonical_replacements));
      assert.ok(Array.isArray((await client.request({ cmd: 'notregistered', keep: true })).tokens));
      client.close();
    });

    test('a half-closed connection gets every reply, then the daemon closes', async () => {
      const client = await open();
      client.socket.end(Array.from({ length: 50 }, (_, i) => JSON.stringify({ cmd: 'send', id: i, tokens: [`ok-h${i}`] })).join('\n') + '\n');
      for (let i = 0; i < 50; i++) assert.equal((await client.next()).id, i);
      await client.closed();
    });
  });
}

