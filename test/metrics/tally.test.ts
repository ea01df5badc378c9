// The metrics' tallies: counted from the same settlements as the report, they
// say the same; a histogram's observation lands in the first bucket whose
// bound it does not pass.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Observations, Tally } from '../../src/metrics/tally.js';
import type { Message } from '../../src/message.js';
import type { Reason } from '../../src/providers/provider.js';
import { Report } from '../../src/report.js';
import type { Settlement } from '../../src/spool/spool.js';

const message = (app: string): Message => ({ id: `m-${app}`, app, acceptedAt: 0, content: { payload: {} } });
const delivery = (app: string, token: string) => ({ message: message(app), token, attempts: 0 });
const reasons: Reason[] = [
  { source: 'fcm', code: 'UNREGISTERED' },
  { source: 'http', code: '503' },
  { source: 'network', code: 'ECONNRESET' },
  { source: 'network', code: 'ETIMEDOUT' },
  { source: 'gocm', code: 'expired' },
];

/** A batch of every kind of settlement, over two apps, in a fixed but mixed order. */
function batch(size: number): Settlement[] {
  return Array.from({ length: size }, (_, i): Settlement => {
    const d = delivery(i % 3 === 0 ? 'ios' : 'android', `t${i}`);
    const reason = reasons[i % reasons.length] as Reason;
    switch (i % 5) {
      case 0:
        return { delivery: d, result: 'delivered' };
      case 1:
        return { delivery: d, result: 'delivered', canonical: `c${i}` };
      case 2:
        return { delivery: d, result: 'failed', reason, notRegistered: reason.code === 'UNREGISTERED' };
      case 3:
        return { delivery: d, result: 'retry', reason, dueAt: 1 };
      default:
        return { delivery: d, result: 'failed', reason: { source: 'fcm', code: 'UNREGISTERED' }, notRegistered: true };
    }
  });
}

const sum = (counts: ReadonlyMap<string, number>): number => [...counts.values()].reduce((a, b) => a + b, 0);

describe('Tally', () => {
  test('counts what the report counts, app by app', () => {
    const tally = new Tally();
    const report = new Report(0);
    for (const settlements of [batch(97), batch(13), []]) {
      tally.settled(settlements);
      report.count(settlements);
    }
    for (const [app, tokens] of [['android', 40], ['ios', 7]] as const) {
      tally.acked(app, tokens, 0.001);
      report.accepted(app, tokens);
    }
    for (const app of ['android', 'ios']) {
      const counts = tally.of(app);
      const expected = report.snapshot(0, app);
      assert.deepEqual(
        { attempts: counts.accepted, successes: counts.delivered, failures: sum(counts.failed), retries: sum(counts.retries), canonicals: counts.canonical, notregistered: counts.notRegistered },
        { attempts: expected.attempts, successes: expected.successes, failures: expected.failures, retries: expected.retries, canonicals: expected.canonicals, notregistered: expected.notregistered },
        app,
      );
    }
  });

  test('failures and retries by the SPEC reason label', () => {
    const tally = new Tally();
    tally.settled(reasons.map((reason, i) => ({ delivery: delivery('a', `t${i}`), result: 'failed', reason, notRegistered: false })));
    assert.deepEqual(Object.fromEntries(tally.of('a').failed), { UNREGISTERED: 1, http_503: 1, network: 1, timeout: 1, expired: 1 });
  });
});

describe('Observations', () => {
  test('a value goes in the first bucket whose bound it does not pass; past the last, in +Inf', () => {
    const observations = new Observations([0.001, 0.01, 0.1]);
    for (const value of [0, 0.001, 0.0011, 0.01, 0.05, 0.1, 0.2, 30]) observations.observe(value);
    assert.deepEqual([...observations.counts], [2, 2, 2, 2]);
    assert.ok(Math.abs(observations.sum - 30.3621) < 1e-9);
  });
});
