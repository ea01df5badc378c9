// Security against local mischief: the socket file has its mode from the
// instant it exists, remote TCP only on request, and the API key never shows
// in a log line, an error reply or a dying daemon's output.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { lstatSync, rmSync, watch, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { listenUnix } from '../../src/server/listeners.js';
import { DaemonProcess, GOCMD, type LineClient, run, startDaemon, tempDir } from '../support/daemon.js';
import { startGcmDaemon } from '../support/gcm-daemon.js';
import { connectTcp, errorCode, tcpPort, until } from './checks.js';
import { startRogueGcm } from './rogue-gcm.js';

/** Start gocmd under a given umask (through sh), and wait for its "ready" line. */
async function startWithUmask(umask: string, dir: string, args: readonly string[]): Promise<DaemonProcess> {
  const socket = join(dir, 'gocm.sock');
  const child = spawn('/bin/sh', ['-c', `umask ${umask}; exec "$0" "$@"`, process.execPath, GOCMD, '--socket', socket, '--spool', ':memory:', ...args], {
    env: { PATH: process.env.PATH, HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const daemon = new DaemonProcess(child, dir, socket, false);
  await Promise.race([
    until(() => /"msg":"ready"/.test(daemon.stdoutText), 'the daemon to be ready', 20_000),
    daemon.exited.then(() => Promise.reject(new Error(`gocmd exited before it was ready:\n${daemon.output()}`))),
  ]);
  return daemon;
}

describe('the socket file', () => {
  test('listenUnix: the file has its mode the moment it exists, whatever the umask, and the umask is put back', { timeout: 30_000 }, async (t) => {
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const previous = process.umask(0o000);
    t.after(() => process.umask(previous));
    for (const mode of [0o600, 0o660, 0o666]) {
      const server = createServer();
      const path = join(dir, `${mode.toString(8)}.sock`);
      let atBirth: number | undefined;
      // 'listening' is emitted right after bind(2), before listenUnix's own code
      // runs again (and its chmod): this sees the mode the file was born with.
      server.once('listening', () => (atBirth = lstatSync(path).mode & 0o777));
      await listenUnix(server, path, mode);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      assert.equal(atBirth?.toString(8), mode.toString(8), 'born with its mode, not 0777 & ~umask');
      assert.equal(process.umask(0o000), 0o000, 'the umask is put back');
    }
  });

  test('no window with wider permissions: the file is stat-ed the instant it appears, daemon after daemon', { timeout: 60_000 }, async (t) => {
    const rounds = 5;
    const seen: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const dir = tempDir();
      const path = join(dir, 'gocm.sock');
      const watcher = watch(dir, (_event, name) => {
        if (name !== 'gocm.sock') return;
        try {
          seen.push(lstatSync(path).mode & 0o777);
        } catch {
          // gone again (removed on stop): nothing to see
        }
      });
      try {
        // umask 000: without the daemon's care the file would be born 0777.
        const daemon = await startWithUmask('000', dir, ['--provider', 'gcm', '--apikey', 'k', '--gcm-endpoint', 'http://127.0.0.1:9/send', '--socket-mode', '0600']);
        try {
          assert.equal(lstatSync(path).mode & 0o777, 0o600);
          assert.deepEqual(await daemon.request({ cmd: 'ping' }), { ok: true });
        } finally {
          await daemon.close();
        }
      } finally {
        watcher.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
    t.diagnostic(`modes seen at creation over ${rounds} starts: ${seen.map((mode) => mode.toString(8)).join(' ')}`);
    assert.ok(seen.length >= 1, 'the watcher saw the socket appear');
    assert.deepEqual(seen.filter((mode) => mode !== 0o600).map((mode) => mode.toString(8)), [], 'never anything but 0600');
  });
});

describe('TCP', () => {
  test('a non-loopback address with --tcp-allow-remote: it listens (on 0.0.0.0) and serves', { timeout: 30_000 }, async (t) => {
    const setup = await startGcmDaemon(['--tcp', '0.0.0.0:0', '--tcp-allow-remote']);
    t.after(() => setup.close());
    const listening = setup.daemon.logs().find((line) => typeof line.tcp === 'string');
    assert.match(String(listening?.tcp), /^0\.0\.0\.0:\d+$/);
    const client = await connectTcp(tcpPort(setup.daemon), '127.0.0.1');
    t.after(() => client.close());
    assert.deepEqual(await client.request({ cmd: 'ping', id: 'tcp' }), { ok: true, id: 'tcp' });
    assert.equal((await client.request({ cmd: 'send', tokens: ['ok-tcp'] })).accepted, 1);
    assert.equal((await setup.daemon.settled()).successes, 1);
  });
});

describe('the API key stays secret', () => {
  const KEY = 'hostile-secret-key-7f3a9c1e5b2d';
  /** The key, and any 10-character piece of it: a truncated echo is a leak too. */
  function leaks(text: string): string[] {
    const pieces = new Set<string>();
    for (let i = 0; i + 10 <= KEY.length; i++) if (text.includes(KEY.slice(i, i + 10))) pieces.add(KEY.slice(i, i + 10));
    return [...pieces];
  }

  test('not in any log line, reply or exit output, after every error path and a SIGTERM', { timeout: 60_000 }, async (t) => {
    const rogue = await startRogueGcm();
    const dir = tempDir();
    t.after(async () => {
      await rogue.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const keyFile = join(dir, 'apikey');
    writeFileSync(keyFile, KEY + '\n');
    const daemon = await startDaemon({
      dir,
      args: [
        '--provider', 'gcm', '--apikey-file', keyFile, '--gcm-endpoint', rogue.url, '--log-level', 'trace',
        '--max-backoff', '10ms', '--request-timeout', '300ms', '--retries', '1', '--drain-timeout', '200ms',
        '--max-connections', '3', '--idle-timeout', '1s', '--max-line-bytes', '8192',
      ],
    });
    t.after(() => daemon.close());
    const replies: string[] = [];
    const ask = async (client: LineClient, line: string | object): Promise<string> => {
      client.write(line);
      const reply = (await client.nextLine()) ?? '';
      replies.push(reply);
      return reply;
    };

    const client = await daemon.connect();
    t.after(() => client.close());
    // Upstream trouble of every kind: 401 (our key refused), timeout, resets, garbage, 5xx, a redirect.
    for (const token of ['unauth-1', 'hang-1', 'reset-1', 'midreset-1', 'html-1', 'err500-1', 'redirect-1', 'ok-1']) {
      assert.match(await ask(client, { cmd: 'send', tokens: [token], payload: { t: token } }), /"ok":true/);
    }
    // Every error reply the protocol has, but shutting_down (below) and internal (a bug).
    const bad: Array<[string, string]> = [
      ['{"cmd":', 'bad_json'],
      ['{"cmd":"send"}', 'bad_request'],
      ['{"cmd":"apikey"}', 'unknown_command'],
      ['{"cmd":"ping","id":"' + 'x'.repeat(10_000) + '"}', 'line_too_long'],
      [JSON.stringify({ cmd: 'send', tokens: ['ok-2'], payload: { x: 'y'.repeat(4096) } }), 'payload_too_large'],
    ];
    for (const [line, code] of bad) assert.equal(errorCode(JSON.parse(await ask(client, line)) as { ok: boolean }), code);
    const second = await daemon.connect();
    const third = await daemon.connect();
    t.after(() => [second, third].forEach((c) => c.close()));
    await ask(second, { cmd: 'ping' });
    const refused = await daemon.connect();
    t.after(() => refused.close());
    replies.push((await refused.nextLine()) ?? '');
    assert.equal(errorCode(JSON.parse(replies.at(-1) as string) as { ok: boolean }), 'busy');
    second.close();
    client.close();
    await third.closed(); // silent: closed by --idle-timeout
    await daemon.settled();

    const late = await daemon.connect();
    t.after(() => late.close());
    for (const command of ['report', 'queue', 'canonical', 'notregistered']) await ask(late, { cmd: command });
    // A request in flight (a hang) when SIGTERM comes: drained, cut off, exit 0.
    await ask(late, { cmd: 'send', tokens: ['hang-2'] });
    await until(() => rogue.tokensSeen.has('hang-2'), 'the hang to reach the upstream', 10_000);
    const exit = await daemon.stop('SIGTERM');
    assert.equal(exit.code, 0, daemon.output().slice(-2000));
    await late.closed();

    assert.ok(rogue.authorizations.has(`key=${KEY}`), 'the key was in play: sent upstream');
    assert.match(daemon.output(), /http_401/, 'the 401 was logged');
    assert.match(daemon.output(), /ERR_REQUEST_TIMEOUT/, 'the timeout was logged');
    assert.match(daemon.output(), /"msg":"stopped/, 'the stop was logged');
    assert.deepEqual(leaks(daemon.output()), [], 'the daemon\'s output holds no piece of the key');
    assert.deepEqual(leaks(replies.join('\n')), [], 'no reply holds a piece of the key');
  });

  test('not in the one line of a daemon that refuses to start', { timeout: 30_000 }, async (t) => {
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const keyFile = join(dir, 'apikey');
    writeFileSync(keyFile, KEY);
    const socket = join(dir, 'gocm.sock');
    const gocmd = (args: readonly string[], env: NodeJS.ProcessEnv = {}): ReturnType<typeof run> =>
      run(process.execPath, [GOCMD, '--socket', socket, '--provider', 'gcm', ...args], { env: { PATH: process.env.PATH, HOME: dir, ...env } });
    const config = join(dir, 'gocm.json');
    writeFileSync(config, JSON.stringify({ apikey: KEY, retries: 'many' }));
    const failures = await Promise.all([
      gocmd(['--apikey', KEY, '--retries', 'many']),
      gocmd(['--config', config]),
      gocmd(['--apikey-file', keyFile, '--tcp', '0.0.0.0:1']),
      gocmd(['--retries', '-1'], { GOCM_APIKEY: KEY }),
      gocmd(['--apikey', KEY, '--socket', join(dir, 'missing', 'dir.sock')]),
    ]);
    for (const { code, stdout, stderr } of failures) {
      assert.equal(code, 2, stderr);
      assert.deepEqual(leaks(stdout + stderr), [], stderr);
    }
  });

  test('not echoed from a config file that is not JSON', { timeout: 30_000 }, async (t) => {
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, 'gocm.json');
    // A typical slip: the key without its quotes.
    writeFileSync(config, `{"apikey":${KEY}}`);
    const { code, stderr } = await run(process.execPath, [GOCMD, '--config', config, '--socket', join(dir, 's.sock')], { env: { PATH: process.env.PATH, HOME: dir } });
    assert.equal(code, 2);
    assert.deepEqual(leaks(stderr), [], stderr);
  });
});
