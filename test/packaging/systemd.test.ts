// src/systemd.ts: what reaches a NOTIFY_SOCKET, how failures come back, and which inherited
// sockets socket activation yields (in this process, and in children given real fds).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../../src/errors.js';
import { inheritedListeners, notifyReady, notifyStatus, notifyStopping } from '../../src/systemd.js';
import { exited, Lines, notifyReceiver, REPO, requireTools, scratch, stop } from './tools.js';

/** Runs `body` with environment variables set (or unset), then puts them back. */
async function withEnv<T>(changes: Record<string, string | undefined>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(changes).map((key) => [key, process.env[key]]));
  const apply = (values: Record<string, string | undefined>): void => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  apply(changes);
  try {
    return await body();
  } finally {
    apply(saved);
  }
}

describe('notifications to systemd', () => {
  const temp = scratch('notify');
  const socket = join(temp.dir, 'notify.sock');
  let receiver: Awaited<ReturnType<typeof notifyReceiver>> | undefined;

  before(async () => {
    requireTools({ 'systemd-notify': 'systemd', perl: 'perl-base' });
    receiver = await notifyReceiver(socket);
  });
  after(async () => {
    if (receiver) await stop(receiver.child);
    temp.remove();
  });

  /** The STATUS= values received after line `from`, up to and including `last`. */
  async function statuses(from: number, last: string): Promise<string[]> {
    assert.ok(receiver);
    const end = await receiver.messages.find((line) => line.startsWith(`STATUS=${last}|`), from);
    return receiver.messages.seen
      .slice(from, end.index + 1)
      .filter((line) => line.startsWith('STATUS='))
      .map((line) => line.slice('STATUS='.length).split('|')[0] ?? '');
  }

  test('notifyReady sends READY=1 with our PID', async () => {
    assert.ok(receiver);
    assert.equal(await withEnv({ NOTIFY_SOCKET: socket }, notifyReady), undefined);
    const { line } = await receiver.messages.find((message) => message.startsWith('READY=1'));
    assert.match(line, new RegExp(`(^|\\|)MAINPID=${process.pid}(\\||$)`));
  });

  test('status updates made while one is sent are merged: one systemd-notify at a time', async () => {
    assert.ok(receiver);
    const from = receiver.messages.seen.length;
    const problems = await withEnv({ NOTIFY_SOCKET: socket }, async () => {
      const sent = [notifyStatus('first'), notifyStatus('second'), notifyStatus('third')];
      return Promise.all([...sent, notifyStatus('last')]);
    });
    assert.deepEqual(problems, [undefined, undefined, undefined, undefined]);
    // 'first' went at once; the rest waited for it and only the newest text was sent.
    assert.deepEqual(await statuses(from, 'last'), ['first', 'last']);
  });

  test('a newline in a status cannot start another assignment', async () => {
    assert.ok(receiver);
    const from = receiver.messages.seen.length;
    await withEnv({ NOTIFY_SOCKET: socket }, () => notifyStatus('line one\nREADY=1'));
    const { line } = await receiver.messages.find((message) => message.startsWith('STATUS='), from);
    assert.match(line, /^STATUS=line one READY=1\|/);
  });

  test('notifyStopping says so in the status', async () => {
    assert.ok(receiver);
    const from = receiver.messages.seen.length;
    assert.equal(await withEnv({ NOTIFY_SOCKET: socket }, notifyStopping), undefined);
    const { line } = await receiver.messages.find((message) => message.startsWith('STATUS='), from);
    assert.match(line, /^STATUS=stopping/);
  });

  test('a failure comes back as one line to log, never as an exception', async () => {
    const problem = await withEnv({ NOTIFY_SOCKET: join(temp.dir, 'nobody-listens.sock') }, notifyReady);
    assert.match(problem ?? '', /^systemd-notify: /);
    assert.doesNotMatch(problem ?? '', /\n/);
  });

  test('without NOTIFY_SOCKET nothing runs; with it, a missing program is named', async () => {
    // With no systemd-notify on PATH, any attempt to run it would come back as a problem.
    const path = join(temp.dir, 'empty-path');
    assert.equal(await withEnv({ NOTIFY_SOCKET: undefined, PATH: path }, () => notifyStatus('x')), undefined);
    const problem = await withEnv({ NOTIFY_SOCKET: socket, PATH: path }, () => notifyStatus('x'));
    assert.match(problem ?? '', /not installed/);
  });
});

describe('inheritedListeners in this process', () => {
  test('variables meant for another process are ignored, and removed', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: String(process.pid + 1), LISTEN_FDS: '1', LISTEN_FDNAMES: 'x', KEEP: 'yes' };
    assert.deepEqual(inheritedListeners(env), []);
    assert.deepEqual(env, { KEEP: 'yes' });
  });

  test('no variables, or no sockets, is an empty list', () => {
    assert.deepEqual(inheritedListeners({}), []);
    assert.deepEqual(inheritedListeners({ LISTEN_PID: String(process.pid), LISTEN_FDS: '0' }), []);
  });

  test('a LISTEN_FDS that is not a count is a configuration error', () => {
    assert.throws(() => inheritedListeners({ LISTEN_PID: String(process.pid), LISTEN_FDS: 'two' }), ConfigError);
  });
});

/** A child node that prints what inheritedListeners() made of its fds, and the LISTEN_* left. */
const PROBE = `
import { inheritedListeners } from ${JSON.stringify(pathToFileURL(join(REPO, 'dist', 'src', 'systemd.js')).href)};
try {
  const listeners = inheritedListeners();
  const left = Object.keys(process.env).filter((key) => key.startsWith('LISTEN_'));
  console.log(JSON.stringify({ listeners, left }));
} catch (error) {
  console.log(JSON.stringify({ error: error.name + ': ' + error.message }));
}`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

describe('inheritedListeners with fds from systemd-socket-activate', () => {
  const temp = scratch('listen');
  before(() => requireTools({ 'systemd-socket-activate': 'systemd' }));
  after(() => temp.remove());

  /** Starts the probe under systemd-socket-activate, which execs it on the first connection. */
  async function activate(args: string[], connectTo: string): Promise<Record<string, unknown>> {
    const child = spawn('systemd-socket-activate', [...args, process.execPath, '--input-type=module', '-e', PROBE], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const stdout = new Lines(child.stdout);
      await new Lines(child.stderr).find((line) => line.startsWith(`Listening on ${connectTo} `));
      const client = createConnection(connectTo).on('error', () => undefined);
      const { line } = await stdout.find((text) => text.startsWith('{'));
      client.destroy();
      return JSON.parse(line) as Record<string, unknown>;
    } finally {
      await stop(child);
    }
  }

  test('a Unix and a TCP listener, in order, with their names; LISTEN_* are gone', async () => {
    const path = join(temp.dir, 'both.sock');
    const port = await freePort();
    const result = await activate(['-l', path, '-l', `127.0.0.1:${port}`, '--fdname=local:network'], path);
    assert.deepEqual(result, {
      listeners: [
        { fd: 3, kind: 'unix', name: 'local' },
        { fd: 4, kind: 'tcp', name: 'network' },
      ],
      left: [],
    });
  });

  test('connections (Accept=yes) instead of a listener are a configuration error', async () => {
    const path = join(temp.dir, 'accept.sock');
    const result = await activate(['--accept', '-l', path], path);
    assert.match(String(result.error), /^ConfigError: inherited fd 3 .*not a listening Unix or TCP stream socket/);
  });

  test('an fd that is not a socket is a configuration error', async () => {
    const file = openSync(join(REPO, 'package.json'), 'r');
    try {
      // sh execs node, so LISTEN_PID=$$ is node's PID, as systemd would set it.
      const script = 'export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" --input-type=module -e "$1"';
      const child = spawn('sh', ['-c', script, process.execPath, PROBE], { stdio: ['ignore', 'pipe', 'inherit', file] });
      assert.ok(child.stdout);
      const { line } = await new Lines(child.stdout).find((text) => text.startsWith('{'));
      assert.equal(await exited(child), 0);
      assert.match(String((JSON.parse(line) as { error?: string }).error), /^ConfigError: inherited fd 3 /);
    } finally {
      closeSync(file);
    }
  });
});
