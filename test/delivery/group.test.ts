// Claimed tokens into requests: one message per request, at most `max` tokens each, order kept.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupIntoRequests } from '../../src/delivery/engine.js';
import type { Message } from '../../src/message.js';
import type { Delivery } from '../../src/spool/spool.js';

const a: Message = { id: 'a', app: 'default', acceptedAt: 0, content: { payload: {} } };
const b: Message = { id: 'b', app: 'default', acceptedAt: 0, content: { payload: {} } };
const deliveries = (message: Message, count: number): Delivery[] =>
  Array.from({ length: count }, (_, i) => ({ message, token: `${message.id}${i}`, attempts: 0 }));
const shape = (requests: Delivery[][]): string[] => requests.map((r) => r.map((d) => d.token).join(','));

const cases: Array<[string, Delivery[], number, string[]]> = [
  ['nothing claimed', [], 1000, []],
  ['one message within the limit', deliveries(a, 3), 1000, ['a0,a1,a2']],
  ['one message past the limit', deliveries(a, 5), 2, ['a0,a1', 'a2,a3', 'a4']],
  ['two messages never share a request', [...deliveries(a, 2), ...deliveries(b, 2)], 1000, ['a0,a1', 'b0,b1']],
  ['fcm: one token a request', [...deliveries(a, 2), ...deliveries(b, 1)], 1, ['a0', 'a1', 'b0']],
];

for (const [name, input, max, expected] of cases) {
  test(`groupIntoRequests: ${name}`, () => assert.deepEqual(shape(groupIntoRequests(input, max)), expected));
}
