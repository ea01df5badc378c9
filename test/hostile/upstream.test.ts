// The push service misbehaving: refused connections, resets before and during
// an answer, hangs past --request-timeout, 200s that are not the answer, 5xx
// storms; against the legacy endpoint over HTTP/1.1 and against FCM over TLS
// and HTTP/2, through the real daemon. Each token is retried or failed by the
// rules, none stays pending, the daemon never falls over, and a storm is
// summed up once a second.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { type DaemonProcess, startDaemon, tempDir } from '../support/daemon.js';
import { startFcmDaemon } from '../support/fcm-daemon.js';
import { API_KEY, startGcmDaemon } from '../support/gcm-daemon.js';
import { assertCountersMatch, until } from './checks.js';
import { type RogueBehaviour, startRogueGcm } from './rogue-gcm.js';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PROBLEMS = 'delivery problems in the last second';

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The reasons summed in the daemon's "delivery problems" lines. */
function problemReasons(daemon: DaemonProcess): Map<string, number> {
  const sums = new Map<string, number>();
  for (const entry of daemon.logs().filter((line) => line.msg === PROBLEMS)) {
    for (const [reason, count] of Object.entries(entry.reasons as Record<string, number>)) sums.set(reason, (sums.get(reason) ?? 0) + count);
  }
  return sums;
}

/** Logged at error level or worse, config problems (a 401) aside: none expected. */
function unexpectedErrors(daemon: DaemonProcess): Array<Record<string, unknown>> {
  return daemon.logs().filter((line) => (line.level as number) >= 50 && !/refuses our credentials/.test(String(line.msg)));
}

async function assertAlive(daemon: DaemonProcess): Promise<void> {
  assert.equal(daemon.child.exitCode, null, `the daemon is running:\n${daemon.output().slice(-2000)}`);
  assert.deepEqual(await daemon.request({ cmd: 'ping', id: 'alive' }), { ok: true, id: 'alive' });
}

/** `count` tokens named `prefix-N`, sent in sends of at most 1000; resolves once all are accepted. */
async function sendTokens(daemon: DaemonProcess, prefix: string, count: number): Promise<void> {
  for (let first = 0; first < count; first += 1000) {
    const tokens = Array.from({ length: Math.min(1000, count - first) }, (_, i) => `${prefix}-${first + i}`);
    assert.equal((await daemon.request({ cmd: 'send', tokens, payload: { first } })).accepted, tokens.length);
  }
}

/** The storm's checks: every token failed by the rules, and the log summed the tries up once a second. */
async function assertStormSummed(t: { diagnostic(message: string): void }, daemon: DaemonProcess, reason: string, tokens: number, retries: number): Promise<void> {
  const report = await daemon.settled();
  assert.deepEqual([report.failures, report.successes, report.pending, report.retries], [tokens, 0, 0, tokens * retries]);
  const outcomes = tokens * (retries + 1);
  await until(() => problemReasons(daemon).get(reason) === outcomes, 'the last summary line', 5000);
  const lines = daemon.logs().filter((line) => line.msg === PROBLEMS);
  const times = lines.map((line) => line.time as number);
  const gaps = times.slice(1).map((time, i) => time - (times[i] as number));
  t.diagnostic(`${outcomes} failed tries of ${tokens} tokens logged in ${lines.length} lines; gaps ${gaps.join(', ')} ms`);
  assert.ok(lines.length <= tokens / 100, `${lines.length} lines for ${outcomes} failed tries`);
  // Timers never fire early; the slack covers the event loop's cached clock.
  for (const gap of gaps) assert.ok(gap >= 900, `summaries at least a second apart: ${gaps.join(', ')} ms`);
  await assertAlive(daemon);
}

// Both suites at once: they share nothing, and CI must stay fast. --request-timeout is
// 3 s, not less: a machine loaded with other work starves a daemon for a second and
// more, and an answer that came in time must not count as a timeout.
describe('a misbehaving push service', { concurrency: true }, () => {
  describe('a misbehaving legacy endpoint', { concurrency: true }, () => {
    test('connection refused: every token retried --retries times, then failed', { timeout: 60_000 }, async (t) => {
      const port = await closedPort();
      const setup = await startGcmDaemon(['--gcm-endpoint', `http://127.0.0.1:${port}/fcm/send`, '--retries', '2']);
      t.after(() => setup.close());
      const { daemon } = setup;
      for (let s = 0; s < 4; s++) {
        assert.equal((await daemon.request({ cmd: 'send', tokens: Array.from({ length: 5 }, (_, i) => `ok-refused-${s}-${i}`) })).accepted, 5);
      }
      const report = await daemon.settled();
      assert.deepEqual([report.attempts, report.successes, report.failures, report.pending, report.retries], [20, 0, 20, 0, 40]);
      assertCountersMatch(report, 20);
      await until(() => problemReasons(daemon).get('network: ECONNREFUSED') === 60, 'the refusals to be logged', 5000);
      assert.deepEqual(unexpectedErrors(daemon), []);
      await assertAlive(daemon);
    });

    test('the fake endpoint resets, hangs past --request-timeout, answers garbage or 500: retried, then failed', { timeout: 60_000 }, async (t) => {
      const setup = await startGcmDaemon(['--request-timeout', '3s', '--retries', '1']);
      t.after(() => setup.close());
      const { daemon, upstream } = setup;
      const faulty = ['reset-a', 'reset-b', 'hang-a', 'garbage-a', 'err500-a', 'unavail-a'];
      const fine = ['ok-a', 'flaky1-a'];
      // Each fault in a request of its own: the first token scripts the whole request.
      for (const token of [...faulty, ...fine]) assert.equal((await daemon.request({ cmd: 'send', tokens: [token], payload: { t: token } })).accepted, 1);
      const report = await daemon.settled();
      for (const token of faulty) assert.equal(upstream.tokensSeen.get(token), 2, `${token}: tried 1 + --retries times`);
      assert.equal(upstream.tokensSeen.get('ok-a'), 1);
      assert.equal(upstream.tokensSeen.get('flaky1-a'), 2);
      assert.deepEqual([report.successes, report.failures, report.pending], [2, faulty.length, 0]);
      assertCountersMatch(report, faulty.length + fine.length);
      // The hang timed out, the garbage was not taken for an answer, the 500 was seen: each try summed in the log.
      const logged = { 'network: ERR_REQUEST_TIMEOUT': 2, bad_response: 2, http_500: 2, Unavailable: 3 };
      await until(() => Object.entries(logged).every(([reason, count]) => problemReasons(daemon).get(reason) === count), `the log to sum up ${JSON.stringify(logged)}`, 5000);
      assert.deepEqual(unexpectedErrors(daemon), []);
      await assertAlive(daemon);
    });

    test('a rogue endpoint: mid-response resets, truncated and stalled bodies, HTML, miscounted results, 503, 302, 401', { timeout: 60_000 }, async (t) => {
      const rogue = await startRogueGcm();
      const dir = tempDir();
      const keyFile = join(dir, 'apikey');
      writeFileSync(keyFile, API_KEY);
      const start = (name: string, timeout: string): Promise<DaemonProcess> => {
        const args = ['--provider', 'gcm', '--apikey-file', keyFile, '--gcm-endpoint', rogue.url, '--max-backoff', '10ms', '--request-timeout', timeout, '--retries', '1'];
        return startDaemon({ dir, args: [...args, '--socket', join(dir, `${name}.sock`)] });
      };
      // What must be final at once goes through a daemon with all the time in the world: on a
      // loaded machine even a 3 s timeout can strike an answer that a starved process was slow to read.
      const [daemon, patient] = await Promise.all([start('quick', '3s'), start('patient', '30s')]);
      t.after(async () => {
        await Promise.all([daemon.close(), patient.close()]);
        await rogue.close();
        rmSync(dir, { recursive: true, force: true });
      });
      const retried: RogueBehaviour[] = ['midreset', 'truncated', 'stall', 'hang', 'reset', 'html', 'empty', 'nullresults', 'wrongcount', 'err500', 'err503'];
      const final = ['redirect', 'unauth', 'ok'];
      const sendBoth = async (to: DaemonProcess, behaviours: readonly string[]): Promise<void> => {
        for (const behaviour of behaviours) assert.equal((await to.request({ cmd: 'send', tokens: [`${behaviour}-1`, `${behaviour}-2`] })).accepted, 2);
      };
      await Promise.all([sendBoth(daemon, retried), sendBoth(patient, final)]);
      const [report, patientReport] = await Promise.all([daemon.settled(), patient.settled()]);
      for (const behaviour of retried) assert.equal(rogue.tokensSeen.get(`${behaviour}-2`), 2, `${behaviour}: tried twice, then failed`);
      for (const behaviour of final) assert.equal(rogue.tokensSeen.get(`${behaviour}-2`), 1, `${behaviour}: final at once`);
      assert.deepEqual([report.successes, report.failures, report.pending, report.notregistered], [0, 2 * retried.length, 0, 0]);
      assert.deepEqual([patientReport.successes, patientReport.failures, patientReport.pending, patientReport.notregistered], [2, 4, 0, 0]);
      assertCountersMatch(report, 2 * retried.length);
      assertCountersMatch(patientReport, 2 * final.length);
      assert.deepEqual([...unexpectedErrors(daemon), ...unexpectedErrors(patient)], []);
      await Promise.all([assertAlive(daemon), assertAlive(patient)]);
    });

    test('a 5xx storm: every token failed by the rules, and logged once a second, not once a token', { timeout: 60_000 }, async (t) => {
      const retries = 2;
      const setup = await startGcmDaemon(['--retries', String(retries), '--max-backoff', '1s'], { behaviour: 'err500' });
      t.after(() => setup.close());
      const { daemon, upstream } = setup;
      const tokens = 20_000;
      await sendTokens(daemon, 'ok-storm', tokens);
      await daemon.settled();
      assert.equal(upstream.tokensSeen.size, tokens);
      assert.ok([...upstream.tokensSeen.values()].every((seen) => seen === retries + 1), 'each token tried 1 + --retries times');
      await assertStormSummed(t, daemon, 'http_500', tokens, retries);
    });
  });

  describe('a misbehaving FCM, over TLS and HTTP/2', { concurrency: true }, () => {
    test('connection refused: every token retried --retries times, then failed', { timeout: 60_000 }, async (t) => {
      const port = await closedPort();
      // The token endpoint (the fake) answers; messages:send is refused.
      const setup = await startFcmDaemon({ args: ['--fcm-endpoint', `https://127.0.0.1:${port}`, '--retries', '2'] });
      t.after(() => setup.close());
      const { daemon } = setup;
      await sendTokens(daemon, 'ok-refused', 10);
      const report = await daemon.settled();
      assert.deepEqual([report.attempts, report.successes, report.failures, report.pending, report.retries], [10, 0, 10, 0, 20]);
      assertCountersMatch(report, 10);
      await until(() => problemReasons(daemon).get('network: ECONNREFUSED') === 30, 'the refusals to be logged', 5000);
      assert.deepEqual(unexpectedErrors(daemon), []);
      await assertAlive(daemon);
    });

    test('FCM resets streams, hangs past --request-timeout, answers garbage, 502 or 500: retried, then failed', { timeout: 60_000 }, async (t) => {
      const setup = await startFcmDaemon({ args: ['--request-timeout', '3s', '--retries', '1'] });
      t.after(() => setup.close());
      const { daemon, upstream } = setup;
      const faulty = ['reset-a', 'midreset-a', 'hang-a', 'garbage200-a', 'garbage-a', 'internal-a'];
      const fine = ['ok-a', 'flaky1-a'];
      assert.equal((await daemon.request({ cmd: 'send', tokens: [...faulty, ...fine], payload: { t: 'faults' } })).accepted, faulty.length + fine.length);
      const report = await daemon.settled();
      for (const token of faulty) assert.equal(upstream.sends.get(token), 2, `${token}: tried 1 + --retries times`);
      assert.equal(upstream.sends.get('ok-a'), 1);
      assert.equal(upstream.sends.get('flaky1-a'), 2);
      assert.deepEqual([report.successes, report.failures, report.pending], [2, faulty.length, 0]);
      assertCountersMatch(report, faulty.length + fine.length);
      // Both resets were seen as resets, the hang timed out, the garbage was not taken for an answer.
      const logged = { 'network: ERR_STREAM_RESET': 4, 'network: ERR_REQUEST_TIMEOUT': 2, bad_response: 2, http_502: 2, INTERNAL: 2, UNAVAILABLE: 1 };
      await until(() => Object.entries(logged).every(([reason, count]) => problemReasons(daemon).get(reason) === count), `the log to sum up ${JSON.stringify(logged)}`, 5000);
      assert.equal(upstream.grants, 1, 'one access token served it all');
      assert.deepEqual(unexpectedErrors(daemon), []);
      await assertAlive(daemon);
    });

    test('a 5xx storm: every token failed by the rules, and logged once a second, not once a token', { timeout: 60_000 }, async (t) => {
      const retries = 2;
      const setup = await startFcmDaemon({ args: ['--retries', String(retries), '--max-backoff', '1s'] });
      t.after(() => setup.close());
      const { daemon, upstream } = setup;
      const tokens = 3000;
      await sendTokens(daemon, 'internal-storm', tokens);
      await daemon.settled();
      assert.equal(upstream.sends.size, tokens);
      assert.ok([...upstream.sends.values()].every((seen) => seen === retries + 1), 'each token tried 1 + --retries times');
      await assertStormSummed(t, daemon, 'INTERNAL', tokens, retries);
    });
  });
});
