// A delivery thread (pool.ts says why): it builds the apps' providers, sends
// what the main thread gives it, and answers the outcomes a batch a turn.
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../log.js';
import type { Outcome, Provider } from '../../providers/provider.js';
import { createProvider } from '../../registry.js';
import { type FromWorker, type OutcomeBatch, providerKey, type ToWorker } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('worker.js runs as a delivery thread');
const log = createLogger((workerData as { logLevel: string }).logLevel).child({ thread: 'delivery' });
const providers = new Map<string, Provider>();
let answers: Array<OutcomeBatch['items'][number]> = [];
let answering = false;

function answer(seq: number, outcomes: Outcome[]): void {
  answers.push({ seq, outcomes });
  if (answering) return;
  answering = true;
  setImmediate(() => {
    answering = false;
    port?.postMessage({ kind: 'outcomes', items: answers } satisfies FromWorker);
    answers = [];
  });
}

function ended(provider: string): void {
  port?.postMessage({ kind: 'ended', provider } satisfies FromWorker);
}

port.on('message', (message: ToWorker) => {
  switch (message.kind) {
    case 'apps':
      for (const app of message.apps) {
        try {
          providers.set(providerKey(app.name, message.generation), createProvider(app, message.limits, log));
        } catch (error) {
          // The main thread built the same one first: only a file changed since could fail here.
          log.error({ err: error, app: app.name }, 'a delivery thread could not build the provider');
        }
      }
      return;
    case 'send':
      for (const item of message.items) {
        const provider = providers.get(item.provider);
        const sent = message.messages[item.message];
        if (!provider || !sent) {
          answer(item.seq, item.tokens.map(() => ({ kind: 'retry', reason: { source: 'gocm', code: 'no_provider' } })));
          continue;
        }
        provider.send(sent, item.tokens).then(
          (outcomes) => answer(item.seq, outcomes),
          () => answer(item.seq, item.tokens.map(() => ({ kind: 'retry', reason: { source: 'gocm', code: 'internal' } }))),
        );
      }
      return;
    case 'close':
    case 'destroy': {
      const provider = providers.get(message.provider);
      providers.delete(message.provider);
      if (!provider) return ended(message.provider);
      void (message.kind === 'close' ? provider.close() : provider.destroy()).finally(() => ended(message.provider));
      return;
    }
    case 'stop':
      void Promise.all([...providers.values()].map((provider) => provider.destroy())).finally(() => port.close());
  }
});
