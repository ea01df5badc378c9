// The health check behind /healthz, on a hand-turned clock: it asks the spool
// at most once per second however often it is asked, answers within its
// timeout even when the spool never does, and reports why.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SpoolHealth } from '../../src/metrics/health.js';

/** A probe that counts its calls and answers as scripted. */
function probe(answer: () => Promise<void>) {
  const calls = { count: 0 };
  return {
    calls,
    run: () => {
      calls.count++;
      return answer();
    },
  };
}

describe('SpoolHealth', () => {
  test('answers from one probe for a second, then asks again', async () => {
    let now = 0;
    let failing: Error | undefined = undefined;
    const spool = probe(() => (failing ? Promise.reject(failing) : Promise.resolve()));
    const health = new SpoolHealth(spool.run, { now: () => now });
    health.serving = true;
    assert.deepEqual(await health.check(), { ok: true, serving: true, spool: 'writable' });
    failing = new Error('the disk holding the spool has 4096 bytes free');
    now = 999;
    assert.equal((await health.check()).ok, true, 'still the cached answer');
    assert.equal(spool.calls.count, 1);
    now = 1000;
    assert.deepEqual(await health.check(), { ok: false, serving: true, spool: 'the disk holding the spool has 4096 bytes free' });
    assert.equal(spool.calls.count, 2);
  });

  test('askers at the same time share one probe', async () => {
    let answer: () => void = () => undefined;
    const spool = probe(() => new Promise<void>((resolve) => (answer = resolve)));
    const health = new SpoolHealth(spool.run);
    health.serving = true;
    const checks = Promise.all([health.check(), health.check(), health.check()]);
    answer();
    assert.deepEqual((await checks).map((check) => check.ok), [true, true, true]);
    assert.equal(spool.calls.count, 1);
  });

  test('a probe that never answers is a failure once the timeout passes', async () => {
    const spool = probe(() => new Promise<void>(() => undefined));
    const health = new SpoolHealth(spool.run, { timeoutMs: 20 });
    health.serving = true;
    assert.deepEqual(await health.check(), { ok: false, serving: true, spool: 'the spool did not answer within 20 ms' });
  });

  test('not serving (starting or stopping): unhealthy, and the spool is not asked', async () => {
    const spool = probe(() => Promise.resolve());
    const health = new SpoolHealth(spool.run);
    assert.deepEqual(await health.check(), { ok: false, serving: false, spool: 'not asked' });
    assert.equal(spool.calls.count, 0);
  });
});
