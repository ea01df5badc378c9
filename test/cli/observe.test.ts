// gocmctl status, watch and fleet against a real gocmd sending to the fake
// legacy upstream: a settled message's status, the events of a small batch
// as JSON lines, and a watch that ends with exit 0 on SIGINT.
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { GOCMCTL, run } from '../support/daemon.js';
import { type GcmSetup, startGcmDaemon } from '../support/gcm-daemon.js';

type Json = Record<string, unknown>;

function jsonLines(stdout: string): Json[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Json);
}

/** A `gocmctl watch` child: its stdout as JSON lines, awaited as they come. */
class Watcher {
  readonly lines: Json[] = [];
  private buffered = '';
  private readonly waiters: Array<() => void> = [];
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      this.buffered += text;
      const lines = this.buffered.split('\n');
      this.buffered = lines.pop() ?? '';
      for (const line of lines) this.lines.push(JSON.parse(line) as Json);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.exited = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  }

  /** Resolves once `done` holds for the lines so far; rejects if the child ends first. */
  async until(done: (lines: readonly Json[]) => boolean): Promise<void> {
    while (!done(this.lines)) {
      const more = new Promise<void>((resolve) => this.waiters.push(resolve));
      const ended = this.exited.then((code) => {
        throw new Error(`gocmctl watch exited (${code}) with ${JSON.stringify(this.lines)}`);
      });
      await Promise.race([more, ended]);
    }
  }
}

describe('gocmctl status, watch and fleet', () => {
  let setup: GcmSetup;
  const watchers: Watcher[] = [];
  const ctl = (args: readonly string[]): ReturnType<typeof run> =>
    run(process.execPath, [GOCMCTL, '--socket', setup.daemon.socket, ...args], { env: { PATH: process.env.PATH } });
  const watch = (events: readonly string[]): Watcher => {
    const child = spawn(process.execPath, [GOCMCTL, '--socket', setup.daemon.socket, 'watch', ...events], { env: { PATH: process.env.PATH } });
    const watcher = new Watcher(child);
    watchers.push(watcher);
    return watcher;
  };

  before(async () => {
    setup = await startGcmDaemon();
  });
  after(async () => {
    for (const watcher of watchers) watcher.child.kill('SIGKILL');
    await Promise.all(watchers.map((watcher) => watcher.exited));
    await setup?.close();
  });

  test('status of a settled message: its counts and each failure with its reason', async () => {
    const sent = await ctl(['send', '--token', 'ok-st-1', '--token', 'gone-st-2', '--token', 'invalid-st-3', '--payload', '{}']);
    assert.equal(sent.code, 0, sent.stderr);
    const msg = jsonLines(sent.stdout)[0]?.msg as string;
    await setup.daemon.settled();
    const { code, stdout, stderr } = await ctl(['status', msg]);
    assert.equal(code, 0, stderr);
    const [status, ...rest] = jsonLines(stdout);
    assert.deepEqual(rest, []);
    assert.deepEqual({ ...status, failures: undefined }, { ok: true, msg, app: 'default', tokens: 3, pending: 0, delivered: 1, failed: 2, failures: undefined });
    const failures = (status?.failures as Json[]).map((failure) => [failure.token, failure.reason]).sort();
    assert.deepEqual(failures, [
      ['gone-st-2', 'NotRegistered'],
      ['invalid-st-3', 'InvalidRegistration'],
    ]);
  });

  test('status of an unknown message: not_found, exit 1', async () => {
    const { code, stderr } = await ctl(['status', 'no-such-message']);
    assert.equal(code, 1);
    assert.match(stderr, /^gocmctl: not_found: /);
  });

  test('watch, piped: the subscribe reply, then one JSON line per event of a batch; SIGINT exits 0', { timeout: 30_000 }, async () => {
    const all = watch([]);
    const failedOnly = watch(['failed']);
    // The first line is the reply: from then on the subscription is live.
    await all.until((lines) => lines.length >= 1);
    await failedOnly.until((lines) => lines.length >= 1);
    assert.deepEqual(all.lines[0], { ok: true, subscribed: ['delivered', 'failed', 'retry', 'notregistered', 'canonical'] });
    assert.deepEqual(failedOnly.lines[0], { ok: true, subscribed: ['failed'] });

    const sent = await ctl(['send', '--token', 'ok-w-1', '--token', 'gone-w-2', '--token', 'canon-w-3', '--payload', '{}']);
    assert.equal(sent.code, 0, sent.stderr);
    const msg = jsonLines(sent.stdout)[0]?.msg;
    const summary = (lines: readonly Json[]): string[] => lines.slice(1).map((line) => `${String(line.event)} ${String(line.token)}`).sort();
    const expected = ['canonical canon-w-3', 'delivered canon-w-3', 'delivered ok-w-1', 'failed gone-w-2', 'notregistered gone-w-2'];
    await all.until((lines) => summary(lines).length >= expected.length);
    await failedOnly.until((lines) => lines.length >= 2);
    assert.deepEqual(summary(all.lines), expected);
    for (const event of all.lines.slice(1)) assert.equal(event.msg, msg);
    assert.equal(all.lines.find((event) => event.event === 'canonical')?.canonical, 'new-canon-w-3');

    for (const watcher of [all, failedOnly]) watcher.child.kill('SIGINT');
    assert.equal(await all.exited, 0);
    assert.equal(await failedOnly.exited, 0);
    assert.deepEqual(summary(failedOnly.lines), ['failed gone-w-2']);
  });

  test('watch of an event that does not exist: the daemon refuses it, exit 1', async () => {
    const { code, stderr } = await ctl(['watch', 'exploded']);
    assert.equal(code, 1);
    assert.match(stderr, /^gocmctl: bad_request: "events": "exploded"/);
  });

  test('fleet: the daemons sharing the spool, or the daemon\'s error (exit 1) where it has no fleet command', async () => {
    const { code, stdout, stderr } = await ctl(['fleet']);
    const [reply] = jsonLines(stdout);
    if (reply?.ok) {
      assert.equal(code, 0, stderr);
      assert.ok((reply.daemons as Json[]).some((daemon) => daemon.pid === setup.daemon.child.pid));
    } else {
      assert.equal(code, 1);
      assert.match(stderr, /^gocmctl: unknown_command: /);
    }
  });
});
