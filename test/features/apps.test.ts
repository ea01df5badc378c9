// Several apps in one daemon, end to end: an Android (FCM v1), an iOS (APNs)
// and a browser (Web Push) app at their fakes get a mixed batch each and settle
// with exact counts and lists per app; SIGHUP rotates the APNs key and adds an
// app without losing what is pending, and refuses a bad file, keeping the old
// apps; a bad file at start exits 2 naming the app and the field.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GOCMD, type Reply, run } from '../support/daemon.js';
import { apnsAnswers, randomDeviceToken } from '../support/fake-apns.js';
import { webPushAnswers } from '../support/fake-webpush.js';
import { daemonLaunch, startFakes, startThreeApps, type ThreeApps } from '../support/three-apps.js';
import type { DaemonProcess } from '../support/daemon.js';

type Json = Record<string, unknown>;
const counts = (report: Reply) => ({ attempts: report.attempts, successes: report.successes, failures: report.failures, notregistered: report.notregistered, pending: report.pending });
const appsOf = (setup: ThreeApps) => structuredClone(setup.apps) as { default: string; apps: Record<string, Json> };

describe('three apps in one daemon', () => {
  let setup: ThreeApps & { readonly daemon: DaemonProcess };
  before(async () => {
    // debug: the lines most likely to carry a secret by mistake are printed too.
    setup = await startThreeApps({ args: ['--retries', '3', '--log-level', 'debug'] });
  });
  after(() => setup?.close());

  test('a mixed batch for each app settles with exact counts and lists per app', async () => {
    const { daemon, apns, web } = setup;
    const android = ['ok-a1', 'ok-a2', 'flaky1-a3', 'gone-a4', 'invalid-a5'];
    const ios = Array.from({ length: 6 }, () => randomDeviceToken());
    apns.script(ios[2] as string, [apnsAnswers.internalServerError]);
    apns.script(ios[3] as string, [apnsAnswers.unregistered]);
    apns.script(ios[4] as string, [apnsAnswers.badDeviceToken]);
    apns.script(ios[5] as string, [apnsAnswers.tooManyRequests]);
    const subscriptions = [
      web.subscribe(),
      web.subscribe(),
      web.subscribe({ answers: [webPushAnswers.tooManyRequests] }),
      web.subscribe(),
      web.subscribe({ answers: [webPushAnswers.internalServerError] }),
    ];
    web.unsubscribe(subscriptions[3]?.endpoint as string);
    const browsers = subscriptions.map((subscription) => JSON.stringify(subscription));

    const notification = { title: 'Hi', body: 'there' };
    const sends = [
      { cmd: 'send', tokens: android, payload: { n: 1 }, notification },
      { cmd: 'send', app: 'ios', tokens: ios, payload: { n: 2 }, notification },
      { cmd: 'send', app: 'web', tokens: browsers, payload: { n: 3 }, notification },
    ];
    for (const send of sends) assert.equal((await daemon.request(send)).ok, true);
    await daemon.settled();

    const expected = {
      android: { attempts: 5, successes: 3, failures: 2, notregistered: 1, pending: 0 },
      ios: { attempts: 6, successes: 4, failures: 2, notregistered: 1, pending: 0 },
      web: { attempts: 5, successes: 4, failures: 1, notregistered: 1, pending: 0 },
    };
    for (const [app, want] of Object.entries(expected)) assert.deepEqual(counts(await daemon.request({ cmd: 'report', app })), want, app);
    const lists = await daemon.request({ cmd: 'notregistered' });
    assert.deepEqual(lists.by_app, { android: ['gone-a4'], ios: [ios[3]], web: [browsers[3]] });
    assert.deepEqual([...(lists.tokens as string[])].sort(), ['gone-a4', ios[3], browsers[3]].sort());

    // What each service got: APNs the alert and custom key, the browser the plaintext sent.
    const apnsRecord = await apns.waitForRequest((record) => record.token === ios[0]);
    assert.deepEqual(apnsRecord.payload, { n: 2, aps: { alert: notification } });
    assert.deepEqual(web.received(subscriptions[0]?.endpoint as string)[0]?.json, { notification, data: { n: 3 } });
    // BadDeviceToken is never listed, and is logged as a configuration problem.
    const problem = await daemon.waitForLog(/refuses our credentials/);
    assert.deepEqual(problem.reasons, { BadDeviceToken: 1 });
  });

  test('a send too large for its service is payload_too_large, whatever the app', async () => {
    const big = { n: 'x'.repeat(4096) };
    for (const app of ['ios', 'web']) {
      const reply = await setup.daemon.request({ cmd: 'send', app, tokens: ['t'], payload: big });
      assert.equal((reply.error as Json | undefined)?.code, 'payload_too_large', `${app}: ${JSON.stringify(reply)}`);
    }
  });

  test('SIGHUP with a bad file: refused with a line naming the app and field; the old apps still send', async () => {
    const { daemon, apns, web } = setup;
    const apps = appsOf(setup);
    writeFileSync(join(setup.dir, 'garbage.key'), 'not a key\n');
    (apps.apps.web as Json).vapid_private_key_file = join(setup.dir, 'garbage.key');
    setup.writeApps(apps);
    daemon.child.kill('SIGHUP');
    const refused = await daemon.waitForLog('SIGHUP: the apps file was refused; the apps in force stay');
    assert.match(String(refused.reason), /app "web": "vapid_private_key_file" .*garbage\.key: is not a P-256 private key/);

    const token = randomDeviceToken();
    const subscription = web.subscribe();
    assert.equal((await daemon.request({ cmd: 'send', app: 'ios', tokens: [token], payload: {} })).ok, true);
    assert.equal((await daemon.request({ cmd: 'send', app: 'web', tokens: [JSON.stringify(subscription)], payload: {} })).ok, true);
    await daemon.settled();
    assert.equal(apns.tries.get(token), 1);
    assert.equal(web.received(subscription.endpoint).length, 1);
    setup.writeApps(setup.apps);
  });

  test('SIGHUP with a rotated APNs key and an added app: the key takes over, nothing pending is lost', async () => {
    const { daemon, apns, web } = setup;
    // Tokens waiting to retry when the key changes: APNs asked them to come back in 3 s.
    const waiting = Array.from({ length: 5 }, () => randomDeviceToken());
    for (const token of waiting) apns.script(token, [{ ...apnsAnswers.serviceUnavailable, headers: { 'retry-after': '3' } }]);
    assert.deepEqual(await daemon.request({ cmd: 'send', app: 'web-beta', tokens: ['t'], payload: {} }).then((reply) => (reply.error as Json).code), 'bad_request');
    assert.equal((await daemon.request({ cmd: 'send', app: 'ios', tokens: waiting, payload: { n: 9 } })).ok, true);
    await Promise.all(waiting.map((token) => apns.waitForRequest((record) => record.token === token)));

    const rotated = setup.rotatedKey();
    const apps = appsOf(setup);
    Object.assign(apps.apps.ios as Json, { key: rotated.file, key_id: rotated.key.keyId });
    apps.apps['web-beta'] = { ...(apps.apps.web as Json) };
    setup.writeApps(apps);
    daemon.child.kill('SIGHUP');
    // The first good reload of this daemon (the one before was refused).
    await daemon.waitForLog('SIGHUP: apps reloaded');
    // Apple has revoked the old key: only the new one works from now on.
    apns.setKeys([rotated.key]);

    const subscription = web.subscribe();
    assert.equal((await daemon.request({ cmd: 'send', app: 'web-beta', tokens: [JSON.stringify(subscription)], payload: { beta: true } })).ok, true);
    const fresh = randomDeviceToken();
    assert.equal((await daemon.request({ cmd: 'send', app: 'ios', tokens: [fresh], payload: {} })).ok, true);
    await daemon.settled();

    assert.deepEqual(web.received(subscription.endpoint)[0]?.json, { data: { beta: true } });
    for (const token of [...waiting, fresh]) {
      const last = apns.requests.filter((record) => record.token === token).at(-1);
      assert.equal(last?.status, 200, `${token}: ${last?.reason ?? 'no request'}`);
      assert.equal(last?.providerToken?.kid, rotated.key.keyId);
    }
    const ios = await daemon.request({ cmd: 'report', app: 'ios' });
    assert.equal(ios.failures, 2, 'only the two of the mixed batch');
  });

  test('no key, provider token or VAPID signature in anything the daemon printed', async () => {
    await setup.daemon.request({ cmd: 'send', app: 'web', tokens: [JSON.stringify(setup.web.subscribe())], payload: {} });
    await setup.daemon.settled();
    const output = setup.daemon.output();
    const p8 = setup.apnsKey.privateKeyPem.split('\n')[1] as string;
    for (const secret of [setup.vapid.privateKey, p8, 'bearer ', 'Bearer ', 'vapid t=']) assert.ok(!output.includes(secret), `the output shows ${secret.slice(0, 12)}…`);
  });
});

test('an "endpoint" for a webpush app, which means nothing there: said at start, the app still sends', async (t) => {
  const setup = await startThreeApps({ edit: (apps) => ((apps as { apps: Record<string, Json> }).apps.web = { ...((apps as { apps: Record<string, Json> }).apps.web as object), endpoint: 'https://127.0.0.1:1/' }) });
  t.after(() => setup.close());
  const warning = await setup.daemon.waitForLog(/"endpoint" means nothing for a webpush app/);
  assert.equal(warning.app, 'web');
  const subscription = setup.web.subscribe();
  assert.equal((await setup.daemon.request({ cmd: 'send', app: 'web', tokens: [JSON.stringify(subscription)], payload: { still: true } })).ok, true);
  await setup.daemon.settled();
  assert.deepEqual(setup.web.received(subscription.endpoint)[0]?.json, { data: { still: true } });
});

describe('a bad apps file at start', () => {
  const start = async (edit: (apps: { apps: Record<string, Json> }, dir: string) => void) => {
    const setup = await startFakes({ edit: (apps, dir) => edit(apps as { apps: Record<string, Json> }, dir) });
    try {
      const { args, env } = daemonLaunch(setup);
      return await run(process.execPath, [GOCMD, ...args, '--socket', join(setup.dir, 'gocm.sock'), '--spool', ':memory:'], { env: { PATH: process.env.PATH, ...env } });
    } finally {
      await setup.close();
    }
  };

  test('a missing .p8: exit 2, one line naming the app and the field', async () => {
    const { code, stderr } = await start((apps, dir) => ((apps.apps.ios as Json).key = join(dir, 'AuthKey_NONE.p8')));
    assert.equal(code, 2, stderr);
    assert.match(stderr, /^gocmd: --apps .*: app "ios": "key" .*AuthKey_NONE\.p8: cannot read it \(ENOENT\)\n$/);
  });

  test('a .p8 that is not a P-256 key: exit 2, naming the app and the field', async () => {
    const { code, stderr } = await start((apps, dir) => {
      const file = join(dir, 'AuthKey_P384.p8');
      writeFileSync(file, generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
      (apps.apps.ios as Json).key = file;
    });
    assert.equal(code, 2, stderr);
    assert.match(stderr, /^gocmd: --apps .*: app "ios": "key" .*AuthKey_P384\.p8: is not an EC P-256 key/);
  });

  test('a VAPID public key that does not match the private key: exit 2, naming the app and the field', async () => {
    const { code, stderr } = await start((apps) => ((apps.apps.web as Json).vapid_public_key = `B${'A'.repeat(86)}`));
    assert.equal(code, 2, stderr);
    assert.match(stderr, /^gocmd: --apps .*: app "web": "vapid_public_key" /);
  });
});
