// A subscriber that keeps reading gets its events, however they come: here a
// burst of them larger than its socket takes at once (one settlement batch of
// 800 tokens, about 120 KiB of event lines).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startGcmDaemon } from '../support/gcm-daemon.js';

const TOKENS = 800;

describe('subscribe', () => {
  test('a subscriber that reads gets every event of a burst past its high-water mark', { timeout: 30_000 }, async (t) => {
    const setup = await startGcmDaemon();
    t.after(() => setup.close());
    const subscriber = await setup.daemon.connect();
    t.after(() => subscriber.close());
    assert.equal((await subscriber.request({ cmd: 'subscribe', events: ['delivered'] })).ok, true);

    // One send, one request of 800 tokens to the legacy service, one batch of settlements.
    const tokens = Array.from({ length: TOKENS }, (_, i) => `ok-burst-${String(i).padStart(4, '0')}-${'x'.repeat(64)}`);
    assert.equal((await setup.daemon.request({ cmd: 'send', tokens, payload: { n: 1 } })).accepted, TOKENS);
    const seen = new Set<string>();
    while (seen.size < TOKENS) {
      const event = await subscriber.next();
      assert.equal(event.event, 'delivered', JSON.stringify(event));
      seen.add(String(event.token));
    }
    assert.deepEqual([...seen].sort(), [...tokens].sort());
    assert.equal((await setup.daemon.settled()).successes, TOKENS);
  });
});
