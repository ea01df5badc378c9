// The Spool contract, once, for every implementation: each test file calls
// spoolConformance with a factory for its spool (memory.test.ts, sqlite.test.ts).
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import { SpoolFullError } from '../../src/errors.js';
import type { Message } from '../../src/message.js';
import type { Clock } from '../../src/clock.js';
import type { Delivery, Settlement, Spool, StatusPolicy } from '../../src/spool/spool.js';
import { ManualClock } from '../support/clock.js';

export interface SpoolUnderTest {
  readonly spool: Spool;
  /** Close the spool and remove whatever it left on disk. */
  dispose(): Promise<void>;
}

export interface SpoolOptions {
  readonly spoolMax: number;
  readonly clock?: Clock;
  readonly statuses?: StatusPolicy;
}

export type SpoolFactory = (options: SpoolOptions) => SpoolUnderTest | Promise<SpoolUnderTest>;

const MINUTE = 60_000;

/** The app every test of the contract sends for, unless it says otherwise. */
export const APP = 'default';

export function message(id: string, payload: Record<string, unknown> = { title: 'Hi', n: 3 }, app = APP, acceptedAt = Date.now()): Message {
  return { id, app, acceptedAt, content: { payload, notification: { title: 'Hi' }, priority: 'high', ttl: 60 } };
}

const delivered = (delivery: Delivery, canonical?: string): Settlement =>
  canonical === undefined ? { delivery, result: 'delivered' } : { delivery, result: 'delivered', canonical };
const failed = (delivery: Delivery, notRegistered = false): Settlement => ({
  delivery,
  result: 'failed',
  reason: notRegistered ? { source: 'fcm', code: 'UNREGISTERED' } : { source: 'http', code: '400' },
  notRegistered,
});
const retry = (delivery: Delivery, dueAt: number): Settlement => ({ delivery, result: 'retry', reason: { source: 'http', code: '503' }, dueAt });
const tokensOf = (deliveries: readonly Delivery[]): string[] => deliveries.map((d) => d.token);
const tokensOfList = (list: ReadonlyArray<{ token: string }>): string[] => list.map((entry) => entry.token);

export function spoolConformance(name: string, factory: SpoolFactory): void {
  async function open(t: TestContext, spoolMax = 1_000_000, extra: Omit<SpoolOptions, 'spoolMax'> = {}): Promise<Spool> {
    const opened = await factory({ spoolMax, ...extra });
    t.after(() => opened.dispose());
    return opened.spool;
  }

  void describe(`${name} spool: the Spool contract`, () => {
    void it('gives back one delivery per token, carrying the message, with no attempts yet', async (t) => {
      const spool = await open(t);
      const sent = message('m1');
      await spool.add(sent, ['a', 'b', 'c']);
      const claimed = await spool.claim(APP, 10, Date.now());
      assert.deepEqual(tokensOf(claimed), ['a', 'b', 'c']);
      for (const delivery of claimed) {
        assert.deepEqual(delivery.message, sent);
        assert.equal(delivery.attempts, 0);
        assert.equal(delivery.message, claimed[0]?.message, 'the tokens of a message share one Message object');
      }
      assert.deepEqual(await spool.claim(APP, 10, Date.now()), [], 'what is in flight is not claimed again');
    });

    void it('keeps a token until it is final: pending counts queued, in flight and retrying', async (t) => {
      const spool = await open(t);
      await spool.add(message('m1'), ['a', 'b', 'c']);
      assert.equal((await spool.counts(undefined, Date.now())).pending, 3);
      const [a, b, c] = (await spool.claim(APP, 10, Date.now())) as [Delivery, Delivery, Delivery];
      assert.equal((await spool.counts(undefined, Date.now())).pending, 3);
      await spool.settle([delivered(a), failed(b), retry(c, Date.now() + MINUTE)], Date.now());
      assert.equal((await spool.counts(undefined, Date.now())).pending, 1);
      assert.deepEqual(await spool.claim(APP, 10, Date.now()), []);
    });

    void it('holds a retry until its due time, then gives it back with its attempts counted', async (t) => {
      const spool = await open(t);
      await spool.add(message('m1'), ['a']);
      const dueAt = Date.now() + MINUTE;
      await spool.settle([retry((await spool.claim(APP, 1, Date.now()))[0] as Delivery, dueAt)], Date.now());
      assert.equal(await spool.nextDueAt(APP), dueAt);
      assert.deepEqual(await spool.claim(APP, 10, dueAt - 1), []);
      const [again] = await spool.claim(APP, 10, dueAt);
      assert.equal(again?.token, 'a');
      assert.equal(again?.attempts, 1);
      assert.equal(await spool.nextDueAt(APP), undefined, 'nothing waits while the token is in flight');
      await spool.settle([retry(again, dueAt + MINUTE)], Date.now());
      assert.equal((await spool.claim(APP, 10, dueAt + MINUTE))[0]?.attempts, 2);
    });

    void it('claims at most `limit` tokens, oldest first', async (t) => {
      const spool = await open(t);
      await spool.add(message('m1'), ['a', 'b', 'c']);
      await spool.add(message('m2'), ['d', 'e']);
      const now = Date.now();
      assert.deepEqual(await spool.claim(APP, 0, now), []);
      assert.deepEqual(tokensOf(await spool.claim(APP, 2, now)), ['a', 'b']);
      assert.deepEqual(tokensOf(await spool.claim(APP, 2, now)), ['c', 'd']);
      assert.deepEqual(tokensOf(await spool.claim(APP, 2, now)), ['e']);
      assert.deepEqual(await spool.claim(APP, 2, now), []);
    });

    void it('orders retries among new tokens by due time', async (t) => {
      const spool = await open(t);
      await spool.add(message('m1'), ['early', 'late']);
      const [early, late] = (await spool.claim(APP, 2, Date.now())) as [Delivery, Delivery];
      await spool.settle([retry(early, Date.now() - MINUTE), retry(late, Date.now() + MINUTE)], Date.now());
      await spool.add(message('m2'), ['new']);
      assert.deepEqual(tokensOf(await spool.claim(APP, 10, Date.now())), ['early', 'new']);
      assert.deepEqual(tokensOf(await spool.claim(APP, 10, Date.now() + MINUTE)), ['late']);
    });

    void it('gives retries due at the same time back in accept order, a message together', async (t) => {
      const spool = await open(t);
      await spool.add(message('m1'), ['a', 'b']);
      await spool.add(message('m2'), ['c']);
      const claimed = await spool.claim(APP, 10, Date.now());
      const dueAt = Date.now() + MINUTE;
      await spool.settle(claimed.reverse().map((d) => retry(d, dueAt)), Date.now());
      assert.deepEqual(tokensOf(await spool.claim(APP, 10, dueAt)), ['a', 'b', 'c']);
    });

    void it('gives the tokens of one send out next to each other, sharing one Message', async (t) => {
      const spool = await open(t);
      const sends = ['m1', 'm2', 'm3'].map((id) => spool.add(message(id), [`${id}-a`, `${id}-b`, `${id}-c`]));
      await Promise.all(sends);
      const first = await spool.claim(APP, 4, Date.now());
      const rest = await spool.claim(APP, 10, Date.now());
      const ids = [...first, ...rest].map((d) => d.message.id);
      assert.deepEqual(ids, ['m1', 'm1', 'm1', 'm2', 'm2', 'm2', 'm3', 'm3', 'm3']);
      assert.equal(rest[0]?.message, first[3]?.message, 'a message in flight is not parsed again by a later claim');
    });

    void it('counts what is queued, in flight and waiting to retry, and when the oldest was accepted', async (t) => {
      const spool = await open(t);
      const before = Date.now();
      await spool.add(message('m1'), ['a', 'b']);
      const after = Date.now();
      await spool.add(message('m2'), ['c', 'd']);
      const counts = await spool.counts(undefined, Date.now());
      assert.deepEqual({ ...counts, oldestAcceptedAt: undefined }, { pending: 4, queued: 4, scheduled: 0, inflight: 0, retrying: 0, oldestAcceptedAt: undefined });
      assert.ok(counts.oldestAcceptedAt !== undefined && counts.oldestAcceptedAt >= before && counts.oldestAcceptedAt <= after);
      const [a, b, c] = (await spool.claim(APP, 3, Date.now())) as [Delivery, Delivery, Delivery];
      assert.deepEqual({ ...(await spool.counts(undefined, Date.now())), oldestAcceptedAt: 0 }, { pending: 4, queued: 1, scheduled: 0, inflight: 3, retrying: 0, oldestAcceptedAt: 0 });
      const dueAt = Date.now() + MINUTE;
      await spool.settle([delivered(a), delivered(b), retry(c, dueAt)], Date.now());
      const later = await spool.counts(undefined, Date.now());
      assert.deepEqual({ ...later, oldestAcceptedAt: 0 }, { pending: 2, queued: 1, scheduled: 0, inflight: 0, retrying: 1, oldestAcceptedAt: 0 });
      assert.ok(later.oldestAcceptedAt !== undefined && later.oldestAcceptedAt >= after, 'm1 is final: m2 is the oldest');
      await spool.settle((await spool.claim(APP, 10, dueAt)).map((d) => delivered(d)), Date.now());
      assert.deepEqual(await spool.counts(undefined, Date.now()), { pending: 0, queued: 0, scheduled: 0, inflight: 0, retrying: 0, oldestAcceptedAt: undefined });
      assert.equal(await spool.nextDueAt(APP), undefined);
    });

    void it('lists canonical replacements until read; keep reads without clearing', async (t) => {
      const spool = await open(t);
      assert.deepEqual(await spool.takeCanonicals(undefined, false), []);
      await spool.add(message('m1'), ['old1', 'old2', 'plain']);
      const [old1, old2, plain] = (await spool.claim(APP, 10, Date.now())) as [Delivery, Delivery, Delivery];
      await spool.settle([delivered(old1, 'new1'), delivered(old2, 'new2'), delivered(plain)], Date.now());
      const list = [
        { app: APP, original: 'old1', canonical: 'new1' },
        { app: APP, original: 'old2', canonical: 'new2' },
      ];
      assert.deepEqual(await spool.takeCanonicals(undefined, true), list);
      assert.deepEqual(await spool.takeCanonicals(undefined, true), list);
      assert.deepEqual(await spool.takeCanonicals(undefined, false), list);
      assert.deepEqual(await spool.takeCanonicals(undefined, false), []);
    });

    void it('keeps one canonical per original token: the latest', async (t) => {
      const spool = await open(t);
      await spool.add(message('m1'), ['old']);
      await spool.settle([delivered((await spool.claim(APP, 1, Date.now()))[0] as Delivery, 'first')], Date.now());
      await spool.add(message('m2'), ['old']);
      await spool.settle([delivered((await spool.claim(APP, 1, Date.now()))[0] as Delivery, 'second')], Date.now());
      assert.deepEqual(await spool.takeCanonicals(undefined, false), [{ app: APP, original: 'old', canonical: 'second' }]);
    });

    void it('lists each not-registered token once until read; other failures are not listed', async (t) => {
      const spool = await open(t);
      assert.deepEqual(await spool.takeNotRegistered(undefined, false), []);
      await spool.add(message('m1'), ['gone', 'bad']);
      await spool.add(message('m2'), ['gone']);
      const claimed = await spool.claim(APP, 10, Date.now());
      await spool.settle(claimed.map((d) => failed(d, d.token === 'gone')), Date.now());
      assert.deepEqual(tokensOfList(await spool.takeNotRegistered(undefined, true)), ['gone']);
      assert.deepEqual(tokensOfList(await spool.takeNotRegistered(undefined, false)), ['gone']);
      assert.deepEqual(await spool.takeNotRegistered(undefined, false), []);
      assert.equal((await spool.counts(undefined, Date.now())).pending, 0);
    });

    void it('refuses a send that would pass spoolMax, whole, keeping nothing of it', async (t) => {
      const spool = await open(t, 3);
      await spool.add(message('m1'), ['a', 'b']);
      await assert.rejects(spool.add(message('m2'), ['c', 'd']), (error) => error instanceof SpoolFullError && error.code === 'busy');
      assert.equal((await spool.counts(undefined, Date.now())).pending, 2);
      const together = await Promise.allSettled([spool.add(message('m3'), ['e']), spool.add(message('m4'), ['f'])]);
      assert.deepEqual(
        together.map((r) => r.status),
        ['fulfilled', 'rejected'],
        'sends waiting for the same commit count against the limit',
      );
      assert.deepEqual(tokensOf(await spool.claim(APP, 10, Date.now())), ['a', 'b', 'e']);
    });

    void it('ignores a settlement for a token not in flight: settled already, or never claimed', async (t) => {
      const spool = await open(t);
      await spool.add(message('m1'), ['a', 'b']);
      const [a] = (await spool.claim(APP, 1, Date.now())) as [Delivery];
      await spool.settle([delivered(a), delivered(a)], Date.now());
      await spool.settle([failed(a, true), failed({ ...a, token: 'b' }, true)], Date.now());
      assert.equal((await spool.counts(undefined, Date.now())).pending, 1);
      assert.deepEqual(await spool.takeNotRegistered(undefined, false), []);
      assert.deepEqual(tokensOf(await spool.claim(APP, 10, Date.now())), ['b']);
    });

    void it('settles a copy of a delivery as well as the one claim returned', async (t) => {
      const spool = await open(t);
      await spool.add(message('m1'), ['a']);
      const [a] = (await spool.claim(APP, 1, Date.now())) as [Delivery];
      await spool.settle([delivered({ message: message('m1'), token: a.token, attempts: a.attempts })], Date.now());
      assert.equal((await spool.counts(undefined, Date.now())).pending, 0);
    });

    void it('commits the sends waiting on close; close is idempotent and later sends are refused', async (t) => {
      const spool = await open(t);
      const waiting = spool.add(message('m1'), ['a']);
      await spool.close();
      await waiting;
      await spool.close();
      await assert.rejects(spool.add(message('m2'), ['b']), /closed/);
    });

    void it('finds nothing to recover in a new spool', async (t) => {
      assert.equal((await open(t)).recovered, 0);
    });

    void it('takes released tokens back unsent: due as they were, their tries not counted', async (t) => {
      const spool = await open(t);
      await spool.add(message('m1'), ['a', 'b', 'c']);
      const [a, b, c] = (await spool.claim(APP, 10, Date.now())) as [Delivery, Delivery, Delivery];
      const dueAt = Date.now() + MINUTE;
      await spool.settle([retry(c, dueAt)], Date.now());
      const [again] = (await spool.claim(APP, 10, dueAt)) as [Delivery];
      await spool.release([a, b, again, { ...a, token: 'never-claimed' }]);
      assert.deepEqual({ ...(await spool.counts(undefined, Date.now())), oldestAcceptedAt: 0 }, { pending: 3, queued: 2, scheduled: 0, inflight: 0, retrying: 1, oldestAcceptedAt: 0 });
      const claimed = await spool.claim(APP, 10, dueAt);
      assert.deepEqual(claimed.map((d) => [d.token, d.attempts]), [['a', 0], ['b', 0], ['c', 1]]);
      await spool.release([]);
    });

    void it('clears exactly the list entries named, and says how many it found', async (t) => {
      const spool = await open(t);
      await spool.add(message('m1'), ['gone1', 'gone2', 'old1', 'old2']);
      const [gone1, gone2, old1, old2] = (await spool.claim(APP, 10, Date.now())) as [Delivery, Delivery, Delivery, Delivery];
      await spool.settle([failed(gone1, true), failed(gone2, true), delivered(old1, 'new1'), delivered(old2, 'new2')], Date.now());
      assert.equal(await spool.clearNotRegistered(undefined, ['gone1', 'unknown']), 1);
      assert.deepEqual(tokensOfList(await spool.takeNotRegistered(undefined, true)), ['gone2']);
      assert.equal(await spool.clearCanonicals(undefined, ['old2']), 1);
      assert.equal(await spool.clearCanonicals(undefined, []), 0);
      assert.deepEqual(await spool.takeCanonicals(undefined, true), [{ app: APP, original: 'old1', canonical: 'new1' }]);
    });

    void it('keeps each app apart: claims, due times, counts and lists', async (t) => {
      const spool = await open(t);
      await spool.add(message('a1', {}, 'android'), ['x', 'y']);
      await spool.add(message('i1', {}, 'ios'), ['x']);
      const now = Date.now();
      assert.deepEqual(tokensOf(await spool.claim('ios', 10, now)), ['x']);
      assert.deepEqual(await spool.claim('web', 10, now), [], 'an app that never sent has nothing');
      const [ax, ay] = (await spool.claim('android', 10, now)) as [Delivery, Delivery];
      assert.equal(ax.message.app, 'android');
      await spool.settle([failed(ax, true), retry(ay, now + MINUTE)], now);
      assert.equal(await spool.nextDueAt('android'), now + MINUTE);
      assert.equal(await spool.nextDueAt('ios'), undefined);
      assert.deepEqual(
        [await spool.counts('android', now), await spool.counts('ios', now)].map((c) => [c.pending, c.inflight, c.retrying]),
        [[1, 0, 1], [1, 1, 0]],
      );
      assert.equal((await spool.counts(undefined, now)).pending, 2);
      assert.deepEqual(await spool.takeNotRegistered('ios', true), []);
      assert.deepEqual(await spool.takeNotRegistered(undefined, true), [{ app: 'android', token: 'x' }]);
      assert.equal(await spool.clearNotRegistered('ios', ['x']), 0, 'a clear for another app leaves the entry');
      assert.deepEqual(await spool.takeNotRegistered('android', false), [{ app: 'android', token: 'x' }]);
    });

    void it('holds a scheduled send until its time, counting it as scheduled', async (t) => {
      const spool = await open(t);
      const now = Date.now();
      await spool.add({ ...message('later', {}, APP, now), sendAt: now + MINUTE }, ['s1', 's2']);
      await spool.add(message('now', {}, APP, now), ['n1']);
      assert.deepEqual(
        (({ pending, queued, scheduled }) => ({ pending, queued, scheduled }))(await spool.counts(undefined, now)),
        { pending: 3, queued: 1, scheduled: 2 },
      );
      assert.deepEqual(tokensOf(await spool.claim(APP, 10, now)), ['n1']);
      assert.equal(await spool.nextDueAt(APP), now + MINUTE);
      assert.deepEqual(tokensOf(await spool.claim(APP, 10, now + MINUTE - 1)), []);
      assert.deepEqual(tokensOf(await spool.claim(APP, 10, now + MINUTE)), ['s1', 's2']);
      assert.equal((await spool.counts(undefined, now)).scheduled, 0, 'in flight now');
    });

    void it('carries a message\'s expiry and acceptance time to its deliveries', async (t) => {
      const spool = await open(t);
      const sent = { ...message('m1'), expiresAt: Date.now() + MINUTE };
      await spool.add(sent, ['a']);
      const [a] = await spool.claim(APP, 1, Date.now());
      assert.deepEqual(a?.message, { id: 'm1', app: APP, acceptedAt: sent.acceptedAt, expiresAt: sent.expiresAt, content: sent.content });
    });

    void it('tells the status of a message while pending and after, with each failure and its reason', async (t) => {
      const spool = await open(t);
      await spool.add(message('m1'), ['ok', 'gone', 'bad', 'later']);
      const [ok, gone, bad, later] = (await spool.claim(APP, 10, Date.now())) as [Delivery, Delivery, Delivery, Delivery];
      await spool.settle([delivered(ok), failed(gone, true), failed(bad), retry(later, Date.now() + MINUTE)], Date.now());
      assert.deepEqual(await spool.status('m1'), {
        id: 'm1',
        app: APP,
        tokens: 4,
        pending: 1,
        delivered: 1,
        failed: 2,
        failures: [
          { token: 'gone', reason: 'UNREGISTERED' },
          { token: 'bad', reason: 'http_400' },
        ],
        finishedAt: undefined,
      });
      const [again] = (await spool.claim(APP, 10, Date.now() + MINUTE)) as [Delivery];
      const finishedAt = Date.now();
      await spool.settle([delivered(again)], finishedAt);
      const done = await spool.status('m1');
      assert.deepEqual([done?.pending, done?.delivered, done?.failed, done?.finishedAt], [0, 2, 2, finishedAt]);
      assert.equal(await spool.status('no-such-message'), undefined);
    });

    void it('keeps at most 1000 failures of a message for its status', async (t) => {
      const spool = await open(t);
      const tokens = Array.from({ length: 1002 }, (_, i) => `bad${i}`);
      await spool.add(message('m1'), tokens);
      const claimed = await spool.claim(APP, 2000, Date.now());
      await spool.settle(claimed.slice(0, 600).map((d) => failed(d)), Date.now());
      await spool.settle(claimed.slice(600).map((d) => failed(d)), Date.now());
      const status = await spool.status('m1');
      assert.deepEqual([status?.failed, status?.failures.length, status?.failures.at(-1)?.token], [1002, 1000, 'bad999']);
    });

    void it('forgets a status --status-retention after its message became final, and keeps at most the most allowed', async (t) => {
      const clock = new ManualClock(Date.now());
      const spool = await open(t, 1_000_000, { clock, statuses: { retentionMs: 1000, maxFinished: 2 } });
      for (const id of ['m1', 'm2', 'm3']) {
        await spool.add(message(id, {}, APP, clock.now()), ['t']);
        await spool.settle((await spool.claim(APP, 1, clock.now())).map((d) => delivered(d)), clock.now());
      }
      assert.equal(await spool.status('m1'), undefined, 'past the most kept, the oldest goes first');
      assert.equal((await spool.status('m3'))?.delivered, 1);
      clock.advance(999);
      assert.equal((await spool.status('m3'))?.delivered, 1);
      clock.advance(1);
      assert.equal(await spool.status('m3'), undefined, 'gone once its retention ends');
    });

    void it('says it can be written while open, and not once closed', async (t) => {
      const spool = await open(t);
      await spool.probe();
      await spool.close();
      await assert.rejects(spool.probe());
    });

    void it('ends with every token final exactly once, whatever the order of claims and outcomes', async () => {
      await fc.assert(fc.asyncProperty(fc.array(step, { maxLength: 40 }), (steps) => runModel(factory, steps)), { numRuns: 40 });
    });
  });
}

type Step =
  | { readonly kind: 'add'; readonly tokens: readonly string[] }
  | { readonly kind: 'claim'; readonly limit: number; readonly at: number }
  | { readonly kind: 'settle'; readonly pick: number; readonly outcome: 'delivered' | 'failed' | 'notRegistered' | 'retry' | 'release'; readonly at: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), tokens: fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('claim' as const), limit: fc.nat(6), at: fc.nat(3) }),
  fc.record({
    kind: fc.constant('settle' as const),
    pick: fc.nat(),
    outcome: fc.constantFrom('delivered' as const, 'failed' as const, 'notRegistered' as const, 'retry' as const, 'release' as const),
    at: fc.nat(3),
  }),
);

/** Runs `steps` against a spool and a plain model of it, checking counts after each, then drains it. */
async function runModel(factory: SpoolFactory, steps: readonly Step[]): Promise<void> {
  const { spool, dispose } = await factory({ spoolMax: 1_000_000 });
  // Retries fall due at base + 0…3; new tokens were accepted before base, so they are always due.
  const base = Date.now() + 10 * MINUTE;
  const waiting = new Map<string, { dueAt: number; attempts: number }>();
  const inFlight: Delivery[] = [];
  /** The due time each token in flight had when claimed: release() gives it back. */
  const claimedDue = new Map<string, number>();
  const final = new Map<string, number>();
  const notRegistered = new Set<string>();
  const key = (id: string, token: string): string => `${id}/${token}`;
  try {
    let sent = 0;
    for (const s of steps) {
      if (s.kind === 'add') {
        const id = `m${sent++}`;
        await spool.add(message(id, { n: sent }), s.tokens);
        for (const token of s.tokens) waiting.set(key(id, token), { dueAt: 0, attempts: 0 });
      } else if (s.kind === 'claim') {
        const now = base + s.at;
        const due = [...waiting.values()].filter((w) => w.dueAt <= now).length;
        const claimed = await spool.claim(APP, s.limit, now);
        assert.equal(claimed.length, Math.min(s.limit, due));
        for (const delivery of claimed) {
          const k = key(delivery.message.id, delivery.token);
          const was = waiting.get(k);
          assert.ok(was && was.dueAt <= now, `${k} was waiting and due`);
          assert.equal(delivery.attempts, was.attempts);
          waiting.delete(k);
          claimedDue.set(k, was.dueAt);
          inFlight.push(delivery);
        }
      } else if (inFlight.length > 0) {
        const [delivery] = inFlight.splice(s.pick % inFlight.length, 1) as [Delivery];
        const k = key(delivery.message.id, delivery.token);
        if (s.outcome === 'release') {
          await spool.release([delivery]);
          waiting.set(k, { dueAt: claimedDue.get(k) ?? 0, attempts: delivery.attempts });
        } else if (s.outcome === 'retry') {
          await spool.settle([retry(delivery, base + s.at)], Date.now());
          waiting.set(k, { dueAt: base + s.at, attempts: delivery.attempts + 1 });
        } else {
          await spool.settle([s.outcome === 'delivered' ? delivered(delivery) : failed(delivery, s.outcome === 'notRegistered')], Date.now());
          final.set(k, (final.get(k) ?? 0) + 1);
          if (s.outcome === 'notRegistered') notRegistered.add(delivery.token);
        }
      }
      const retrying = [...waiting.values()].filter((w) => w.attempts > 0).length;
      const counts = await spool.counts(undefined, Date.now());
      assert.deepEqual([counts.queued, counts.inflight, counts.retrying], [waiting.size - retrying, inFlight.length, retrying]);
      assert.equal((await spool.counts(undefined, Date.now())).pending, waiting.size + inFlight.length);
    }
    await spool.settle(inFlight.map((d) => delivered(d)), Date.now());
    for (const d of inFlight) final.set(key(d.message.id, d.token), (final.get(key(d.message.id, d.token)) ?? 0) + 1);
    for (let claimed = await spool.claim(APP, 100, base + 3); claimed.length > 0; claimed = await spool.claim(APP, 100, base + 3)) {
      await spool.settle(claimed.map((d) => delivered(d)), Date.now());
      for (const d of claimed) final.set(key(d.message.id, d.token), (final.get(key(d.message.id, d.token)) ?? 0) + 1);
    }
    assert.equal((await spool.counts(undefined, Date.now())).pending, 0);
    assert.equal(await spool.nextDueAt(APP), undefined);
    assert.deepEqual(await spool.counts(undefined, Date.now()), { pending: 0, queued: 0, scheduled: 0, inflight: 0, retrying: 0, oldestAcceptedAt: undefined });
    assert.ok([...final.values()].every((n) => n === 1), 'no token was made final twice');
    assert.equal(final.size, steps.reduce((n, s) => n + (s.kind === 'add' ? s.tokens.length : 0), 0), 'every token was made final');
    assert.deepEqual(new Set(tokensOfList(await spool.takeNotRegistered(undefined, false))), notRegistered);
  } finally {
    await dispose();
  }
}
