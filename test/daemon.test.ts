// The daemon as a Unix program: socket file handling, configuration errors,
// signals, shell clients (nc, socat) and clients that do not read.
import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { GOCMD, run, tempDir } from './support/daemon.js';
import { startGcmDaemon } from './support/gcm-daemon.js';

const GCM = ['--provider', 'gcm', '--apikey', 'k', '--gcm-endpoint', 'http://127.0.0.1:9/send', '--spool', ':memory:'];

function gocmd(args: readonly string[], env: NodeJS.ProcessEnv = {}): ReturnType<typeof run> {
  return run(process.execPath, [GOCMD, ...args], { env: { PATH: process.env.PATH, ...env } });
}

describe('configuration errors exit 2 with one clear line', () => {
  const dir = tempDir();
  const socket = join(dir, 's.sock');
  const cases: Array<[string, string[], RegExp, NodeJS.ProcessEnv?]> = [
    ['an unknown flag', [...GCM, '--socket', socket, '--frobnicate'], /frobnicate/],
    ['a bad --retries', [...GCM, '--socket', socket, '--retries', 'many'], /--retries/],
    ['a negative --retries', [...GCM, '--socket', socket, '--retries', '-1'], /--retries/],
    ['a bad duration', [...GCM, '--socket', socket, '--request-timeout', 'soon'], /--request-timeout/],
    ['a missing key file', ['--provider', 'gcm', '--apikey-file', join(dir, 'nope'), '--socket', socket], /cannot read .*nope: ENOENT/],
    ['gcm without a key', ['--provider', 'gcm', '--socket', socket], /needs a key/],
    ['fcm without credentials', ['--socket', socket], /service-account file/],
    ['a remote TCP address', [...GCM, '--socket', socket, '--tcp', '0.0.0.0:7070'], /not a loopback address/],
    ['a bad --tcp', [...GCM, '--socket', socket, '--tcp', 'nowhere'], /HOST:PORT/],
    ['a remote --metrics address', [...GCM, '--socket', socket, '--metrics', '0.0.0.0:9464'], /--metrics: 0\.0\.0\.0 is not a loopback address; add --tcp-allow-remote/],
    ['a bad --metrics', [...GCM, '--socket', socket, '--metrics', 'nowhere'], /--metrics: "nowhere" is not HOST:PORT/],
    ['a bad endpoint', [...GCM, '--socket', socket, '--gcm-endpoint', 'ftp://x'], /--gcm-endpoint/],
    ['a bad env value', [...GCM, '--socket', socket], /--retries/, { GOCM_RETRIES: 'x' }],
    ['a missing --config file', [...GCM, '--socket', socket, '--config', join(dir, 'none.json')], /config/],
    ['an unknown GOCM_* variable, named', [...GCM, '--socket', socket], /GOCM_FOO names no setting/, { GOCM_FOO: 'bar' }],
    ['--request-timeout 0', [...GCM, '--socket', socket, '--request-timeout', '0'], /--request-timeout: "0" is shorter than 1 ms/],
    ['--max-backoff 0', [...GCM, '--socket', socket, '--max-backoff', '0s'], /--max-backoff/],
    ['--drain-timeout 0', [...GCM, '--socket', socket, '--drain-timeout', '0'], /--drain-timeout/],
    ['a duration past what a timer can wait', [...GCM, '--socket', socket, '--request-timeout', '25d'], /not a duration/],
    ['a duration past 2^31-1 ms', [...GCM, '--socket', socket, '--max-backoff', '600h'], /longer than a timer can wait/],
    ['a socket path in a missing directory', [...GCM, '--socket', join(dir, 'no', 'such', 'dir.sock')], /cannot listen/],
  ];
  for (const [name, args, message, env] of cases) {
    test(name, async () => {
      const { code, stderr, stdout } = await gocmd(args, env);
      assert.equal(code, 2, stderr + stdout);
      assert.match(stderr, message);
      assert.equal(stderr.trim().split('\n').length, 1, `one line: ${stderr}`);
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    });
  }
  test('cleanup', () => rmSync(dir, { recursive: true, force: true }));
});

describe('settings from the environment and a config file', () => {
  test('GOCM_* variables and --config set flags', async (t) => {
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, 'gocm.json');
    writeFileSync(config, JSON.stringify({ 'max-line-bytes': 100 }));
    const setup = await startGcmDaemon(['--config', config], {}, dir);
    t.after(() => setup.close());
    const client = await setup.daemon.connect();
    t.after(() => client.close());
    const reply = await client.request({ cmd: 'ping', id: 'x'.repeat(200) });
    assert.equal((reply.error as { code: string }).code, 'line_too_long');
  });
});

describe('the socket file', () => {
  test('is created with mode 0660 by default and removed on SIGTERM, exit 0', async () => {
    const setup = await startGcmDaemon();
    try {
      assert.equal(statSync(setup.daemon.socket).mode & 0o777, 0o660);
      const exit = await setup.daemon.stop('SIGTERM');
      assert.equal(exit.code, 0);
      assert.equal(existsSync(setup.daemon.socket), false);
    } finally {
      await setup.close();
    }
  });

  test('--socket-mode is honoured', async (t) => {
    const setup = await startGcmDaemon(['--socket-mode', '0600']);
    t.after(() => setup.close());
    assert.equal(statSync(setup.daemon.socket).mode & 0o777, 0o600);
  });

  test('a stale socket file is replaced', async (t) => {
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'gocm.sock');
    // A socket file nobody listens on: its owner was killed before it could unlink it.
    const killed = await run(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    assert.equal(killed.code, null);
    assert.ok(statSync(path).isSocket(), 'a stale socket file is there');
    const setup = await startGcmDaemon([], {}, dir);
    t.after(() => setup.close());
    assert.deepEqual(await setup.daemon.request({ cmd: 'ping' }), { ok: true });
  });

  test('a live daemon on the same path is not replaced: the second exits 2', async (t) => {
    const setup = await startGcmDaemon();
    t.after(() => setup.close());
    const { code, stderr } = await gocmd([...GCM, '--socket', setup.daemon.socket]);
    assert.equal(code, 2);
    assert.match(stderr, /already listening on/);
    assert.deepEqual(await setup.daemon.request({ cmd: 'ping' }), { ok: true }, 'the first still serves');
  });

  test('a path that is not a socket is left alone: exit 2', async (t) => {
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'file');
    writeFileSync(path, 'precious');
    const { code, stderr } = await gocmd([...GCM, '--socket', path]);
    assert.equal(code, 2);
    assert.match(stderr, /is not a socket/);
  });
});

describe('shell clients', () => {
  test('printf … | nc -U -N gets every reply', async (t) => {
    const setup = await startGcmDaemon();
    t.after(() => setup.close());
    const input = '{"cmd":"ping","id":1}\n{"cmd":"send","id":2,"tokens":["ok-nc"],"payload":{"a":1}}\n{"cmd":"report","id":3}\n';
    const { code, stdout } = await run('nc', ['-U', '-N', setup.daemon.socket], { input });
    assert.equal(code, 0);
    const replies = stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: number; ok: boolean });
    assert.deepEqual(replies.map((r) => [r.id, r.ok]), [[1, true], [2, true], [3, true]]);
  });

  test('socat - UNIX-CONNECT:SOCK gets every reply', async (t) => {
    const setup = await startGcmDaemon();
    t.after(() => setup.close());
    const input = Array.from({ length: 100 }, (_, i) => JSON.stringify({ cmd: 'send', id: i, tokens: [`ok-s${i}`] })).join('\n') + '\n';
    const { code, stdout } = await run('socat', ['-t', '30', '-', `UNIX-CONNECT:${setup.daemon.socket}`], { input });
    assert.equal(code, 0);
    const ids = stdout.trim().split('\n').map((line) => (JSON.parse(line) as { id: number }).id);
    assert.deepEqual(ids, Array.from({ length: 100 }, (_, i) => i));
  });
});

describe('a client that does not read', () => {
  test('is not read from while its replies pile up; others are served; nothing is lost', async (t) => {
    const setup = await startGcmDaemon();
    t.after(() => setup.close());
    const greedy = await setup.daemon.connect();
    t.after(() => greedy.close());
    greedy.socket.pause();
    const lines = 100_000;
    const line = JSON.stringify({ cmd: 'ping', id: 1, pad: 'p'.repeat(100) }) + '\n';
    let written = 0;
    // Write until the daemon stops reading (our writes back up), bounded by `lines`.
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        while (written < lines) {
          written++;
          if (!greedy.socket.write(line)) {
            greedy.socket.once('drain', pump);
            setTimeout(resolve, 0);
            return;
          }
        }
        resolve();
      };
      pump();
    });
    assert.deepEqual(await setup.daemon.request({ cmd: 'ping', id: 'other' }), { ok: true, id: 'other' });
    greedy.socket.resume();
    let answered = 0;
    while (answered < written) {
      await greedy.next();
      answered++;
    }
    assert.equal(answered, written);
  });
});

describe('stopping', () => {
  test('SIGTERM answers what was received, lets requests in flight finish, and exits 0', async (t) => {
    const setup = await startGcmDaemon(['--drain-timeout', '20s'], { latencyMs: 400 });
    t.after(() => setup.close());
    const client = await setup.daemon.connect();
    t.after(() => client.close());
    assert.equal((await client.request({ cmd: 'send', tokens: ['ok-drain'], payload: {} })).ok, true);
    await new Promise<void>((resolve) => {
      const check = (): void => (setup.upstream.requests > 0 ? resolve() : void setImmediate(check));
      check();
    });
    const exit = setup.daemon.stop('SIGTERM');
    await client.closed();
    assert.equal((await exit).code, 0);
    assert.equal(setup.upstream.tokensSeen.get('ok-drain'), 1);
    const stopped = setup.daemon.logs().find((line) => line.msg === 'stopped; pending tokens stay in the spool');
    assert.equal(stopped?.pending, 0, 'the request in flight finished and was recorded');
  });

  test('a second signal does not start a second shutdown', async (t) => {
    const setup = await startGcmDaemon(['--drain-timeout', '20s'], { latencyMs: 300 });
    t.after(() => setup.close());
    await setup.daemon.request({ cmd: 'send', tokens: ['ok-twice'], payload: {} });
    setup.daemon.child.kill('SIGTERM');
    setup.daemon.child.kill('SIGINT');
    assert.equal((await setup.daemon.exited).code, 0);
    assert.equal(setup.daemon.logs().filter((line) => line.msg === 'stopping').length, 1);
  });

  test('an idle connection that sends after the stop gets shutting_down, and is closed once it half-closes', async (t) => {
    const setup = await startGcmDaemon(['--drain-timeout', '20s'], { behaviour: 'hang', latencyMs: 0 });
    t.after(() => setup.close());
    const client = await setup.daemon.connect();
    t.after(() => client.close());
    await client.request({ cmd: 'send', tokens: ['ok-hang'], payload: {} });
    setup.daemon.child.kill('SIGTERM');
    await setup.daemon.waitForLog('stopping');
    const late = await client.request({ cmd: 'ping', id: 'late' });
    assert.deepEqual([late.ok, late.id, (late.error as { code: string }).code], [false, 'late', 'shutting_down']);
    const later = await client.request({ cmd: 'report', id: 'later' });
    assert.equal((later.error as { code: string }).code, 'shutting_down', 'the connection stays open and answered until the client is done');
    client.socket.end();
    await client.closed();
    assert.equal((await setup.daemon.exited).code, 0);
  });

  test('lines parked behind backpressure when the stop comes still get a reply each, in order', async (t) => {
    const setup = await startGcmDaemon(['--drain-timeout', '20s'], { behaviour: 'hang', latencyMs: 0 });
    t.after(() => setup.close());
    const client = await setup.daemon.connect();
    t.after(() => client.close());
    const lines = 3000;
    // The first line answered before anything else is written: the daemon has read something when the stop comes, however loaded the machine.
    const first = await client.request({ cmd: 'send', id: 0, tokens: ['ok-parked-0'], payload: {} });
    assert.equal(first.ok, true);
    // Then a client that writes all at once and reads nothing until the daemon is stopping.
    client.socket.pause();
    const sent = Array.from({ length: lines - 1 }, (_, i) => JSON.stringify({ cmd: 'send', id: i + 1, tokens: [`ok-parked-${i + 1}`], payload: {} })).join('\n') + '\n';
    await new Promise<void>((resolve) => client.socket.write(sent, () => resolve()));
    setup.daemon.child.kill('SIGTERM');
    await setup.daemon.waitForLog('stopping');
    client.socket.resume();
    client.socket.end();
    const replies: Array<{ id: number; ok: boolean; code: string | undefined }> = [{ id: 0, ok: true, code: undefined }];
    for (let line = await client.nextLine(); line !== undefined; line = await client.nextLine()) {
      const reply = JSON.parse(line) as { id: number; ok: boolean; error?: { code: string } };
      replies.push({ id: reply.id, ok: reply.ok, code: reply.error?.code });
    }
    assert.deepEqual(replies.map((reply) => reply.id), Array.from({ length: lines }, (_, i) => i), 'one reply per line, in order');
    const accepted = replies.filter((reply) => reply.ok).length;
    assert.ok(replies.slice(accepted).every((reply) => reply.code === 'shutting_down'), 'accepted first, then shutting_down');
    assert.ok(accepted >= 1, 'what was received before the stop was served');
    assert.equal((await setup.daemon.exited).code, 0);
    const stopped = setup.daemon.logs().find((line) => line.msg === 'stopped; pending tokens stay in the spool');
    assert.equal(stopped?.pending, accepted, 'every accepted send is in the spool, none of the refused');
  });

  test('one deadline for connections and requests: a stop with an idle client and a hung request ends within --drain-timeout', async (t) => {
    const setup = await startGcmDaemon(['--drain-timeout', '1500ms'], { behaviour: 'hang', latencyMs: 0 });
    t.after(() => setup.close());
    const idle = await setup.daemon.connect();
    t.after(() => idle.close());
    await idle.request({ cmd: 'send', tokens: ['ok-hung'], payload: {} });
    await new Promise<void>((resolve) => {
      const check = (): void => (setup.upstream.requests > 0 ? resolve() : void setImmediate(check));
      check();
    });
    setup.daemon.child.kill('SIGTERM');
    await idle.closed();
    assert.equal((await setup.daemon.exited).code, 0);
    const logs = setup.daemon.logs();
    const started = logs.find((line) => line.msg === 'stopping')?.time as number;
    const stopped = logs.find((line) => line.msg === 'stopped; pending tokens stay in the spool');
    assert.ok(stopped, 'stopped cleanly');
    assert.equal(stopped.pending, 1, 'the abandoned request went back to the spool');
    t.diagnostic(`stopped ${(stopped.time as number) - started} ms after it began`);
    assert.ok(logs.some((line) => /drain deadline passed/.test(String(line.msg))));
  });
});
