// The HTTP API against careless and hostile clients: a full spool answered
// 503 with Retry-After, slow clients (headers or body dribbled) closed at the
// bound while idle keep-alive clients are not, and the stop.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { startGcmDaemon } from '../support/gcm-daemon.js';
import { errorCodeOf, form, get, httpPort, RawHttp } from '../support/http-client.js';

/** Write `text` every `everyMs` until the daemon closes the connection; resolves with the ms it took from the first write. */
async function dribble(client: RawHttp, first: string, text: string, everyMs: number): Promise<number> {
  const started = performance.now();
  client.write(first);
  const timer = setInterval(() => client.socket.writable && client.write(text), everyMs);
  await client.closed;
  clearInterval(timer);
  return performance.now() - started;
}

describe('HTTP API limits', () => {
  test('a full spool: 503 busy with Retry-After, nothing kept, the connection still serves', async (t) => {
    // The push service never answers: what is accepted stays pending.
    const setup = await startGcmDaemon(['--http', '127.0.0.1:0', '--spool-max', '2', '--request-timeout', '1h'], { behaviour: 'hang' });
    t.after(() => setup.close());
    const client = await RawHttp.connect(httpPort(setup.daemon));
    t.after(() => client.close());
    assert.equal((await client.request(form([['tokens', 'ok-1'], ['tokens', 'ok-2'], ['payload', '{}']]))).body, 'ok\n');
    const busy = await client.request(form([['tokens', 'ok-3'], ['payload', '{}']]));
    assert.equal(busy.status, 503);
    assert.equal(errorCodeOf(busy), 'busy');
    assert.equal(busy.headers['retry-after'], '1');
    const report = JSON.parse((await client.request(get('/gcm/report'))).body) as { attempts: number; pending: number };
    assert.deepEqual([report.attempts, report.pending], [2, 2], 'the busy send kept nothing');
  });

  test('slow clients are closed with 408 at --http-timeout (headers) and twice it (body); idle keep-alive ones are not', { timeout: 30_000 }, async (t) => {
    const timeoutMs = 300;
    const setup = await startGcmDaemon(['--http', '127.0.0.1:0', '--http-timeout', `${timeoutMs}ms`]);
    t.after(() => setup.close());
    const port = httpPort(setup.daemon);
    const idle = await RawHttp.connect(port);
    t.after(() => idle.close());
    assert.equal((await idle.request(get('/gcm/report'))).status, 200);

    const [loris, slowBody, silent] = await Promise.all([RawHttp.connect(port), RawHttp.connect(port), RawHttp.connect(port)]);
    const silentStart = performance.now();
    const [headersMs, bodyMs, silentMs] = await Promise.all([
      // A header line every 50 ms, for ever: each keeps the connection busy, none completes the headers.
      dribble(loris, 'POST /gcm/send HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n', 50),
      dribble(slowBody, 'POST /gcm/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n', 'a', 50),
      silent.closed.then(() => performance.now() - silentStart),
    ]);
    for (const [client, name] of [[loris, 'headers dribbled'], [slowBody, 'body dribbled'], [silent, 'nothing sent']] as const) {
      assert.equal((await client.next()).status, 408, name);
    }
    // The bound plus node's checking interval (a quarter of it), with room for a loaded machine.
    const slack = 2000;
    assert.ok(headersMs >= timeoutMs - 20 && headersMs < timeoutMs + slack, `headers dribbled: closed after ${headersMs} ms`);
    assert.ok(silentMs >= timeoutMs - 20 && silentMs < timeoutMs + slack, `nothing sent: closed after ${silentMs} ms`);
    assert.ok(bodyMs >= 2 * timeoutMs - 20 && bodyMs < 2 * timeoutMs + slack, `body dribbled: closed after ${bodyMs} ms`);
    // Idle all that while, longer than the bounds: still served (--idle-timeout is 0, never).
    assert.equal((await idle.request(get('/gcm/report'))).status, 200);
  });

  test('--idle-timeout closes an idle keep-alive connection; SIGTERM closes the rest and exits 0', async (t) => {
    const setup = await startGcmDaemon(['--http', '127.0.0.1:0', '--idle-timeout', '200ms']);
    t.after(() => setup.close());
    const port = httpPort(setup.daemon);
    const [idle, busy] = await Promise.all([RawHttp.connect(port), RawHttp.connect(port)]);
    t.after(() => [idle, busy].forEach((client) => client.close()));
    assert.equal((await idle.request(get('/gcm/report'))).status, 200);
    await idle.closed;
    assert.equal((await busy.request(form([['tokens', 'ok-1'], ['payload', '{}']]))).body, 'ok\n');
    const exit = setup.daemon.stop('SIGTERM');
    await busy.closed;
    assert.deepEqual(await exit, { code: 0, signal: null });
  });
});
