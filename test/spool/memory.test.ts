// The memory spool: the Spool contract, and what only it promises.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemorySpool } from '../../src/spool/memory.js';
import { openSpool } from '../../src/spool/open.js';
import { testConfig } from '../support/config.js';
import { message, spoolConformance } from './conformance.js';

spoolConformance('memory', ({ spoolMax, clock, statuses }) => {
  const spool = new MemorySpool(spoolMax, clock, statuses);
  return { spool, dispose: () => spool.close() };
});

void test('openSpool gives the memory spool for :memory:', async () => {
  const spool = await openSpool(testConfig({ spool: ':memory:', spoolMax: 1 }));
  assert.ok(spool instanceof MemorySpool);
  await assert.rejects(spool.add(message('m1'), ['a', 'b']), /spool-max 1/);
  await spool.close();
});

void test('the memory spool hands out the Message it was given, not a copy', async () => {
  const spool = new MemorySpool(10);
  const sent = message('m1');
  await spool.add(sent, ['a']);
  assert.equal((await spool.claim('default', 1, Date.now()))[0]?.message, sent);
  await spool.close();
});
