// The real engine, in-process: the memory spool (failing on command), a
// scripted provider and a hand-turned clock, so retries, Retry-After, spool
// failures and the drain deadline are tested in milliseconds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeliveryEngine, type EngineOptions } from '../../src/delivery/engine.js';
import { GOOGLE_429_FLOOR_MS, parseRetryAfter, statusOutcome } from '../../src/providers/answers.js';
import type { Outcome } from '../../src/providers/provider.js';
import { Report } from '../../src/report.js';
import { MemorySpool } from '../../src/spool/memory.js';
import type { Settlement } from '../../src/spool/spool.js';
import { ManualClock } from '../support/clock.js';
import { memoryLog } from '../support/log.js';
import { FaultySpool, type Script, ScriptedProvider } from '../support/scripted.js';

const APP = 'default';
const DELIVERED: Outcome = { kind: 'delivered' };
const UNAVAILABLE: Outcome = { kind: 'retry', reason: { source: 'http', code: '503' } };

interface Rig {
  readonly clock: ManualClock;
  readonly spool: FaultySpool;
  readonly provider: ScriptedProvider;
  readonly report: Report;
  readonly engine: DeliveryEngine;
  readonly log: ReturnType<typeof memoryLog>;
  /** Spool one send per token list and wake the engine. */
  send(...sends: string[][]): Promise<void>;
  /** A new engine (a restarted daemon) on the same spool, with its own provider. */
  restart(script: Script): { engine: DeliveryEngine; provider: ScriptedProvider; report: Report };
  /** Every settlement committed so far. */
  settled(): Settlement[];
}

interface RigOptions extends Partial<EngineOptions> {
  readonly perRequest?: number;
  readonly concurrency?: number;
  readonly rate?: number;
}

function rig(script: Script, options: RigOptions = {}): Rig {
  const clock = new ManualClock();
  const spool = new FaultySpool(new MemorySpool(1_000_000, clock));
  const log = memoryLog();
  const engineOptions = { retries: options.retries ?? 2, maxBackoffMs: options.maxBackoffMs ?? 60_000 };
  const make = (scripted: Script) => {
    const provider = new ScriptedProvider(scripted, options.perRequest);
    const report = new Report(spool.recovered);
    const apps = [{ name: APP, provider, concurrency: options.concurrency ?? 100, rate: options.rate }];
    const engine = new DeliveryEngine({ spool, apps, report, log: log.log, clock }, engineOptions);
    return { engine, provider, report };
  };
  const first = make(script);
  let sends = 0;
  return {
    clock,
    spool,
    ...first,
    log,
    async send(...lists) {
      for (const tokens of lists) await spool.add({ id: `m${sends++}`, app: APP, acceptedAt: clock.now(), content: { payload: {} } }, tokens);
      first.engine.wake();
    },
    restart: make,
    settled: () => spool.settled.flat(),
  };
}

const tokens = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

/** Let the engine finish what it can, then move the clock to its next timer; `rounds` times. */
async function runTimers(r: { engine: DeliveryEngine; clock: ManualClock }, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await r.engine.idle();
    if (!r.clock.advanceToNext()) break;
  }
  await r.engine.idle();
}

describe('the engine delivers and settles', () => {
  test('each token once, counted once, in one commit per batch', async () => {
    const r = rig(() => DELIVERED);
    await r.send(tokens('a', 50), tokens('b', 50));
    await r.engine.idle();
    assert.deepEqual(r.report.snapshot(0), { attempts: 0, failures: 0, pending: 0, canonicals: 0, notregistered: 0, successes: 100, retries: 0, recovered: 0 });
    assert.ok(tokens('a', 50).every((token) => r.provider.tries(token) === 1));
    assert.equal((await r.spool.counts(undefined, r.clock.now())).pending, 0);
  });

  test('never more than --concurrency requests in flight', async () => {
    const r = rig(() => 'hold', { concurrency: 3 });
    await r.send(tokens('t', 10));
    await waitFor(() => r.provider.held.size === 3);
    for (let released = 0; released < 10; released++) {
      await waitFor(() => r.provider.held.size > 0);
      assert.ok(r.provider.inFlight <= 3);
      [...r.provider.held][0]?.release([DELIVERED]);
    }
    await r.engine.idle();
    assert.equal(r.provider.peakInFlight, 3);
    assert.equal(r.report.snapshot(0).successes, 10);
  });

  test('a provider that throws or rejects costs a try, never the process', async () => {
    const r = rig(() => DELIVERED, { retries: 1 });
    let calls = 0;
    const send = r.provider.send.bind(r.provider);
    r.provider.send = (message, list) => {
      calls++;
      if (calls === 1) throw new Error('synchronous bug');
      if (calls === 2) return Promise.reject(new Error('asynchronous bug'));
      return send(message, list);
    };
    await r.send(['x'], ['y']);
    await runTimers(r, 5);
    assert.equal(r.report.snapshot(0).successes, 2);
    assert.deepEqual(r.settled().filter((s) => s.result === 'retry').map((s) => s.result === 'retry' && s.reason), [
      { source: 'gocm', code: 'internal' },
      { source: 'gocm', code: 'internal' },
    ]);
    assert.equal(r.log.find(/provider failed unexpectedly/).length, 2);
  });
});

describe('retries', () => {
  test('a token that keeps failing is tried 1 + --retries times, then failed with the last reason', async () => {
    const r = rig(() => UNAVAILABLE, { retries: 2 });
    await r.send(['t']);
    await runTimers(r, 10);
    assert.equal(r.provider.tries('t'), 3);
    const settled = r.settled();
    assert.deepEqual(settled.map((s) => s.result), ['retry', 'retry', 'failed']);
    assert.deepEqual(settled[2], { delivery: settled[2]?.delivery, result: 'failed', reason: UNAVAILABLE.reason, notRegistered: false });
    assert.deepEqual([r.report.snapshot(0).retries, r.report.snapshot(0).failures], [2, 1]);
  });

  test('the waits written are 1–1.5 s, then 2–3 s', async () => {
    const r = rig(() => UNAVAILABLE, { retries: 2 });
    const start = r.clock.now();
    await r.send(['t']);
    await r.engine.idle();
    const first = r.settled()[0];
    assert.ok(first?.result === 'retry' && first.dueAt - start >= 1000 && first.dueAt - start <= 1500, `first wait ${first?.result === 'retry' && first.dueAt - start}`);
    r.clock.advance(first.dueAt - start);
    await r.engine.idle();
    const second = r.settled()[1];
    const wait = second?.result === 'retry' ? second.dueAt - first.dueAt : NaN;
    assert.ok(wait >= 2000 && wait <= 3000, `second wait ${wait}`);
  });

  const retryAfterRows: Array<[string, string, (start: number) => number]> = [
    ['seconds', '7', (start) => start + 7000],
    ['huge (10^20 s): an hour', '99999999999999999999', (start) => start + 3_600_000],
    ['a year: an hour', '31536000', (start) => start + 3_600_000],
    ['an HTTP date', 'date+30', (start) => start + 30_000],
    ['an RFC 850 date', 'rfc850+60', (start) => start + 60_000],
    ['garbage: the ordinary back-off', 'soon', (start) => start + 1000],
  ];
  for (const [name, header, expected] of retryAfterRows) {
    test(`Retry-After ${name}`, async () => {
      const r = rig((_token, attempt) => {
        if (attempt > 1) return DELIVERED;
        const now = r.clock.now();
        const value = header.startsWith('date+')
          ? new Date(now + 1000 * Number(header.slice(5))).toUTCString()
          : header.startsWith('rfc850+')
            ? rfc850(now + 1000 * Number(header.slice(7)))
            : header;
        return statusOutcome(503, parseRetryAfter(value, now));
      }, { maxBackoffMs: 60_000 });
      const start = r.clock.now();
      await r.send(['t']);
      await r.engine.idle();
      const [retry] = r.settled();
      assert.equal(retry?.result, 'retry');
      // random() is real here: the ordinary back-off lies in [1 s, 1.5 s].
      const dueAt = retry?.result === 'retry' ? retry.dueAt : NaN;
      if (header === 'soon') assert.ok(dueAt >= expected(start) && dueAt <= start + 1500, `due ${dueAt - start} ms`);
      else assert.equal(dueAt, expected(start));
      assert.ok(Number.isSafeInteger(dueAt), 'a due time the spool can store');
      // The due timer is set for at most a minute at a time: an hour is 60 of them.
      await runTimers(r, 100);
      assert.equal(r.report.snapshot(0).successes, 1);
    });
  }

  test("429s without Retry-After come back after FCM's minute, spread out, not as a wave", async () => {
    const r = rig((_token, attempt) => (attempt === 1 ? statusOutcome(429, undefined, GOOGLE_429_FLOOR_MS) : DELIVERED));
    const start = r.clock.now();
    await r.send(tokens('q', 100));
    await r.engine.idle();
    const waits = r.settled().map((s) => (s.result === 'retry' ? s.dueAt - start : NaN));
    assert.equal(waits.length, 100);
    assert.ok(Math.min(...waits) >= 60_000, `shortest wait ${Math.min(...waits)}`);
    assert.ok(Math.max(...waits) <= 90_000, `longest wait ${Math.max(...waits)}`);
    assert.ok(new Set(waits).size > 50, `${new Set(waits).size} distinct due times for 100 tokens`);
    await runTimers(r, 200);
    assert.equal(r.report.snapshot(0).successes, 100);
  });

  test('one timer for the earliest due retry, and it fires the retry', async () => {
    const r = rig((_token, attempt) => (attempt === 1 ? { ...UNAVAILABLE, retryAfterMs: 5000 } : DELIVERED));
    const start = r.clock.now();
    await r.send(tokens('t', 20));
    await r.engine.idle();
    assert.deepEqual(r.clock.pending, [start + 5000], 'one timer, not one per token');
    r.clock.advance(5000);
    await r.engine.idle();
    assert.equal(r.report.snapshot(0).successes, 20);
  });
});

describe('the spool failing', () => {
  test('a failed claim is retried with back-off; nothing crashes; delivery resumes once it works', async () => {
    const r = rig(() => DELIVERED);
    r.spool.fail('claim');
    await r.send(tokens('c', 5));
    await r.engine.idle();
    assert.equal(r.engine.storageFailing, true);
    assert.equal(r.provider.requests.length, 0);
    const [retryAt] = r.clock.pending;
    assert.ok(retryAt !== undefined && retryAt - r.clock.now() >= 100 && retryAt - r.clock.now() <= 150, 'first retry after 100–150 ms');
    await runTimers(r, 4);
    assert.ok((r.spool.calls.get('claim') ?? 0) >= 4, 'tried again');
    assert.equal(r.log.find(/the spool failed/).length, 1, 'logged once, not once a try');
    r.spool.heal();
    await runTimers(r, 10);
    assert.equal(r.engine.storageFailing, false);
    assert.equal(r.report.snapshot(0).successes, 5);
    assert.equal(r.log.find(/the spool works again/).length, 1);
  });

  test('a failed settle keeps the outcomes: none is lost, none sent twice, pending returns to 0', async () => {
    const r = rig((token) => (token.startsWith('gone') ? { kind: 'failed', reason: { source: 'fcm', code: 'UNREGISTERED' }, notRegistered: true } : DELIVERED));
    r.spool.fail('settle', 3, Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
    await r.send(tokens('ok', 30), ['gone-1']);
    await r.engine.idle();
    assert.equal(r.report.snapshot(0).successes, 0, 'nothing counted before it is committed');
    assert.equal((await r.spool.counts(undefined, r.clock.now())).inflight, 31, 'the spool still holds them in flight');
    await runTimers(r, 10);
    assert.equal(r.spool.calls.get('settle'), 4);
    assert.equal((await r.spool.counts(undefined, r.clock.now())).pending, 0);
    assert.deepEqual([r.report.snapshot(0).successes, r.report.snapshot(0).failures, r.report.snapshot(0).notregistered], [30, 1, 1]);
    assert.ok(tokens('ok', 30).every((token) => r.provider.tries(token) === 1), 'each sent exactly once');
    assert.deepEqual((await r.spool.takeNotRegistered(undefined, false)).map((entry) => entry.token), ['gone-1']);
  });

  test('no new claims while outcomes cannot be committed', async () => {
    const r = rig(() => DELIVERED, { concurrency: 5 });
    r.spool.fail('settle');
    await r.send(tokens('t', 20));
    await runTimers(r, 5);
    assert.equal(r.provider.requests.length, 5, 'only the first window was sent');
    r.spool.heal();
    await runTimers(r, 10);
    assert.equal(r.report.snapshot(0).successes, 20);
  });
});

describe('stopping', () => {
  test('requests that finish before the deadline are committed; claiming stops at once', async () => {
    const r = rig(() => 'hold', { concurrency: 2 });
    await r.send(tokens('t', 5));
    await waitFor(() => r.provider.held.size === 2);
    const drained = r.engine.drain(r.clock.now() + 10_000);
    for (const request of [...r.provider.held]) request.release([DELIVERED]);
    await drained;
    assert.equal(r.provider.requests.length, 2, 'nothing claimed after the stop began');
    assert.equal(r.provider.closed, true);
    assert.equal(r.provider.destroyed, false);
    assert.deepEqual(await r.spool.counts(undefined, r.clock.now()).then((c) => [c.pending, c.queued, c.inflight]), [3, 3, 0]);
    assert.equal(r.report.snapshot(0).successes, 2);
  });

  test('at the deadline requests are abandoned; after a restart each is sent exactly once more', async () => {
    const r = rig(() => 'hold', { concurrency: 10 });
    await r.send(tokens('t', 4));
    await waitFor(() => r.provider.held.size === 4);
    const drained = r.engine.drain(r.clock.now() + 10_000);
    await waitFor(() => r.clock.pending.length === 1);
    r.clock.advance(10_000);
    await drained;
    assert.equal(r.provider.destroyed, true);
    assert.equal(r.settled().length, 0, 'an abort is not an answer: nothing recorded');
    assert.deepEqual(await r.spool.counts(undefined, r.clock.now()).then((c) => [c.queued, c.inflight]), [4, 0], 'given back to the spool');
    assert.ok(r.log.find(/drain deadline passed/).length === 1);

    const restarted = r.restart(() => DELIVERED);
    restarted.engine.wake();
    await restarted.engine.idle();
    for (const token of tokens('t', 4)) assert.deepEqual([r.provider.tries(token), restarted.provider.tries(token)], [1, 1], token);
    assert.equal((await r.spool.counts(undefined, r.clock.now())).pending, 0);
  });

  test('claimed tokens not yet sent go back to the spool when the stop begins', async () => {
    const r = rig(() => 'hold', { concurrency: 1, perRequest: 1000 });
    await r.send(['a'], ['b'], ['c']);
    await waitFor(() => r.provider.held.size === 1);
    await r.engine.stopClaiming();
    assert.deepEqual(await r.spool.counts(undefined, r.clock.now()).then((c) => [c.queued, c.inflight]), [2, 1]);
  });

  test('outcomes the spool cannot take at the end are retried until the deadline, then left for the restart', async () => {
    const r = rig(() => 'hold', { concurrency: 2 });
    await r.send(['a', 'b']);
    await waitFor(() => r.provider.held.size === 2);
    r.spool.fail('settle');
    let drained = false;
    const draining = r.engine.drain(r.clock.now() + 1000).then(() => (drained = true));
    for (const request of [...r.provider.held]) request.release([DELIVERED]);
    await r.engine.idle();
    // Turn the clock through each back-off until the drain gives up at its deadline.
    await waitFor(() => {
      r.clock.advanceToNext();
      return drained;
    });
    await draining;
    assert.ok((r.spool.calls.get('settle') ?? 0) > 2, 'tried more than once');
    assert.equal(r.log.find(/outcomes not recorded before the deadline/).length, 1);
    assert.equal((await r.spool.counts(undefined, r.clock.now())).inflight, 2, 'still in flight in the spool: recovered at the next start');
  });
});

describe('apps, rates and quotas', () => {
  test('each app has its own lane: one that is stuck holds none of the other', async () => {
    const clock = new ManualClock();
    const spool = new FaultySpool(new MemorySpool(1_000_000, clock));
    const stuck = new ScriptedProvider(() => 'hold');
    const fine = new ScriptedProvider(() => DELIVERED);
    const report = new Report(0);
    const engine = new DeliveryEngine(
      { spool, apps: [{ name: 'ios', provider: stuck, concurrency: 2, rate: undefined }, { name: 'android', provider: fine, concurrency: 2, rate: undefined }], report, log: memoryLog().log, clock },
      { retries: 2, maxBackoffMs: 60_000 },
    );
    await spool.add({ id: 'i', app: 'ios', acceptedAt: clock.now(), content: { payload: {} } }, tokens('i', 10));
    await spool.add({ id: 'a', app: 'android', acceptedAt: clock.now(), content: { payload: {} } }, tokens('a', 10));
    engine.wake();
    await waitFor(() => report.snapshot(0, 'android').successes === 10);
    assert.equal(stuck.held.size, 2, 'ios: its own concurrency, still in flight');
    assert.deepEqual([report.snapshot(0, 'ios').successes, engine.inFlightOf('ios'), engine.inFlightOf('android')], [0, 2, 0]);
  });

  test('--rate 200 spreads 1,000 tokens over at least 4 s, in bursts of at most a second', async () => {
    const r = rig(() => DELIVERED, { rate: 200, concurrency: 1000 });
    const start = r.clock.now();
    const sentAt: number[] = [];
    const send = r.provider.send.bind(r.provider);
    r.provider.send = (message, list) => {
      sentAt.push(...list.map(() => r.clock.now() - start));
      return send(message, list);
    };
    await r.send(tokens('r', 1000));
    await runTimers(r, 1000);
    assert.equal(r.report.snapshot(0).successes, 1000);
    const last = sentAt.at(-1) ?? 0;
    assert.ok(last >= 4000, `the last token went at ${last} ms`);
    for (let second = 0; second * 1000 <= last; second++) {
      const inWindow = sentAt.filter((at) => at >= second * 1000 && at < (second + 1) * 1000).length;
      assert.ok(inWindow <= 400, `${inWindow} tokens in second ${second}`);
    }
  });

  test('a quota answer pauses the whole app; when the pause ends one request goes first', async () => {
    let quotaLeft = 1;
    const r = rig((token) => {
      if (token === 'q0' && quotaLeft-- > 0) return { kind: 'retry', reason: { source: 'fcm', code: 'QUOTA_EXCEEDED' }, retryAfterMs: 30_000, quota: true };
      return 'hold';
    }, { concurrency: 1 });
    const start = r.clock.now();
    await r.send(tokens('q', 5));
    await r.engine.idle();
    assert.equal(r.engine.pausedUntil(APP), start + 30_000, 'paused for the Retry-After');
    assert.equal(r.provider.requests.length, 1, 'nothing else went meanwhile');
    r.clock.advance(30_000);
    await waitFor(() => r.provider.held.size === 1);
    assert.equal(r.engine.pausedUntil(APP), undefined);
    assert.equal(r.provider.requests.length, 2, 'one probe');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(r.provider.requests.length, 2, 'the rest wait for the probe');
    [...r.provider.held][0]?.release([DELIVERED]);
    await waitFor(() => r.provider.requests.length === 3);
  });

  test('an expired token fails as expired and is never sent; a retry that would come too late fails now', async () => {
    const r = rig(() => UNAVAILABLE);
    const now = r.clock.now();
    await r.spool.add({ id: 'old', app: APP, acceptedAt: now, expiresAt: now - 1, content: { payload: {} } }, ['late']);
    await r.spool.add({ id: 'soon', app: APP, acceptedAt: now, expiresAt: now + 500, content: { payload: {} } }, ['short']);
    r.engine.wake();
    await r.engine.idle();
    assert.equal(r.provider.tries('late'), 0, 'never sent');
    assert.equal(r.provider.tries('short'), 1, 'sent once; its retry (1 s on) would pass its expiry');
    const reasons = r.settled().map((s) => [s.delivery.token, s.result, s.result === 'failed' ? s.reason : undefined]);
    assert.deepEqual(reasons.sort(), [
      ['late', 'failed', { source: 'gocm', code: 'expired' }],
      ['short', 'failed', { source: 'gocm', code: 'expired' }],
    ]);
  });

  test('a reload swaps providers: new requests go to the new one, the old one closes; a removed app waits', async () => {
    const r = rig(() => DELIVERED);
    const rotated = new ScriptedProvider(() => DELIVERED);
    r.engine.setApps([{ name: APP, provider: rotated, concurrency: 10, rate: undefined }]);
    await r.send(['after-reload']);
    await r.engine.idle();
    assert.deepEqual([r.provider.tries('after-reload'), rotated.tries('after-reload')], [0, 1]);
    assert.equal(r.provider.closed, true, 'the old provider closed');
    r.engine.setApps([]);
    await r.send(['while-removed']);
    await r.engine.idle();
    assert.equal(rotated.tries('while-removed'), 0);
    assert.equal((await r.spool.counts(APP, r.clock.now())).queued, 1, 'kept in the spool, untouched');
    r.engine.setApps([{ name: APP, provider: rotated, concurrency: 10, rate: undefined }]);
    await r.engine.idle();
    assert.equal(rotated.tries('while-removed'), 1, 'sent once the app is back');
  });
});

/** An RFC 850 date (Sunday, 06-Nov-94 08:49:37 GMT) for `ms`. */
function rfc850(ms: number): string {
  const date = new Date(ms);
  const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  const [, day, month, year, time] = date.toUTCString().split(' ') as [string, string, string, string, string];
  return `${days[date.getUTCDay()]}, ${day}-${month}-${year.slice(2)} ${time} GMT`;
}

/** Resolves once `condition` holds, checked after each turn of the event loop (in-process state, no clock involved). */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let turns = 0; !condition(); turns++) {
    if (turns > 10_000) throw new Error('condition never held');
    await new Promise((resolve) => setImmediate(resolve));
  }
}
