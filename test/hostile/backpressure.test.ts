// A client that writes and never reads: the daemon stops reading from it
// instead of piling up its replies, keeps serving everyone else meanwhile, and
// hands over every reply once the client reads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGcmDaemon } from '../support/gcm-daemon.js';
import { rssBytes, until } from './checks.js';

const LINES = 100_000;
/** Each reply echoes its id: 1 kB each, 100 MB in all if the daemon buffered them. */
const PAD = 'p'.repeat(1000);
const MB = 1024 * 1024;

test('100,000 unread lines: RSS grows by under 100 MB, others are served meanwhile, then every reply arrives', { timeout: 120_000 }, async (t) => {
  const setup = await startGcmDaemon();
  t.after(() => setup.close());
  const { daemon } = setup;
  const pid = daemon.child.pid as number;
  // The baseline is a daemon that has worked a little, not one just started.
  await daemon.request({ cmd: 'send', tokens: ['ok-warm'], payload: { a: 1 } });
  await daemon.settled();
  const baseline = rssBytes(pid);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 25);
  t.after(() => clearInterval(sampler));

  const greedy = await daemon.connect();
  t.after(() => greedy.close());
  greedy.socket.pause();
  let sends = 0;
  for (let i = 0; i < LINES; i++) {
    if (i % 100 === 0) {
      greedy.write({ cmd: 'send', id: `${i}-${PAD}`, tokens: [`ok-greedy-${i}`], payload: { i } });
      sends++;
    } else {
      greedy.write({ cmd: 'ping', id: `${i}-${PAD}` });
    }
  }
  const written = greedy.socket.writableLength;

  // The daemon stops reading: what we wrote stops draining out of our buffer.
  let last = -1;
  let unchanged = 0;
  await until(() => {
    const now = greedy.socket.writableLength;
    unchanged = now === last ? unchanged + 1 : 0;
    last = now;
    return now === 0 || unchanged >= 10;
  }, 'the greedy client\'s writes to stop draining', 60_000);
  assert.ok(greedy.socket.writableLength > 0, 'the daemon stopped reading from the greedy client');

  const others = await Promise.all([0, 1, 2].map(() => daemon.connect()));
  t.after(() => others.forEach((client) => client.close()));
  for (const [c, client] of others.entries()) {
    assert.deepEqual(await client.request({ cmd: 'ping', id: c }), { ok: true, id: c });
    assert.equal((await client.request({ cmd: 'send', tokens: [`ok-other-${c}`] })).accepted, 1);
    assert.equal((await client.request({ cmd: 'report' })).ok, true);
  }
  assert.ok(greedy.socket.writableLength > 0, 'others were served while the greedy client was still held back');
  const heldRss = rssBytes(pid);

  greedy.socket.resume();
  for (let i = 0; i < LINES; i++) {
    const line = await greedy.nextLine();
    assert.ok(line !== undefined && line.startsWith(`{"ok":true,"id":"${i}-p`), `reply ${i} in order: ${line?.slice(0, 80)}`);
    if (i % 100 === 0) assert.ok(line.endsWith('"accepted":1}'), `reply ${i} accepted its token`);
  }
  clearInterval(sampler);
  peak = Math.max(peak, rssBytes(pid));

  const report = await daemon.settled();
  assert.equal(report.attempts, 1 + sends + others.length, 'every send accepted, each once');
  assert.equal(report.successes, report.attempts);
  t.diagnostic(
    `wrote ${(written / MB).toFixed(0)} MB; daemon RSS baseline ${(baseline / MB).toFixed(1)} MB, ` +
      `while held ${(heldRss / MB).toFixed(1)} MB, peak ${(peak / MB).toFixed(1)} MB (growth ${((peak - baseline) / MB).toFixed(1)} MB)`,
  );
  assert.ok(peak - baseline < 100 * MB, `RSS grew by ${((peak - baseline) / MB).toFixed(1)} MB`);
});
