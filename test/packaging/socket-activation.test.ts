// gocmd under systemd-socket-activate, which hands it a listening socket as systemd does:
// it answers there, tells NOTIFY_SOCKET it is ready, and leaves the socket file (systemd's)
// in place when it stops; a socket named `http` carries GoCM's HTTP API, one named `metrics` serves /metrics and /healthz.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { httpGet } from '../support/metrics.js';
import { ask, exited, Lines, notifyReceiver, REPO, requireTools, scratch, stop } from './tools.js';

const GOCMD = join(REPO, 'dist', 'src', 'cli', 'gocmd.js');

describe('gocmd started by socket activation', () => {
  const temp = scratch('activation');
  before(() => requireTools({ 'systemd-socket-activate': 'systemd', 'systemd-notify': 'systemd', perl: 'perl-base' }));
  after(() => temp.remove());

  test('answers on the inherited socket, says READY=1, and does not remove the socket at exit', async () => {
    const socket = join(temp.dir, 'activated.sock');
    const own = join(temp.dir, 'own.sock');
    const notify = await notifyReceiver(join(temp.dir, 'notify.sock'));
    // --socket points elsewhere: a daemon that ignored LISTEN_FDS would show up there.
    const daemonArgs = ['--provider', 'gcm', '--apikey', 'x', '--gcm-endpoint', 'http://127.0.0.1:9', '--spool', ':memory:', '--socket', own];
    const activator = spawn('systemd-socket-activate', ['-l', socket, '-E', 'NOTIFY_SOCKET', process.execPath, GOCMD, ...daemonArgs], {
      env: { ...process.env, NOTIFY_SOCKET: join(temp.dir, 'notify.sock') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      await new Lines(activator.stderr).find((line) => line.startsWith(`Listening on ${socket} `));
      // The first connection starts gocmd (systemd-socket-activate execs it in place), which
      // accepts it from the inherited socket's backlog.
      assert.equal(await ask(socket, '{"cmd":"ping","id":1}'), '{"ok":true,"id":1}');
      const { line } = await notify.messages.find((message) => message.startsWith('READY=1'));
      assert.match(line, new RegExp(`MAINPID=${activator.pid}\\b`), 'READY comes for the PID systemd started');
      assert.equal(existsSync(own), false, 'gocmd made a socket of its own');

      activator.kill('SIGTERM');
      assert.equal(await exited(activator), 0);
      assert.ok(lstatSync(socket).isSocket(), 'the inherited socket file must stay for systemd');
    } finally {
      await stop(activator);
      await stop(notify.child);
    }
  });

  test('a socket named http (FileDescriptorName=http) serves GoCM\'s HTTP API, the other the line protocol', async () => {
    const line = join(temp.dir, 'line.sock');
    const http = join(temp.dir, 'http.sock');
    const daemonArgs = ['--provider', 'gcm', '--apikey', 'x', '--gcm-endpoint', 'http://127.0.0.1:9', '--spool', ':memory:', '--socket', join(temp.dir, 'own2.sock')];
    const activator = spawn('systemd-socket-activate', ['-l', line, '-l', http, '--fdname=gocm:http', process.execPath, GOCMD, ...daemonArgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      const lines = new Lines(activator.stderr);
      await lines.find((text) => text.startsWith(`Listening on ${http} `));
      const answer = await httpGet('http://localhost/gcm/report/notregistered', { socketPath: http });
      assert.deepEqual([answer.status, answer.body], [200, '{"tokens":[]}\n']);
      assert.equal(await ask(line, '{"cmd":"ping","id":2}'), '{"ok":true,"id":2}');
      activator.kill('SIGTERM');
      assert.equal(await exited(activator), 0);
    } finally {
      await stop(activator);
    }
  });

  test('a socket named metrics (LISTEN_FDNAMES) serves /healthz and /metrics; the other one the protocol', async () => {
    const socket = join(temp.dir, 'protocol.sock');
    const metrics = join(temp.dir, 'metrics.sock');
    const daemonArgs = ['--provider', 'gcm', '--apikey', 'x', '--gcm-endpoint', 'http://127.0.0.1:9', '--spool', ':memory:', '--socket', join(temp.dir, 'own2.sock')];
    const activator = spawn('systemd-socket-activate', ['-l', socket, '-l', metrics, '--fdname=gocm:metrics', process.execPath, GOCMD, ...daemonArgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      const said = new Lines(activator.stderr);
      await said.find((line) => line.startsWith(`Listening on ${metrics} `));
      // This first connection starts gocmd, which answers it from the inherited backlog once ready.
      const health = await httpGet('http://localhost/healthz', { socketPath: metrics });
      assert.deepEqual([health.status, JSON.parse(health.body)], [200, { ok: true, serving: true, spool: 'writable' }]);
      const scraped = await httpGet('http://localhost/metrics', { socketPath: metrics });
      assert.match(scraped.body, /^gocm_accepted_tokens_total\{app="default"\} 0$/m);
      assert.equal(await ask(socket, '{"cmd":"ping","id":2}'), '{"ok":true,"id":2}');
      activator.kill('SIGTERM');
      assert.equal(await exited(activator), 0);
    } finally {
      await stop(activator);
    }
  });
});
