// A pipelined send: one `send` line per chunk of tokens, all on one
// connection, written as fast as the socket takes them (not one round trip
// per chunk), each reply handed on in order as it comes.
import type { GocmClient, Reply } from './client.js';

export interface SendTotals {
  /** `send` lines written. */
  readonly chunks: number;
  /** Tokens in the lines written. */
  readonly tokens: number;
  /** Tokens in the lines answered ok. */
  readonly acknowledged: number;
  /** The daemon's own `accepted` counts, summed (duplicates within a line count once). */
  readonly accepted: number;
  /** Error replies. */
  readonly errors: number;
}

/** Called once per reply, in the order the chunks were written. */
export type OnChunkReply = (reply: Reply, tokens: number) => void;

/**
 * Send `fields` (the message) to every chunk's tokens. After the first error
 * reply no more lines are written (the next would most likely fail the same
 * way), but the lines already written are still answered and handed on.
 * Rejects with the connection's error if it is lost, or the chunks' if
 * reading tokens fails, once every reply that can come has come.
 */
export async function sendInChunks(
  client: GocmClient,
  fields: Readonly<Record<string, unknown>>,
  tokenChunks: AsyncIterable<string[]>,
  onReply: OnChunkReply,
): Promise<SendTotals> {
  const totals = { chunks: 0, tokens: 0, acknowledged: 0, accepted: 0, errors: 0 };
  let failure: unknown;
  let stop = false;
  // Replies settle in request order, so the last one settles after all the others.
  let last: Promise<void> = Promise.resolve();
  try {
    for await (const chunk of tokenChunks) {
      if (stop) break;
      // Backpressure: wait for the socket rather than buffer the file in memory.
      await client.writable();
      if (stop) break;
      const size = chunk.length;
      totals.chunks += 1;
      totals.tokens += size;
      last = client.request({ cmd: 'send', ...fields, tokens: chunk }).then(
        (reply) => {
          if (reply.ok) {
            totals.acknowledged += size;
            totals.accepted += typeof reply.accepted === 'number' ? reply.accepted : 0;
          } else {
            totals.errors += 1;
            stop = true;
          }
          onReply(reply, size);
        },
        (error: unknown) => {
          failure ??= error;
          stop = true;
        },
      );
    }
  } finally {
    await last;
  }
  if (failure !== undefined) throw failure;
  return totals;
}
