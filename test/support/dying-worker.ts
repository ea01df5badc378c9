// A delivery thread for the pool's tests: it speaks the protocol, delivers
// every token of a provider it was told of, keeps a token named `hold`
// unanswered, and exits (code 1) when it is asked to send `die`.
import { parentPort } from 'node:worker_threads';
import { type FromWorker, providerKey, type ToWorker } from '../../src/delivery/workers/protocol.js';

const port = parentPort;
if (!port) throw new Error('a worker thread');
const providers = new Set<string>();
port.on('message', (message: ToWorker) => {
  if (message.kind === 'apps') for (const app of message.apps) providers.add(providerKey(app.name, message.generation));
  if (message.kind === 'send') {
    for (const item of message.items) {
      if (item.tokens.includes('die')) process.exit(1);
      if (item.tokens.includes('hold')) continue;
      const outcomes = item.tokens.map(() => (providers.has(item.provider) ? { kind: 'delivered' } : { kind: 'retry', reason: { source: 'gocm', code: 'no_provider' } }));
      port.postMessage({ kind: 'outcomes', items: [{ seq: item.seq, outcomes }] } as FromWorker);
    }
  }
  if (message.kind === 'close' || message.kind === 'destroy') port.postMessage({ kind: 'ended', provider: message.provider } satisfies FromWorker);
  if (message.kind === 'stop') port.close();
});
