// Time slices: work runs in order, every result arrives, and the event loop
// gets a turn while a long queue of CPU work is being done.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { TimeSlices } from '../../../src/providers/webpush/slices.js';

const busy = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

test('200 pieces of 1 ms: in order, all answered, and an I/O turn comes long before the end', async () => {
  const slices = new TimeSlices();
  const done: number[] = [];
  const results = Promise.all(Array.from({ length: 200 }, (_, i) => slices.run(() => {
    busy(1);
    done.push(i);
    return i * 2;
  })));
  const seenAtTurn = await new Promise<number>((resolve) => setTimeout(() => resolve(done.length), 0));
  assert.ok(seenAtTurn < 100, `a timer had to wait for ${seenAtTurn} of 200`);
  assert.deepEqual(await results, Array.from({ length: 200 }, (_, i) => i * 2));
  assert.deepEqual(done, Array.from({ length: 200 }, (_, i) => i));
});

test('work that throws rejects its own promise only', async () => {
  const slices = new TimeSlices();
  const [bad, good] = await Promise.allSettled([slices.run(() => { throw new Error('no'); }), slices.run(() => 'yes')]);
  assert.equal(bad.status, 'rejected');
  assert.deepEqual(good, { status: 'fulfilled', value: 'yes' });
});

test('a queue longer than the compaction point drains over many slices, in order', async () => {
  const slices = new TimeSlices();
  const all = await Promise.all(Array.from({ length: 10_000 }, (_, i) => slices.run(() => {
    busy(0.01);
    return i;
  })));
  assert.equal(all.length, 10_000);
  assert.ok(all.every((value, i) => value === i));
});
