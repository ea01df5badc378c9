// PerMessage: what a provider derives from a message, built once per message id, bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PerMessage } from '../../src/providers/per-message.js';

test('builds once per message id, and forgets the oldest past its size', () => {
  let builds = 0;
  const cache = new PerMessage((message) => ({ built: ++builds, id: message.id }), 2);
  const first = { id: 'm1', content: { payload: { v: 1 } } };
  const built = cache.get(first);
  assert.equal(cache.get({ id: 'm1', content: { payload: { v: 'changed' } } }), built, 'same id: what was built');
  cache.get({ id: 'm2', content: { payload: {} } });
  cache.get({ id: 'm3', content: { payload: {} } });
  assert.notEqual(cache.get(first), built, 'm1 was forgotten and built again');
  assert.equal(builds, 4);
});
