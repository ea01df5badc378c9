// The text gocmctl shows on a terminal, and its progress bar: pure functions, table-driven.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatAge,
  formatCanonical,
  formatError,
  formatEvent,
  formatFleet,
  formatMessages,
  formatNotRegistered,
  formatQueue,
  formatReport,
  formatSend,
  formatStatus,
} from '../../src/client/format.js';
import { LINES, ProgressBar, renderProgress } from '../../src/client/progress.js';

describe('report and queue: aligned key  value lines', () => {
  test('report: the envelope left out, the values in one column', () => {
    const text = formatReport({ ok: true, id: 7, attempts: 12, failures: 1, pending: 0, notregistered: 1 });
    assert.equal(text, ['attempts       12', 'failures       1', 'pending        0', 'notregistered  1'].join('\n'));
  });

  test('queue: the oldest age in a readable unit', () => {
    const text = formatQueue({ ok: true, pending: 3, queued: 1, inflight: 2, retrying: 0, oldest_age_ms: 200_000 });
    assert.equal(text, ['pending   3', 'queued    1', 'inflight  2', 'retrying  0', 'oldest    3m 20s'].join('\n'));
  });

  test('queue: no oldest when nothing is pending', () => {
    assert.match(formatQueue({ ok: true, pending: 0, oldest_age_ms: null }), /^oldest +-$/m);
  });
});

describe('formatAge', () => {
  const cases: Array<[number, string]> = [
    [0, '0ms'],
    [850, '850ms'],
    [1000, '1s'],
    [59_999, '59s'],
    [60_000, '1m 00s'],
    [200_000, '3m 20s'],
    [3_600_000, '1h 00m'],
    [5 * 3_600_000 + 7 * 60_000, '5h 07m'],
    [2 * 86_400_000 + 3 * 3_600_000, '2d 3h'],
  ];
  for (const [ms, text] of cases) test(`${ms} ms → ${text}`, () => assert.equal(formatAge(ms), text));
});

describe('formatSend', () => {
  const totals = { chunks: 1, tokens: 2, acknowledged: 2, accepted: 2, errors: 0 };

  test('one line: the count and its message id', () => {
    assert.equal(formatSend(totals, 'm-1'), 'accepted 2 tokens (message m-1)');
    assert.equal(formatSend({ ...totals, tokens: 1, acknowledged: 1, accepted: 1 }, 'm-1'), 'accepted 1 token (message m-1)');
  });

  test('several lines: the count of messages', () => {
    assert.equal(formatSend({ chunks: 3, tokens: 2500, acknowledged: 2500, accepted: 2500, errors: 0 }, 'm-1'), 'accepted 2500 tokens in 3 messages');
  });

  test('stopped by an error reply: said so', () => {
    assert.equal(formatSend({ chunks: 3, tokens: 2500, acknowledged: 1000, accepted: 1000, errors: 2 }, 'm-1'), 'accepted 1000 tokens (message m-1); stopped at an error');
  });
});

describe('lists: one entry a line', () => {
  test('canonical replacements', () => {
    const reply = { ok: true, canonical_replacements: [{ original: 'a', canonical: 'b' }, { original: 'c', canonical: 'd' }] };
    assert.equal(formatCanonical(reply), 'a -> b\nc -> d');
    assert.equal(formatCanonical({ ok: true, canonical_replacements: [] }), 'no canonical replacements');
  });

  test('not-registered tokens', () => {
    assert.equal(formatNotRegistered({ ok: true, tokens: ['t1', 't2'] }), 't1\nt2');
    assert.equal(formatNotRegistered({ ok: true, tokens: [] }), 'no not-registered tokens');
  });
});

test('an error reply: code, then message', () => {
  assert.equal(formatError({ ok: false, error: { code: 'busy', message: 'the spool is full' } }), 'busy: the spool is full');
});

describe('the progress bar', () => {
  test('a known total: a bar, the counts and the percentage', () => {
    assert.equal(renderProgress(0, 2500, 10), '[..........] 0/2500 tokens 0%');
    assert.equal(renderProgress(1000, 2500, 10), '[####......] 1000/2500 tokens 40%');
    assert.equal(renderProgress(2500, 2500, 10), '[##########] 2500/2500 tokens 100%');
  });

  test('a total not known yet (stdin): the count alone', () => {
    assert.equal(renderProgress(3000, undefined), '3000 tokens acknowledged');
  });

  test('--messages counts lines', () => {
    assert.equal(renderProgress(5, 10, 4, LINES), '[##..] 5/10 lines 50%');
    assert.equal(renderProgress(5, undefined, 4, LINES), '5 lines done');
  });

  test('an unchanged bar is not drawn again', () => {
    const written: string[] = [];
    const bar = new ProgressBar({ write: (text: string) => written.push(text) });
    bar.update(1, 1000);
    bar.update(2, 1000);
    assert.equal(written.length, 2);
    bar.update(2, 1000);
    assert.equal(written.length, 2);
  });

  test('drawn in place, and cleared only when drawn', () => {
    const written: string[] = [];
    const bar = new ProgressBar({ write: (text: string) => written.push(text) });
    bar.clear();
    assert.deepEqual(written, []);
    bar.update(1, 2);
    bar.clear();
    assert.deepEqual(written, [`\r${renderProgress(1, 2)}\x1b[K`, '\r\x1b[K']);
  });
});

describe('status, fleet, events and the --messages summary', () => {
  test('status: the counts, then each failure and its reason in a column, and how many were not listed', () => {
    const reply = {
      ok: true,
      msg: 'm-1',
      app: 'default',
      tokens: 5,
      pending: 0,
      delivered: 2,
      failed: 3,
      failures: [
        { token: 'gone-1', reason: 'NotRegistered' },
        { token: 'bad', reason: 'InvalidRegistration' },
      ],
      truncated: true,
    };
    const expected = ['msg        m-1', 'app        default', 'tokens     5', 'delivered  2', 'failed     3', 'pending    0', 'failures:'];
    expected.push('  gone-1  NotRegistered', '  bad     InvalidRegistration', '  … and 1 more not shown');
    assert.equal(formatStatus(reply), expected.join('\n'));
    assert.doesNotMatch(formatStatus({ ...reply, failed: 0, failures: [] }), /failures/);
  });

  test('fleet: a table, one daemon a row', () => {
    const daemon = { name: 'a:1', host: 'a', pid: 1, started_at: '2026-01-01T00:00:00.000Z', seen_at: '2026-01-01T00:00:05.000Z', inflight: 12 };
    const text = formatFleet({ ok: true, daemons: [daemon, { ...daemon, name: 'bravo:22', host: 'bravo', pid: 22, inflight: 0 }] });
    assert.deepEqual(text.split('\n'), [
      'NAME      HOST   PID  STARTED                   SEEN                      INFLIGHT',
      'a:1       a      1    2026-01-01T00:00:00.000Z  2026-01-01T00:00:05.000Z  12',
      'bravo:22  bravo  22   2026-01-01T00:00:00.000Z  2026-01-01T00:00:05.000Z  0',
    ]);
    assert.equal(formatFleet({ ok: true, daemons: [] }), 'no daemons');
  });

  test('an event: time of day, event, app, token, then the reason, the new token or the retry time', () => {
    const at = '2026-01-01T12:34:56.789Z';
    const about = { app: 'ios', msg: 'm', token: 'tok', at };
    assert.equal(formatEvent({ event: 'failed', ...about, reason: 'BadDeviceToken' }), '12:34:56.789Z  failed         ios  tok  BadDeviceToken');
    assert.equal(formatEvent({ event: 'canonical', ...about, canonical: 'tok2' }), '12:34:56.789Z  canonical      ios  tok  -> tok2');
    const retry = formatEvent({ event: 'retry', ...about, reason: 'http_503', retry_at: '2026-01-01T12:35:00.000Z' });
    assert.equal(retry, '12:34:56.789Z  retry          ios  tok  http_503  retry at 12:35:00.000Z');
  });

  test('the --messages summary: lines sent and how they were answered, bad lines only when there were some', () => {
    const totals = { lines: 12, sent: 10, accepted: 9, refused: 1, skipped: 2, tokens: 1 };
    assert.equal(formatMessages(totals), 'sent 10 lines: 9 accepted, 1 refused; 2 bad lines skipped; 1 token accepted');
    assert.equal(formatMessages({ ...totals, sent: 1, accepted: 1, refused: 0, skipped: 0 }), 'sent 1 line: 1 accepted, 0 refused; 1 token accepted');
  });
});
