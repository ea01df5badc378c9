// GoCM's HTTP API through a real gocmd and the fake legacy push service:
// sends as forms and JSON over one keep-alive connection, pipelining, the
// report endpoints' exact shapes, and what is refused with which status.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type GcmSetup, startGcmDaemon } from '../support/gcm-daemon.js';
import { errorCodeOf, form, get, type HttpRequest, httpPort, jsonSend, RawHttp, requestText } from '../support/http-client.js';

describe("GoCM's HTTP API", () => {
  let setup: GcmSetup;
  let port: number;
  /** The data payload the push service received for each token. */
  const received = new Map<string, unknown>();

  before(async () => {
    setup = await startGcmDaemon(['--http', '127.0.0.1:0', '--max-line-bytes', '16384'], {
      onRequest: ({ body }) => {
        const { registration_ids: ids, data } = body as { registration_ids: string[]; data: unknown };
        for (const token of ids) received.set(token, data);
      },
    });
    port = httpPort(setup.daemon);
  });
  after(() => setup.close());

  const open = (): Promise<RawHttp> => RawHttp.connect(port);

  test('form and JSON sends over one keep-alive connection, each "ok\\n" once spooled, then delivered as given', async () => {
    const client = await open();
    const payload = { title: 'Hi & bye = 100% +1', n: 3, nested: { é: [1, 2] } };
    const answers = [
      await client.request(form([['tokens', 'ok-form-1'], ['tokens', 'ok-form-2'], ['payload', JSON.stringify(payload)]])),
      await client.request(jsonSend({ tokens: ['ok-json-1'], payload, priority: 'high' })),
      // GoCM's payload as a string works in a JSON body too.
      await client.request(jsonSend({ tokens: ['ok-json-2'], payload: JSON.stringify(payload) })),
      await client.request({ ...form([['tokens', 'ok-form-3'], ['payload', '{"a":"b"}']]), headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' } }),
    ];
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.equal(answer.body, 'ok\n', "GoCM's exact body");
      assert.equal(answer.headers.connection, 'keep-alive');
    }
    const report = JSON.parse((await client.request(get('/gcm/report'))).body) as Record<string, number>;
    assert.ok(report.attempts !== undefined && report.attempts >= 5, 'every send was accepted before its ok');
    await setup.daemon.settled();
    for (const token of ['ok-form-1', 'ok-form-2', 'ok-json-1', 'ok-json-2']) assert.deepEqual(received.get(token), payload, token);
    assert.deepEqual(received.get('ok-form-3'), { a: 'b' });
    assert.equal(client.socket.destroyed, false, 'the one connection served every request');
    client.close();
  });

  test('pipelined requests are answered in order on one connection', async () => {
    const client = await open();
    client.write(
      Buffer.concat([
        requestText(form([['tokens', 'ok-pipe-1'], ['payload', '{}']])),
        requestText(get('/gcm/nothing-here')),
        requestText(jsonSend({ tokens: [] })),
        requestText(get('/gcm/report')),
        requestText(form([['tokens', 'ok-pipe-2'], ['payload', '{}']])),
      ]),
    );
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await client.next()).status);
    assert.deepEqual(statuses, [200, 404, 400, 200, 200]);
    await setup.daemon.settled();
    assert.ok(received.has('ok-pipe-1') && received.has('ok-pipe-2'));
    client.close();
  });

  test('bad requests: the status and code of each, the connection open after every one, nothing accepted', async () => {
    const client = await open();
    const before = JSON.parse((await client.request(get('/gcm/report'))).body) as { attempts: number };
    const text = (type: string | undefined, body: string): HttpRequest => ({ method: 'POST', path: '/gcm/send', headers: type ? { 'content-type': type } : {}, body });
    const cases: Array<[string, HttpRequest, number, string]> = [
      ['a text body', text('text/plain', 'tokens=ok-x'), 415, 'bad_request'],
      ['a multipart form (GoCM read none)', text('multipart/form-data; boundary=b', '--b\r\nContent-Disposition: form-data; name="tokens"\r\n\r\nok-x\r\n--b--\r\n'), 415, 'bad_request'],
      ['no Content-Type', text(undefined, 'tokens=ok-x&payload={}'), 415, 'bad_request'],
      ['a gzipped form', { ...form([['tokens', 'ok-x']]), headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip' } }, 415, 'bad_request'],
      ['a form without tokens', form([['payload', '{"a":1}']]), 400, 'bad_request'],
      ['an empty token', form([['tokens', ''], ['payload', '{}']]), 400, 'bad_request'],
      ['a payload that is not JSON', form([['tokens', 'ok-x'], ['payload', "{'title': 'single quotes'}"]]), 400, 'bad_json'],
      ['an empty payload', form([['tokens', 'ok-x'], ['payload', '']]), 400, 'bad_json'],
      ['a payload that is not an object', form([['tokens', 'ok-x'], ['payload', '[1,2]']]), 400, 'bad_request'],
      ['a JSON body that is not JSON', text('application/json', '{"tokens":['), 400, 'bad_json'],
      ['a JSON body that is an array', text('application/json', '["ok-x"]'), 400, 'bad_json'],
      ['a JSON body with a typo', jsonSend({ token: ['ok-x'] }), 400, 'bad_request'],
      ['a JSON body that asks for another command', jsonSend({ cmd: 'notregistered', tokens: ['ok-x'] }), 400, 'bad_request'],
      ['a body over --max-line-bytes', form([['tokens', 'ok-x'], ['payload', JSON.stringify({ x: 'y'.repeat(20_000) })]]), 413, 'line_too_long'],
      ['a chunked body over --max-line-bytes', { ...text('application/json', ''), headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, body: `4e20\r\n${'z'.repeat(20_000)}\r\n0\r\n\r\n` }, 413, 'line_too_long'],
      ['a data payload over 4096 bytes', form([['tokens', 'ok-x'], ['payload', JSON.stringify({ x: 'y'.repeat(5000) })]]), 413, 'payload_too_large'],
      ['an unknown app', form([['tokens', 'ok-x'], ['payload', '{}'], ['app', 'nope']]), 400, 'bad_request'],
      ['GET /gcm/send', get('/gcm/send'), 405, 'bad_request'],
      ['POST /gcm/report', { ...text('application/json', '{}'), path: '/gcm/report' }, 405, 'bad_request'],
      ['an unknown path', get('/gcm/report/everything'), 404, 'not_found'],
    ];
    for (const [name, request, status, code] of cases) {
      const answer = await client.request(request);
      assert.equal(answer.status, status, `${name}: ${answer.body}`);
      assert.equal(errorCodeOf(answer), code, `${name}: ${answer.body}`);
      assert.match(answer.headers['content-type'] ?? '', /^application\/json/, name);
      assert.equal(JSON.parse(answer.body).ok, false, `${name}: the protocol's error object`);
      assert.notEqual(answer.headers.connection, 'close', `${name}: the connection stays open`);
    }
    const allow = (await client.request(get('/gcm/send'))).headers.allow;
    assert.equal(allow, 'POST');
    assert.equal((await client.request({ method: 'DELETE', path: '/gcm/report/canonical' })).headers.allow, 'GET');
    assert.match((await client.request(text('text/plain', 'x'))).headers['accept-post'] ?? '', /application\/x-www-form-urlencoded/);
    // Still the same connection, and it still sends.
    assert.equal((await client.request(form([['tokens', 'ok-after-errors'], ['payload', '{}']]))).body, 'ok\n');
    const after = JSON.parse((await client.request(get('/gcm/report'))).body) as { attempts: number };
    assert.equal(after.attempts - before.attempts, 1, 'no refused body was accepted, in part or whole');
    client.close();
  });
});
