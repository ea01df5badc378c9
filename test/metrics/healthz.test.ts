// GET /healthz of a real daemon: 200 while it serves and its spool takes
// writes; 503 with the reason when the spool's filesystem is full (a small
// tmpfs of the test's own, filled up), 200 again once there is room; and 503
// from the moment a stop begins.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { errorCode } from '../../src/guards.js';
import { GOCMD, run, tempDir } from '../support/daemon.js';
import { startGcmDaemon } from '../support/gcm-daemon.js';
import { type HttpAnswer, httpGet, metricsBase, scrape, total } from '../support/metrics.js';

/** Ask /healthz until it answers `status` (a state awaited, not a sleep: the answer is cached for a second). */
async function healthBecomes(base: string, status: number, timeoutMs = 20_000): Promise<HttpAnswer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await httpGet(`${base}/healthz`);
    if (answer.status === status) return answer;
    if (Date.now() > deadline) throw new Error(`/healthz still answers ${answer.status} ${answer.body}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Write to `path` until the filesystem is full. */
function fill(path: string): void {
  for (let written = 0; written < 64 * 1024 * 1024; written += 64 * 1024) {
    try {
      writeFileSync(path, Buffer.alloc(64 * 1024, 1), { flag: 'a' });
    } catch (error) {
      if (errorCode(error) !== 'ENOSPC') throw error;
      return;
    }
  }
  throw new Error('the filesystem never filled up');
}

describe('GET /healthz', () => {
  test('503 with the reason while the spool cannot be written, 200 before and after', { timeout: 60_000 }, async (t) => {
    const dir = tempDir();
    const disk = join(dir, 'disk');
    mkdirSync(disk);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', disk], { stdio: 'pipe' });
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      // CI runs as root; elsewhere the test cannot make a small filesystem of its own.
      t.skip(`cannot mount a tmpfs here: ${(error as Error).message.split('\n')[0]}`);
      return;
    }
    const setup = await startGcmDaemon(['--spool', join(disk, 'spool.db'), '--metrics', '127.0.0.1:0'], {}, dir).catch((error: unknown) => {
      execFileSync('umount', ['-l', disk]);
      rmSync(dir, { recursive: true, force: true });
      throw error;
    });
    // In this order: the daemon lets go of the spool, the filesystem goes, then the directory.
    t.after(async () => {
      await setup.close();
      execFileSync('umount', ['-l', disk]);
      rmSync(dir, { recursive: true, force: true });
    });
    const base = metricsBase(setup.daemon);
    const healthy = await httpGet(`${base}/healthz`);
    assert.equal(healthy.status, 200);
    assert.match(healthy.contentType, /^application\/json/);
    assert.deepEqual(JSON.parse(healthy.body), { ok: true, serving: true, spool: 'writable' });

    const filler = join(disk, 'filler');
    fill(filler);
    const full = await healthBecomes(base, 503);
    const reason = JSON.parse(full.body) as { ok: boolean; serving: boolean; spool: string };
    assert.equal(reason.ok, false);
    assert.equal(reason.serving, true);
    assert.match(reason.spool, /free|full/i, 'the reason names the full disk');
    assert.equal(total(await scrape(base), 'gocm_spool_writable', { app: 'default' }), 0);

    rmSync(filler);
    assert.deepEqual(JSON.parse((await healthBecomes(base, 200)).body), { ok: true, serving: true, spool: 'writable' });
    assert.equal(total(await scrape(base), 'gocm_spool_writable', { app: 'default' }), 1);
    assert.equal((await setup.daemon.request({ cmd: 'send', tokens: ['ok-after'], payload: {} })).ok, true);
  });

  test('503 once a stop has begun, while the drain still runs; /metrics still answers', { timeout: 30_000 }, async (t) => {
    const setup = await startGcmDaemon(['--metrics', '127.0.0.1:0', '--drain-timeout', '3s']);
    t.after(() => setup.close());
    const base = metricsBase(setup.daemon);
    // A request the fake never answers keeps the drain going until its deadline.
    assert.equal((await setup.daemon.request({ cmd: 'send', tokens: ['hang-1'], payload: {} })).ok, true);
    await setup.daemon.waitForReport((report) => report.pending === 1 && report.attempts === 1);
    assert.equal((await httpGet(`${base}/healthz`)).status, 200);
    setup.daemon.child.kill('SIGTERM');
    await setup.daemon.waitForLog('stopping');
    const stopping = await httpGet(`${base}/healthz`);
    assert.equal(stopping.status, 503);
    assert.equal((JSON.parse(stopping.body) as { serving: boolean }).serving, false);
    assert.equal((await httpGet(`${base}/metrics`)).status, 200);
    assert.equal((await setup.daemon.exited).code, 0);
  });
});

describe('--metrics refused', () => {
  test('a port already taken: exit 2, one line naming the flag', { timeout: 30_000 }, async (t) => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    t.after(() => taken.close());
    const { port } = taken.address() as { port: number };
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const args = ['--provider', 'gcm', '--apikey', 'k', '--gcm-endpoint', 'http://127.0.0.1:9/send', '--spool', ':memory:', '--socket', join(dir, 's.sock')];
    const { code, stderr } = await run(process.execPath, [GOCMD, ...args, '--metrics', `127.0.0.1:${port}`], { env: { PATH: process.env.PATH } });
    assert.equal(code, 2, stderr);
    assert.match(stderr, /^gocmd: --metrics: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE\n$/);
  });
});
