// The spool's promise, tested with real processes and a real file: every
// acknowledged token is delivered after kill -9, none twice after SIGTERM,
// and the lists outlive the process.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { type DaemonProcess, GOCMD, run, startDaemon, tempDir } from '../support/daemon.js';
import { type FakeGcm, type FakeGcmOptions, startFakeGcm } from '../support/fake-gcm.js';

function spoolDaemon(dir: string, upstream: FakeGcm, extra: readonly string[] = []): Promise<DaemonProcess> {
  return startDaemon({
    dir,
    args: ['--provider', 'gcm', '--apikey', 'k', '--gcm-endpoint', upstream.url, '--spool', join(dir, 'spool.db'), '--max-backoff', '10ms', ...extra],
  });
}

/** Pipeline `sends` sends of `perSend` tokens on one connection; resolve with the acknowledged tokens. */
async function sendMany(daemon: DaemonProcess, sends: number, perSend: number, prefix: string): Promise<string[]> {
  const client = await daemon.connect();
  const acknowledged: string[] = [];
  const batches = Array.from({ length: sends }, (_, s) => Array.from({ length: perSend }, (_, i) => `${prefix}-${s}-${i}`));
  client.socket.write(batches.map((tokens, s) => JSON.stringify({ cmd: 'send', id: s, tokens, payload: { s } })).join('\n') + '\n');
  for (const tokens of batches) {
    const reply = await client.next();
    assert.equal(reply.ok, true, JSON.stringify(reply));
    acknowledged.push(...tokens);
  }
  client.close();
  return acknowledged;
}

/** A temporary directory and a fake upstream, both gone after the test. */
async function scene(t: TestContext, options: FakeGcmOptions = {}): Promise<{ dir: string; upstream: FakeGcm }> {
  const dir = tempDir();
  const upstream = await startFakeGcm(options);
  t.after(async () => {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, upstream };
}

describe('durability of the SQLite spool', () => {
  test('kill -9 right after thousands of acknowledged sends: all are delivered after a restart', async (t) => {
    const { dir, upstream } = await scene(t, { latencyMs: 300 });
    const first = await spoolDaemon(dir, upstream, ['--concurrency', '4']);
    t.after(() => first.close());
    const acknowledged = await sendMany(first, 300, 10, 'ok-crash');
    first.child.kill('SIGKILL');
    await first.exited;
    const delivered = upstream.tokensSeen.size;
    assert.ok(delivered < acknowledged.length, `the upstream is slow: only ${delivered} were out before the kill`);

    const second = await spoolDaemon(dir, upstream);
    t.after(() => second.close());
    const recovered = await second.request({ cmd: 'report' });
    assert.ok((recovered.pending as number) > 0 && recovered.pending === recovered.recovered, `pending counts the recovered at once: ${JSON.stringify(recovered)}`);
    const report = await second.settled();
    for (const token of acknowledged) assert.ok(upstream.tokensSeen.has(token), `${token} reached the upstream`);
    const twice = [...upstream.tokensSeen.values()].filter((count) => count > 1).length;
    // Only tokens in flight at the kill (4 requests of at most 1000) may go twice.
    assert.ok(twice <= 4 * 10, `${twice} tokens were sent twice`);
    assert.equal((report.successes as number) + (report.failures as number), report.recovered);
  });

  test('after SIGTERM and a restart, no token is sent twice', async (t) => {
    const { dir, upstream } = await scene(t, { latencyMs: 100 });
    const first = await spoolDaemon(dir, upstream, ['--concurrency', '2']);
    t.after(() => first.close());
    const acknowledged = await sendMany(first, 200, 5, 'ok-term');
    const exit = await first.stop('SIGTERM');
    assert.equal(exit.code, 0);
    const second = await spoolDaemon(dir, upstream);
    t.after(() => second.close());
    await second.settled();
    for (const token of acknowledged) assert.equal(upstream.tokensSeen.get(token), 1, `${token} sent once`);
  });

  test('the canonical and notregistered lists survive kill -9 until read', async (t) => {
    const { dir, upstream } = await scene(t);
    const first = await spoolDaemon(dir, upstream);
    t.after(() => first.close());
    await first.request({ cmd: 'send', tokens: ['gone-a', 'gone-b', 'canon-a', 'ok-a'], payload: {} });
    await first.settled();
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await spoolDaemon(dir, upstream);
    t.after(() => second.close());
    const client = await second.connect();
    t.after(() => client.close());
    assert.deepEqual(((await client.request({ cmd: 'notregistered', keep: true })).tokens as string[]).sort(), ['gone-a', 'gone-b']);
    assert.deepEqual((await client.request({ cmd: 'canonical' })).canonical_replacements, [{ original: 'canon-a', canonical: 'new-canon-a' }]);
    assert.deepEqual(((await client.request({ cmd: 'notregistered' })).tokens as string[]).sort(), ['gone-a', 'gone-b']);
    assert.deepEqual((await client.request({ cmd: 'notregistered' })).tokens, []);
  });

  test('send answers busy past --spool-max and keeps nothing of that send', async (t) => {
    const { dir, upstream } = await scene(t, { behaviour: 'hang' });
    const daemon = await spoolDaemon(dir, upstream, ['--spool-max', '10', '--concurrency', '1']);
    t.after(() => daemon.close());
    const client = await daemon.connect();
    t.after(() => client.close());
    assert.equal((await client.request({ cmd: 'send', tokens: ['ok-1', 'ok-2', 'ok-3', 'ok-4', 'ok-5', 'ok-6', 'ok-7', 'ok-8'] })).ok, true);
    const refused = await client.request({ cmd: 'send', id: 9, tokens: ['ok-9', 'ok-10', 'ok-11'] });
    assert.equal(refused.ok, false);
    assert.equal((refused.error as { code: string }).code, 'busy');
    assert.equal(refused.id, 9);
    assert.equal((await client.request({ cmd: 'report' })).pending, 8);
    assert.equal((await client.request({ cmd: 'send', tokens: ['ok-9', 'ok-10'] })).ok, true, 'what fits is still taken');
  });
});

describe('a spool that cannot be used stops the daemon with exit 2', () => {
  const cases: Array<[string, (dir: string) => string, RegExp]> = [
    [
      'a corrupt file',
      (dir) => {
        const path = join(dir, 'spool.db');
        writeFileSync(path, 'this is not a database'.repeat(500));
        return path;
      },
      /spool/,
    ],
    [
      'a directory that cannot be made',
      (dir) => {
        writeFileSync(join(dir, 'file'), '');
        return join(dir, 'file', 'sub', 'spool.db');
      },
      /spool/,
    ],
    [
      'a path that is a directory',
      (dir) => {
        mkdirSync(join(dir, 'spool.db'));
        chmodSync(join(dir, 'spool.db'), 0o755);
        return join(dir, 'spool.db');
      },
      /spool/,
    ],
  ];
  for (const [name, make, message] of cases) {
    test(name, async (t) => {
      const dir = tempDir();
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const spool = make(dir);
      const { code, stderr } = await run(process.execPath, [GOCMD, '--provider', 'gcm', '--apikey', 'k', '--socket', join(dir, 's.sock'), '--spool', spool]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, message);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
    });
  }
});
