// What an application can ask of a message and hear as it happens, through
// the real daemon: `status` (after a restart, and after its retention), and
// `subscribe` (each event once; a subscriber that never reads loses events
// in counted gaps, and costs the daemon no memory).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type LineClient, type Reply, tempDir } from '../support/daemon.js';
import { startGcmDaemon } from '../support/gcm-daemon.js';
import { rssBytes } from '../hostile/checks.js';

type Event = Record<string, unknown> & { event: string };

/** Requests answered and events seen on one connection: replies have `ok`, events `event`. */
function split(lines: readonly string[]): { replies: Reply[]; events: Event[] } {
  const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { replies: parsed.filter((value): value is Reply => 'ok' in value), events: parsed.filter((value): value is Event => 'event' in value) };
}

/** Read lines from `client` until `done` says the ones read so far are enough. */
async function readUntil(client: LineClient, done: (lines: readonly string[]) => boolean): Promise<string[]> {
  const lines: string[] = [];
  while (!done(lines)) {
    const line = await client.nextLine();
    if (line === undefined) throw new Error(`the daemon closed the connection after ${lines.length} lines`);
    lines.push(line);
  }
  return lines;
}

describe('status and events', { concurrency: true }, () => {
  test('status tells what became of each token of a message, and survives a restart', async (t) => {
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const spool = join(dir, 'spool.db');
    const args = ['--spool', spool, '--retries', '1'];
    let setup = await startGcmDaemon(args, {}, dir);
    t.after(() => setup.close());
    const sent = await setup.daemon.request({ cmd: 'send', tokens: ['ok-1', 'ok-2', 'gone-1', 'invalid-1', 'unavail-1', 'canon-1'], payload: {} });
    assert.equal(sent.ok, true);
    await setup.daemon.settled();
    const expected = {
      ok: true,
      msg: sent.msg,
      app: 'default',
      tokens: 6,
      pending: 0,
      delivered: 3,
      failed: 3,
      failures: [
        { token: 'gone-1', reason: 'NotRegistered' },
        { token: 'invalid-1', reason: 'InvalidRegistration' },
        { token: 'unavail-1', reason: 'Unavailable' },
      ],
    };
    const status = await setup.daemon.request({ cmd: 'status', msg: sent.msg });
    assert.deepEqual({ ...status, failures: (status.failures as unknown[]).slice().sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) }, expected);
    await setup.daemon.stop();
    await setup.upstream.close();
    setup = await startGcmDaemon(args, {}, dir);
    const again = await setup.daemon.request({ cmd: 'status', msg: sent.msg });
    assert.deepEqual([again.delivered, again.failed, (again.failures as unknown[]).length], [3, 3, 3], 'kept in the spool across a restart');
    const unknown = await setup.daemon.request({ cmd: 'status', msg: 'no-such-message' });
    assert.equal((unknown.error as { code: string }).code, 'not_found');
  });

  test('status forgets a message --status-retention after it became final', async (t) => {
    const setup = await startGcmDaemon(['--status-retention', '5s']);
    t.after(() => setup.close());
    const sent = await setup.daemon.request({ cmd: 'send', tokens: ['ok-brief'], payload: {} });
    await setup.daemon.settled();
    assert.equal((await setup.daemon.request({ cmd: 'status', msg: sent.msg })).delivered, 1);
    // Retention is a state the daemon reaches by itself: ask until it does, within a bound.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const expired = await setup.daemon.request({ cmd: 'status', msg: sent.msg });
      if (!expired.ok) {
        assert.equal((expired.error as { code: string }).code, 'not_found');
        break;
      }
      assert.ok(Date.now() < deadline, 'gone after --status-retention');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  test('a subscriber sees each event of a mixed batch exactly once, beside its replies', async (t) => {
    const setup = await startGcmDaemon(['--retries', '1']);
    t.after(() => setup.close());
    const watcher = await setup.daemon.connect();
    t.after(() => watcher.close());
    assert.deepEqual(await watcher.request({ cmd: 'subscribe', id: 'w' }), { ok: true, id: 'w', subscribed: ['delivered', 'failed', 'retry', 'notregistered', 'canonical'] });
    const tokens = ['ok-a', 'ok-b', 'gone-c', 'invalid-d', 'canon-e', 'flaky1-f'];
    const sent = await setup.daemon.request({ cmd: 'send', tokens, payload: {} });
    // Finals: 6 (delivered or failed), plus notregistered, canonical and one retry.
    const lines = await readUntil(watcher, (read) => split(read).events.length >= 9);
    watcher.write({ cmd: 'ping', id: 'still-answered' });
    const after = split(await readUntil(watcher, (read) => split(read).replies.length >= 1));
    assert.deepEqual(after.replies, [{ ok: true, id: 'still-answered' }]);
    const events = [...split(lines).events, ...after.events];
    const finals = events.filter((event) => event.event === 'delivered' || event.event === 'failed').map((event) => event.token).sort();
    assert.deepEqual(finals, [...tokens].sort(), 'each token ends in exactly one delivered or failed');
    assert.deepEqual(events.filter((event) => event.event === 'notregistered').map((event) => event.token), ['gone-c']);
    assert.deepEqual(events.filter((event) => event.event === 'canonical').map((event) => [event.token, event.canonical]), [['canon-e', 'new-canon-e']]);
    assert.deepEqual(events.filter((event) => event.event === 'retry').map((event) => event.token), ['flaky1-f']);
    const failed = events.find((event) => event.event === 'failed' && event.token === 'invalid-d');
    assert.deepEqual([failed?.app, failed?.msg, failed?.reason], ['default', sent.msg, 'InvalidRegistration']);
    assert.ok(!Number.isNaN(Date.parse(String(failed?.at))), 'at is a time');
  });

  test('a subscriber that never reads loses events in gaps whose counts are exact; the daemon stays lean', { timeout: 120_000 }, async (t) => {
    const setup = await startGcmDaemon();
    t.after(() => setup.close());
    const sender = await setup.daemon.connect();
    t.after(() => sender.close());
    const batch = async (prefix: string): Promise<void> => {
      for (let s = 0; s < 60; s++) {
        sender.write({ cmd: 'send', tokens: Array.from({ length: 1000 }, (_, i) => `ok-${prefix}-${s}-${i}`), payload: { pad: 'x'.repeat(200) } });
      }
      for (let s = 0; s < 60; s++) assert.equal((await sender.next()).ok, true);
      await setup.daemon.settled();
    };
    // The first run of a fresh daemon grows by itself: measure against a second run without a subscriber.
    await batch('warm');
    const before = rssBytes(setup.daemon.child.pid as number);
    await batch('plain');
    const plain = rssBytes(setup.daemon.child.pid as number);
    const sleeper = await setup.daemon.connect();
    t.after(() => sleeper.close());
    assert.equal((await sleeper.request({ cmd: 'subscribe', events: ['delivered'] })).ok, true);
    sleeper.socket.pause();
    await batch('unread');
    const watched = rssBytes(setup.daemon.child.pid as number);
    t.diagnostic(`RSS ${(before / 2 ** 20).toFixed(0)} → ${(plain / 2 ** 20).toFixed(0)} MiB without a subscriber, ${(watched / 2 ** 20).toFixed(0)} MiB with one that never read 60,000 events`);
    assert.ok(watched - plain < 40 * 2 ** 20, 'a subscriber that does not read does not grow the daemon');
    sleeper.socket.resume();
    // Reading now: what was kept, then, before the next event, the gap. A probe sent while the
    // backlog is still full is itself dropped: send another each 500 lines until one arrives.
    let probes = 0;
    const probe = async (): Promise<void> => void assert.equal((await setup.daemon.request({ cmd: 'send', tokens: [`ok-probe-${probes++}`], payload: {} })).ok, true);
    await probe();
    const lines: string[] = [];
    while (!lines.some((line) => line.includes('"ok-probe-'))) {
      const line = await sleeper.nextLine();
      assert.ok(line !== undefined, 'the connection stays open');
      lines.push(line);
      if (lines.length % 500 === 0) await probe();
    }
    const events = split(lines).events;
    const dropped = events.filter((event) => event.event === 'gap').reduce((sum, event) => sum + (event.dropped as number), 0);
    const delivered = events.filter((event) => event.event === 'delivered' && String(event.token).startsWith('ok-unread-')).length;
    assert.ok(dropped > 0, 'some were dropped');
    assert.equal(delivered + dropped, 60_000, `every event either arrived or was counted in a gap (${delivered} + ${dropped})`);
  });
});
