// gocmctl as scripts use it: a real gocmd sending to the fake legacy upstream,
// gocmctl run as a child process (stdout a pipe, so JSON lines), its output
// and exit status checked for each command and each kind of failure.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GOCMCTL, run, tempDir } from '../support/daemon.js';
import { type GcmSetup, startGcmDaemon } from '../support/gcm-daemon.js';

type Json = Record<string, unknown>;

function gocmctl(args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): ReturnType<typeof run> {
  // GOCM_SOCKET left out unless a test sets it: the tests name the socket.
  return run(process.execPath, [GOCMCTL, ...args], { input: options.input, env: { PATH: process.env.PATH, ...options.env } });
}

function jsonLines(stdout: string): Json[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Json);
}

function assertOneLineNoStack(stderr: string): void {
  assert.equal(stderr.trim().split('\n').length, 1, `one line: ${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
}

describe('gocmctl against a running gocmd', () => {
  let setup: GcmSetup;
  let socket: string;
  const dir = tempDir('gocmctl-test-');
  const ctl = (args: readonly string[], input?: string): ReturnType<typeof run> => gocmctl(['--socket', socket, ...args], { input });

  before(async () => {
    setup = await startGcmDaemon();
    socket = setup.daemon.socket;
  });
  after(async () => {
    await setup?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('ping answers {"ok":true} and exits 0', async () => {
    const { code, stdout, stderr } = await ctl(['ping']);
    assert.equal(code, 0, stderr);
    assert.deepEqual(jsonLines(stdout), [{ ok: true }]);
    assert.equal(stderr, '');
  });

  test('$GOCM_SOCKET names the socket when --socket is not given', async () => {
    const { code, stdout, stderr } = await gocmctl(['ping'], { env: { GOCM_SOCKET: socket } });
    assert.equal(code, 0, stderr);
    assert.deepEqual(jsonLines(stdout), [{ ok: true }]);
  });

  test('send with --token flags prints the reply: the message id and the count', async () => {
    const { code, stdout, stderr } = await ctl(['send', '--token', 'ok-a1', '--token', 'ok-a2', '--payload', '{"title":"Hi","n":3}']);
    assert.equal(code, 0, stderr);
    const [reply, ...rest] = jsonLines(stdout);
    assert.deepEqual(rest, []);
    assert.equal(reply?.ok, true);
    assert.equal(reply?.accepted, 2);
    assert.equal(typeof reply?.msg, 'string');
  });

  test('send --tokens-file of 2,500 tokens: three lines on one connection, all accepted and delivered', async () => {
    const tokens = Array.from({ length: 2500 }, (_, i) => `ok-file-${i}`);
    const file = join(dir, 'tokens.txt');
    writeFileSync(file, tokens.join('\n') + '\n');
    const { code, stdout, stderr } = await ctl(['send', '--tokens-file', file, '--payload', '{"k":"v"}', '--collapse-key', 'c', '--priority', 'high', '--ttl', '60']);
    assert.equal(code, 0, stderr);
    const replies = jsonLines(stdout);
    assert.deepEqual(
      replies.map((reply) => [reply.ok, reply.accepted]),
      [
        [true, 1000],
        [true, 1000],
        [true, 500],
      ],
    );
    assert.equal(new Set(replies.map((reply) => reply.msg)).size, 3, 'a message per chunk');
    await setup.daemon.settled();
    for (const token of tokens) assert.equal(setup.upstream.tokensSeen.get(token), 1, token);
  });

  test('--tokens-file - reads stdin, skips blank lines and whitespace, and adds the --token flags', async () => {
    const input = '  ok-in-1 \n\nok-in-2\r\n\t\nok-in-3';
    const { code, stdout, stderr } = await ctl(['send', '--token', 'ok-in-0', '--tokens-file', '-', '--payload', '{}'], input);
    assert.equal(code, 0, stderr);
    assert.deepEqual(
      jsonLines(stdout).map((reply) => reply.accepted),
      [4],
    );
    await setup.daemon.settled();
    for (const token of ['ok-in-0', 'ok-in-1', 'ok-in-2', 'ok-in-3']) assert.equal(setup.upstream.tokensSeen.get(token), 1, token);
  });

  test('report prints the run report', async () => {
    await setup.daemon.settled();
    const { code, stdout, stderr } = await ctl(['report']);
    assert.equal(code, 0, stderr);
    const [report, ...rest] = jsonLines(stdout);
    assert.deepEqual(rest, []);
    for (const key of ['attempts', 'failures', 'pending', 'canonicals', 'notregistered']) assert.equal(typeof report?.[key], 'number', key);
    assert.equal(report?.pending, 0);
    assert.ok((report?.attempts as number) > 0);
  });

  test('queue prints the spool by state', async () => {
    await setup.daemon.settled();
    const { code, stdout, stderr } = await ctl(['queue']);
    assert.equal(code, 0, stderr);
    const [queue] = jsonLines(stdout);
    assert.equal(queue?.ok, true);
    assert.equal(queue?.pending, 0);
    assert.equal(queue?.oldest_age_ms, null);
  });

  test('an error reply exits 1: printed as JSON, its code and message on stderr', async () => {
    const payload = JSON.stringify({ big: 'x'.repeat(5000) });
    const { code, stdout, stderr } = await ctl(['send', '--token', 'ok-big', '--payload', payload]);
    assert.equal(code, 1, stderr);
    const [reply] = jsonLines(stdout);
    assert.equal(reply?.ok, false);
    assert.equal((reply?.error as Json | undefined)?.code, 'payload_too_large');
    assert.match(stderr, /^gocmctl: payload_too_large: .+/);
    assertOneLineNoStack(stderr);
  });

  test('after the first error reply, no more chunks are written', async () => {
    const file = join(dir, 'big-payload-tokens.txt');
    writeFileSync(file, Array.from({ length: 200_000 }, (_, i) => `ok-never-${i}`).join('\n'));
    const payload = JSON.stringify({ big: 'x'.repeat(5000) });
    const { code, stdout } = await ctl(['send', '--tokens-file', file, '--payload', payload]);
    assert.equal(code, 1);
    const replies = jsonLines(stdout);
    assert.ok(replies.every((reply) => reply.ok === false));
    // Lines already in flight are answered, but not all 200: it stopped writing.
    assert.ok(replies.length < 200, `${replies.length} replies`);
  });

  describe('usage errors exit 2 with one line and send nothing', () => {
    const cases: Array<[string, string[], RegExp]> = [
      ['an unknown flag', ['report', '--bogus'], /bogus/],
      ['an unknown command', ['frobnicate'], /frobnicate/],
      ['no command', [], /give a command/],
      ['bad --payload JSON', ['send', '--token', 'ok-u', '--payload', '{nope'], /--payload: not JSON/],
      ['a --payload that is not an object', ['send', '--token', 'ok-u', '--payload', '[1,2]'], /--payload: must be a JSON object/],
      ['a missing --payload', ['send', '--token', 'ok-u'], /payload/],
      ['no tokens', ['send', '--payload', '{}'], /no tokens/],
      ['an unreadable tokens file', ['send', '--payload', '{}', '--tokens-file', '/nonexistent/tokens'], /\/nonexistent\/tokens: ENOENT/],
      ['a bad --priority', ['send', '--token', 'ok-u', '--payload', '{}', '--priority', 'urgent'], /priority/],
      ['a bad --ttl', ['send', '--token', 'ok-u', '--payload', '{}', '--ttl', '-5'], /--ttl/],
      ['both --socket and --tcp', ['ping', '--tcp', '127.0.0.1:1'], /mutually exclusive/],
    ];
    for (const [name, args, message] of cases) {
      test(name, async () => {
        const earlier = await setup.daemon.request({ cmd: 'report' });
        const { code, stdout, stderr } = await ctl(args);
        assert.equal(code, 2, stderr + stdout);
        assert.match(stderr, message);
        assertOneLineNoStack(stderr);
        assert.equal(stdout, '');
        const now = await setup.daemon.request({ cmd: 'report' });
        assert.equal(now.attempts, earlier.attempts, 'nothing was sent');
      });
    }

    test('a bad --tcp', async () => {
      const { code, stderr } = await gocmctl(['ping', '--tcp', 'nowhere']);
      assert.equal(code, 2);
      assert.match(stderr, /--tcp: "nowhere" is not HOST:PORT/);
      assertOneLineNoStack(stderr);
    });

    test('no tokens in the file or on stdin', async () => {
      const { code, stderr } = await ctl(['send', '--payload', '{}', '--tokens-file', '-'], '\n  \n');
      assert.equal(code, 2);
      assert.match(stderr, /no tokens/);
    });
  });

  test('--help prints the commands and the exit statuses, and exits 0', async () => {
    const { code, stdout } = await gocmctl(['--help']);
    assert.equal(code, 0);
    for (const command of ['send', 'report', 'queue', 'canonical', 'notregistered', 'ping']) assert.match(stdout, new RegExp(`gocmctl ${command}`));
    assert.match(stdout, /Exit status/);
  });
});

describe('canonical and notregistered lists', () => {
  let setup: GcmSetup;
  before(async () => {
    setup = await startGcmDaemon();
  });
  after(() => setup?.close());

  const ctl = (args: readonly string[]): ReturnType<typeof run> => gocmctl(['--socket', setup.daemon.socket, ...args]);

  async function list(command: string, keep: boolean): Promise<Json> {
    const { code, stdout, stderr } = await ctl(keep ? [command, '--keep'] : [command]);
    assert.equal(code, 0, stderr);
    const [reply, ...rest] = jsonLines(stdout);
    assert.deepEqual(rest, []);
    return reply as Json;
  }

  test('empty lists are empty arrays', async () => {
    assert.deepEqual((await list('canonical', true)).canonical_replacements, []);
    assert.deepEqual((await list('notregistered', true)).tokens, []);
  });

  test('after a batch settles: --keep reads and leaves the list, without it the list is cleared', async () => {
    const sent = await ctl(['send', '--token', 'canon-1', '--token', 'gone-1', '--token', 'ok-1', '--payload', '{}']);
    assert.equal(sent.code, 0, sent.stderr);
    await setup.daemon.settled();

    const canonical = [{ original: 'canon-1', canonical: 'new-canon-1' }];
    assert.deepEqual((await list('canonical', true)).canonical_replacements, canonical);
    assert.deepEqual((await list('canonical', true)).canonical_replacements, canonical, '--keep left it');
    assert.deepEqual((await list('canonical', false)).canonical_replacements, canonical);
    assert.deepEqual((await list('canonical', false)).canonical_replacements, [], 'read without --keep: cleared');

    assert.deepEqual((await list('notregistered', true)).tokens, ['gone-1']);
    assert.deepEqual((await list('notregistered', false)).tokens, ['gone-1']);
    assert.deepEqual((await list('notregistered', false)).tokens, []);
  });

  for (const command of ['notregistered', 'canonical'] as const) {
    test(`${command} whose output cannot be written (| head -0) exits non-zero and leaves the list`, async () => {
      const token = command === 'canonical' ? 'canon-lost' : 'gone-lost';
      assert.equal((await ctl(['send', '--token', token, '--payload', '{}'])).code, 0);
      await setup.daemon.settled();
      const child = spawn(process.execPath, [GOCMCTL, '--socket', setup.daemon.socket, command], { stdio: ['ignore', 'pipe', 'ignore'] });
      // The reader is gone before anything is written, as `| head -0` is by the time the reply comes.
      child.stdout.destroy();
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
      assert.notEqual(code, 0);
      const kept = await list(command, true);
      const entries = command === 'canonical' ? (kept.canonical_replacements as Json[]).map((entry) => entry.original) : (kept.tokens as string[]);
      assert.ok(entries.includes(token), `${token} is still listed: ${JSON.stringify(kept)}`);
      await list(command, false);
    });
  }

  test('clear removes exactly the entries named, and refuses what is not a list', async () => {
    const client = await setup.daemon.connect();
    try {
      assert.equal((await ctl(['send', '--token', 'gone-a', '--token', 'gone-b', '--payload', '{}'])).code, 0);
      await setup.daemon.settled();
      assert.deepEqual(await client.request({ cmd: 'notregistered', clear: ['gone-a', 'gone-x'] }), { ok: true, cleared: 1 });
      assert.deepEqual((await list('notregistered', true)).tokens, ['gone-b']);
      const refused = await client.request({ cmd: 'notregistered', clear: 'gone-b' });
      assert.equal((refused.error as Json).code, 'bad_request');
      assert.deepEqual((await list('notregistered', false)).tokens, ['gone-b']);
    } finally {
      client.close();
    }
  });
});

describe('when gocmd cannot be reached: exit 3, naming what was tried', () => {
  const dir = tempDir('gocmctl-test-');
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a missing socket file', async () => {
    const socket = join(dir, 'missing.sock');
    const { code, stdout, stderr } = await gocmctl(['--socket', socket, 'send', '--token', 'ok-x', '--payload', '{}']);
    assert.equal(code, 3, stderr);
    assert.equal(stderr, `gocmctl: cannot reach gocmd at ${socket}: ENOENT (is gocmd running?)\n`);
    assert.equal(stdout, '');
  });

  test('a closed TCP port', async () => {
    const port = await closedPort();
    const { code, stderr } = await gocmctl(['--tcp', `127.0.0.1:${port}`, 'report']);
    assert.equal(code, 3, stderr);
    assert.match(stderr, new RegExp(`cannot reach gocmd at 127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
    assertOneLineNoStack(stderr);
  });

  test('a connection lost before the reply', async (t) => {
    const socket = join(dir, 'drops.sock');
    // Not a gocmd: it hangs up on the first line, as a crashing daemon would.
    const server = createServer((connection) => connection.once('data', () => connection.destroy()));
    await listen(server, socket);
    t.after(() => server.close());
    const { code, stderr } = await gocmctl(['--socket', socket, 'ping']);
    assert.equal(code, 3, stderr);
    assert.match(stderr, new RegExp(`lost the connection to gocmd at ${socket}`));
    assertOneLineNoStack(stderr);
  });
});

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
}

/** A port nothing listens on: one the system just gave us and we let go. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}
