// The spool's disk misbehaving under a real daemon: another process holding
// SQLite's write lock for 2 s in the middle of delivery (a backup job), and a
// filesystem that fills up. Sends answer `busy` meanwhile; delivery waits;
// once the cause is gone pending returns to 0, with every acknowledged token
// delivered exactly once and no crash.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type DaemonProcess, type LineClient, ROOT, tempDir } from '../support/daemon.js';
import { startGcmDaemon } from '../support/gcm-daemon.js';
import { errorCode as codeOf } from '../../src/guards.js';
import { errorCode } from '../hostile/checks.js';

/** Send `sends` messages of `perSend` tokens; the tokens of accepted sends, and how many were answered busy. */
async function sendBatch(client: LineClient, prefix: string, sends: number, perSend: number): Promise<{ accepted: string[]; busy: number }> {
  const accepted: string[] = [];
  let busy = 0;
  for (let s = 0; s < sends; s++) {
    const tokens = Array.from({ length: perSend }, (_, i) => `ok-${prefix}-${s}-${i}`);
    const reply = await client.request({ cmd: 'send', tokens, payload: { s } });
    if (reply.ok) accepted.push(...tokens);
    else {
      assert.equal(errorCode(reply), 'busy', JSON.stringify(reply));
      busy++;
    }
  }
  return { accepted, busy };
}

function assertDeliveredOnce(seen: Map<string, number>, accepted: readonly string[]): void {
  const missing = accepted.filter((token) => seen.get(token) !== 1);
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} accepted tokens not delivered exactly once`);
}

function assertAlive(daemon: DaemonProcess): void {
  assert.equal(daemon.child.exitCode, null, `the daemon is running:\n${daemon.output().slice(-2000)}`);
  assert.deepEqual(
    daemon.logs().filter((line) => (line.level as number) >= 60),
    [],
    'nothing fatal logged',
  );
}

describe('the spool under storage faults', { concurrency: true }, () => {
  test('another process holds the write lock for 2 s during delivery', { timeout: 60_000 }, async (t) => {
    const dir = tempDir();
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const spool = join(dir, 'spool.db');
    const requested = firstRequest();
    // No answer before the lock is held: a fixed latency lost the race to a lock holder slow to start on a busy machine.
    let lockHeld: () => void = () => undefined;
    const hold = new Promise<void>((resolve) => (lockHeld = resolve));
    const setup = await startGcmDaemon(['--spool', spool, '--retries', '5'], { hold, onRequest: requested.onRequest }, dir);
    t.after(() => lockHeld());
    t.after(() => setup.close());
    const client = await setup.daemon.connect();
    t.after(() => client.close());

    const before = await sendBatch(client, 'before', 20, 100);
    assert.equal(before.busy, 0);
    // Requests are out when the lock is taken: their outcomes meet a locked spool.
    await requested.arrived;
    const holder = spawn(process.execPath, ['--input-type=module', '-e', HOLD_LOCK, spool, '2000'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`the lock holder exited (${code}) before it held the lock`)));
    });
    lockHeld();
    // A send while the lock is held is refused whole, in well under the 2 s.
    const during = await sendBatch(client, 'during', 1, 10);
    assert.equal(during.busy, 1, 'busy while another process holds the lock');
    assert.equal(await new Promise((resolve) => holder.once('exit', resolve)), 0);

    const after = await sendBatch(client, 'after', 5, 100);
    const report = await setup.daemon.settled();
    const accepted = [...before.accepted, ...after.accepted];
    assert.deepEqual([report.pending, report.successes, report.failures], [0, accepted.length, 0]);
    assertDeliveredOnce(setup.upstream.tokensSeen, accepted);
    assert.ok(setup.daemon.logs().some((line) => line.msg === 'the spool failed; delivery waits and tries again'), `the lock was met by delivery:\n${setup.daemon.output().slice(-3000)}`);
    assert.ok(setup.daemon.logs().some((line) => line.msg === 'the spool works again; delivery goes on'));
    assertAlive(setup.daemon);
  });

  test('the filesystem holding the spool fills up, then space comes back', { timeout: 60_000 }, async (t) => {
    const dir = tempDir();
    const disk = join(dir, 'disk');
    mkdirSync(disk);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', disk], { stdio: 'pipe' });
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      // CI runs as root; elsewhere the test cannot make a small filesystem of its own.
      t.skip(`cannot mount a tmpfs here: ${(error as Error).message.split('\n')[0]}`);
      return;
    }
    const requested = firstRequest();
    const setup = await startGcmDaemon(['--spool', join(disk, 'spool.db'), '--retries', '5'], { latencyMs: 400, onRequest: requested.onRequest }, dir).catch((error: unknown) => {
      execFileSync('umount', ['-l', disk]);
      rmSync(dir, { recursive: true, force: true });
      throw error;
    });
    const client = await setup.daemon.connect();
    // In this order: the daemon lets go of the spool, the filesystem goes, then the directory.
    t.after(async () => {
      client.close();
      await setup.close();
      execFileSync('umount', ['-l', disk]);
      rmSync(dir, { recursive: true, force: true });
    });

    const before = await sendBatch(client, 'before', 20, 100);
    assert.equal(before.busy, 0);
    await requested.arrived;
    const filler = join(disk, 'filler');
    fill(filler);
    const full = await sendBatch(client, 'full', 20, 100);
    assert.ok(full.busy > 0, 'sends are refused while the disk is full');
    rmSync(filler);

    const after = await sendBatch(client, 'after', 5, 100);
    assert.equal(after.busy, 0, 'accepted again once there is room');
    const report = await setup.daemon.settled();
    const accepted = [...before.accepted, ...full.accepted, ...after.accepted];
    assert.deepEqual([report.pending, report.successes, report.failures], [0, accepted.length, 0]);
    assertDeliveredOnce(setup.upstream.tokensSeen, accepted);
    const refused = [...setup.upstream.tokensSeen.keys()].filter((token) => token.startsWith('ok-full-') && !full.accepted.includes(token));
    assert.deepEqual(refused, [], 'nothing of a refused send was kept');
    assertAlive(setup.daemon);
  });
});

/** Write to `path` until the filesystem is full. */
function fill(path: string): void {
  const block = Buffer.alloc(64 * 1024, 1);
  let written = 0;
  for (;;) {
    try {
      writeFileSync(path, block, { flag: 'a' });
      written += block.length;
    } catch (error) {
      if (codeOf(error) !== 'ENOSPC') throw error;
      // The last bytes a partial block could still take.
      try {
        writeFileSync(path, Buffer.alloc(4096, 1), { flag: 'a' });
        continue;
      } catch {
        return;
      }
    }
    if (written > 64 * 1024 * 1024) throw new Error('the filesystem never filled up');
  }
}

/** A second process on the spool file: takes SQLite's write lock, says so, holds it argv[2] ms, commits. */
const HOLD_LOCK = `
import Database from 'better-sqlite3';
const db = new Database(process.argv[1], { timeout: 5000 });
db.exec('BEGIN IMMEDIATE');
process.stdout.write('locked\\n');
setTimeout(() => { db.exec('COMMIT'); db.close(); }, Number(process.argv[2]));
`;

/** A promise of the fake's first request, and the hook that keeps it. */
function firstRequest(): { arrived: Promise<void>; onRequest: () => void } {
  let onRequest: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => (onRequest = resolve));
  return { arrived, onRequest: () => onRequest() };
}
