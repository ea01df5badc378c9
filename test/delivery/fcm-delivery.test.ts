// Delivery through FCM HTTP v1 end to end: a real gocmd with a service-account
// file, the fake FCM server over TLS and HTTP/2, the report and lists after a mixed batch.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { GOCMD, run, tempDir } from '../support/daemon.js';
import { startFcmDaemon } from '../support/fcm-daemon.js';
import { generateServiceAccountKey, writeServiceAccount } from '../support/service-account.js';

describe('delivery with the fcm provider', () => {
  test('a mixed batch settles over HTTP/2: counters, lists, and one token grant', async (t) => {
    const setup = await startFcmDaemon();
    t.after(() => setup.close());
    const { daemon, upstream } = setup;
    const tokens = ['ok-1', 'ok-2', 'gone-1', 'mismatch-1', 'invalid-1', 'flaky1-a', 'internal-1', 'thirdparty-1'];
    const sent = await daemon.request({ cmd: 'send', tokens, payload: { title: 'Hi', n: 3, nested: { a: [1] } }, priority: 'high', ttl: 60 });
    assert.equal(sent.accepted, tokens.length);
    const report = await daemon.settled();
    assert.equal(report.successes, 3, JSON.stringify(report)); // ok-1, ok-2, flaky1-a
    assert.equal(report.failures, 5);
    assert.equal(report.notregistered, 1, 'only UNREGISTERED is listed; SENDER_ID_MISMATCH is not');
    assert.equal(upstream.sends.get('internal-1'), 3, 'INTERNAL is retried --retries times');
    assert.equal(upstream.sends.get('invalid-1'), 1, 'INVALID_ARGUMENT is final');
    assert.equal(upstream.sends.get('mismatch-1'), 1);
    assert.equal(upstream.grants, 1, 'one access token for the whole batch');
    assert.ok((upstream.requestsByHttpVersion.get('2.0') ?? 0) > 0, 'HTTP/2 was used');
    assert.equal(upstream.requestsByHttpVersion.get('1.1') ?? 0, 0);
    assert.deepEqual((await daemon.request({ cmd: 'notregistered' })).tokens, ['gone-1']);

    const body = upstream.bodies.find((b) => (b as { message: { token: string } }).message.token === 'ok-1') as {
      message: { data: Record<string, string>; android: Record<string, unknown> };
    };
    assert.deepEqual(body.message.data, { title: 'Hi', n: '3', nested: '{"a":[1]}' });
    assert.equal(body.message.android.priority, 'HIGH');
    assert.equal(body.message.android.ttl, '60s');

    await daemon.stop();
    const output = daemon.output();
    assert.match(output, /SENDER_ID_MISMATCH/, 'the configuration problem is logged');
    const pem = readFileSync(setup.account.path, 'utf8');
    const keyBody = (JSON.parse(pem) as { private_key: string }).private_key.split('\n')[1] as string;
    assert.ok(!output.includes(keyBody.slice(0, 16)), 'no key material in the output');
    assert.doesNotMatch(output, /ya29\.|Bearer |eyJhbGci/, 'no access token or assertion in the output');
  });

  test('a forced 401 renews the access token once and delivers', async (t) => {
    const setup = await startFcmDaemon();
    t.after(() => setup.close());
    setup.upstream.revokeAccessTokens();
    await setup.daemon.request({ cmd: 'send', tokens: ['ok-x'], payload: {} });
    const first = await setup.daemon.settled();
    assert.equal(first.successes, 1);
    setup.upstream.revokeAccessTokens();
    await setup.daemon.request({ cmd: 'send', tokens: ['ok-y', 'ok-z'], payload: {} });
    const report = await setup.daemon.settled();
    assert.equal(report.successes, 3);
    assert.equal(setup.upstream.grants, 2);
  });
});

describe('bad service-account files exit 2 without printing the key', () => {
  const key = generateServiceAccountKey();
  const keyLine = key.privateKeyPem.split('\n')[1] as string;
  const variants: Array<[string, Record<string, unknown> | string]> = [
    ['not JSON', `{"private_key": "${keyLine}`],
    ['the wrong type', { type: 'authorized_user' }],
    ['no private_key', { private_key: undefined }],
    ['no client_email', { client_email: undefined }],
    ['no token_uri', { token_uri: undefined }],
    ['a private key that is not a key', { private_key: `-----BEGIN PRIVATE KEY-----\n${keyLine}\n-----END PRIVATE KEY-----\n` }],
  ];
  for (const [name, variant] of variants) {
    test(name, async (t) => {
      const dir = tempDir();
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      let path: string;
      if (typeof variant === 'string') {
        path = join(dir, 'sa.json');
        writeFileSync(path, variant);
      } else {
        path = writeServiceAccount(dir, { tokenUri: 'http://127.0.0.1:9/token', key, fields: variant }).path;
      }
      const { code, stderr, stdout } = await run(process.execPath, [GOCMD, '--credentials', path, '--socket', join(dir, 's'), '--spool', ':memory:']);
      assert.equal(code, 2, stderr);
      assert.match(stderr, /sa\.json|service-account|credentials/i);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.ok(!(stderr + stdout).includes(keyLine.slice(0, 12)), `no key material: ${stderr}`);
    });
  }

  test('a missing file', async () => {
    const { code, stderr } = await run(process.execPath, [GOCMD, '--credentials', '/nonexistent/sa.json', '--socket', '/tmp/x', '--spool', ':memory:']);
    assert.equal(code, 2);
    assert.match(stderr, /\/nonexistent\/sa\.json/);
  });
});
