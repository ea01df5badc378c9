// Which hosts count as this machine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLoopback } from '../src/addresses.js';

test('loopback names and addresses, bracketed IPv6 included; nothing else', () => {
  for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) assert.equal(isLoopback(host), true, host);
  for (const host of ['0.0.0.0', '10.0.0.1', '::', 'example.com', 'localhost.example.com', '128.0.0.1', '[::2]']) assert.equal(isLoopback(host), false, host);
});
