// A subscriber that keeps reading gets its events, however they come: here a
// burst of them far larger than its socket takes at once (five legacy requests
// of 1,000 tokens settling together, about 650 KiB of event lines).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startGcmDaemon } from '../support/gcm-daemon.js';

const TOKENS = 5000;
const PER_SEND = 1000;

describe('subscribe', () => {
  test('a subscriber that reads gets every event of a burst past its high-water mark', { timeout: 30_000 }, async (t) => {
    // The fake answers none of the five requests before it has all of them.
    let requests = 0;
    let allArrived: () => void = () => undefined;
    const hold = new Promise<void>((resolve) => (allArrived = resolve));
    const setup = await startGcmDaemon([], { hold, onRequest: () => ++requests === TOKENS / PER_SEND && allArrived() });
    t.after(() => allArrived());
    t.after(() => setup.close());
    const subscriber = await setup.daemon.connect();
    t.after(() => subscriber.close());
    assert.equal((await subscriber.request({ cmd: 'subscribe', events: ['delivered'] })).ok, true);

    // Five sends, five requests of 1,000 tokens to the legacy service, answered together.
    const tokens = Array.from({ length: TOKENS }, (_, i) => `ok-burst-${String(i).padStart(4, '0')}-${'x'.repeat(64)}`);
    const sender = await setup.daemon.connect();
    t.after(() => sender.close());
    for (let first = 0; first < TOKENS; first += PER_SEND) sender.write({ cmd: 'send', tokens: tokens.slice(first, first + PER_SEND), payload: { n: 1 } });
    for (let first = 0; first < TOKENS; first += PER_SEND) assert.equal((await sender.next()).accepted, PER_SEND);
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
