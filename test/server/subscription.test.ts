// The subscription's bounds on their own: what waits while the client is
// behind, what is dropped past MAX_EVENT_BACKLOG, and where the gap line goes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_EVENT_BACKLOG, Subscription } from '../../src/server/subscription.js';

/** An output whose client is behind until told otherwise. */
function output(): { lines: string[]; behind: boolean; write(line: string): void; backlogged(): boolean } {
  return {
    lines: [],
    behind: false,
    write(line) {
      this.lines.push(line);
    },
    backlogged() {
      return this.behind;
    },
  };
}

describe('Subscription', () => {
  test('past the backlog events are counted, and the gap is written once the backlog is read, with no event after it', () => {
    const out = output();
    const subscription = new Subscription(new Set(['delivered']), out);
    out.behind = true;
    for (let i = 0; i < MAX_EVENT_BACKLOG + 25; i++) subscription.push(`e${i}`);
    assert.equal(out.lines.length, 0);
    out.behind = false;
    subscription.drained();
    assert.equal(out.lines.length, MAX_EVENT_BACKLOG + 1);
    assert.deepEqual(out.lines.slice(-2), [`e${MAX_EVENT_BACKLOG - 1}`, '{"event":"gap","dropped":25}']);
  });

  test('a gap between kept events stays where it was, and is counted once', () => {
    const out = output();
    const subscription = new Subscription(new Set(['delivered']), out);
    out.behind = true;
    for (let i = 0; i < MAX_EVENT_BACKLOG + 3; i++) subscription.push(`a${i}`);
    out.behind = false;
    // The client reads one line, and is behind again.
    out.write = function (line: string) {
      this.lines.push(line);
      this.behind = true;
    };
    subscription.drained();
    subscription.push('b0');
    out.write = function (line: string) {
      this.lines.push(line);
    };
    out.behind = false;
    subscription.drained();
    assert.deepEqual(out.lines.slice(-3), [`a${MAX_EVENT_BACKLOG - 1}`, '{"event":"gap","dropped":3}', 'b0']);
    assert.equal(out.lines.filter((line) => line.includes('"gap"')).length, 1);
  });
});
