// The text gocmctl shows on a terminal, and its progress bar: pure functions, table-driven.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatAge,
  formatCanonical,
  formatError,
  formatNotRegistered,
  formatQueue,
  formatReport,
  formatSend,
} from '../../src/client/format.js';
import { ProgressBar, renderProgress } from '../../src/client/progress.js';

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
