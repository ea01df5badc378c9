// SendsInFlight: close() lets the sends under way finish, then closes once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SendsInFlight } from '../../src/providers/sends.js';

test('close waits for every send under way, then runs its closer once, however often it is asked', async () => {
  const sends = new SendsInFlight();
  const answers = new Map<string, (outcome: string) => void>();
  const sending = sends.all(['a', 'b'], (token) => new Promise<string>((resolve) => answers.set(token, resolve)));
  const order: string[] = [];
  let closes = 0;
  const closing = sends.close(async () => {
    closes++;
    order.push('closed');
  });
  assert.equal(sends.close(async () => closes++), closing, 'the same promise');
  answers.get('a')?.('ok-a');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, [], 'one send still under way');
  answers.get('b')?.('ok-b');
  assert.deepEqual(await sending, ['ok-a', 'ok-b']);
  await closing;
  assert.deepEqual(order, ['closed']);
  assert.equal(closes, 1);
});

test('a send that failed does not keep close from closing', async () => {
  const sends = new SendsInFlight();
  const failed = sends.all(['a'], () => Promise.reject(new Error('boom')));
  await assert.rejects(failed, /boom/);
  let closed = false;
  await sends.close(async () => (closed = true));
  assert.equal(closed, true);
});
