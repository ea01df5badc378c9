// `gocmctl send --token … / --tokens-file`: one message for many tokens, cut
// into chunks (send.ts) written back to back on one connection, with a
// progress bar of the tokens acknowledged when stderr is a terminal.
import { GocmClient } from './client.js';
import { complain, type CtlContext, EXIT, print } from './context.js';
import { formatSend } from './format.js';
import { type InputSource, prepend } from './input.js';
import { ProgressBar } from './progress.js';
import { sendInChunks } from './send.js';
import { allTokens, chunks, countTokens } from './tokens.js';

export interface TokensSendCommand {
  readonly name: 'send';
  /** The message: every field of the `send` line but `tokens` (`app` included). */
  readonly fields: Readonly<Record<string, unknown>>;
  readonly tokens: readonly string[];
  /** A path, or `-` for stdin. */
  readonly tokensFile: string | undefined;
}

export async function sendTokens(command: TokensSendCommand, context: CtlContext): Promise<number> {
  const source = command.tokensFile === undefined ? undefined : await context.openInput('--tokens-file', command.tokensFile);
  // Read the first chunk before connecting: no tokens, or an unreadable file, is a usage error.
  const reading = counted(chunks(allTokens(command.tokens, source)));
  try {
    const first = await reading.chunks.next();
    if (first.done) return complain(context, 'no tokens: give --token TOKEN or --tokens-file FILE (or - for stdin)', EXIT.usage);
    return await sendAll(command, context, source, reading, first.value);
  } finally {
    // Whatever ended the send, the file (or stdin) is closed.
    await reading.chunks.return(undefined);
  }
}

async function sendAll(command: TokensSendCommand, context: CtlContext, source: InputSource | undefined, reading: Counted, first: string[]): Promise<number> {
  const bar = context.progress && source ? new ProgressBar(context.stderr) : undefined;
  // A file is counted first only for the bar's sake: a pass over it, not held in memory.
  const known = bar && source?.rereadable ? command.tokens.length + (await countTokens(source)) : undefined;
  const total = (): number | undefined => known ?? (reading.done() ? reading.tokens() : undefined);
  let message: string | undefined;
  let acknowledged = 0;

  const client = await GocmClient.connect(context.address);
  try {
    bar?.update(0, total());
    const totals = await sendInChunks(client, command.fields, prepend(first, reading.chunks), (reply, tokens) => {
      // Only what is printed needs the line cleared; redrawing alone would flicker.
      if (context.json || !reply.ok) bar?.clear();
      if (reply.ok) {
        acknowledged += tokens;
        if (typeof reply.msg === 'string') message ??= reply.msg;
      }
      print(context, reply, () => undefined);
      bar?.update(acknowledged, total());
    });
    bar?.clear();
    if (!context.json && totals.chunks > totals.errors) context.stdout.write(formatSend(totals, message) + '\n');
    return totals.errors > 0 ? EXIT.refused : EXIT.ok;
  } finally {
    bar?.clear();
    await client.close();
  }
}

interface Counted {
  readonly chunks: AsyncGenerator<string[]>;
  /** Tokens read so far. */
  tokens(): number;
  /** Whether every token has been read. */
  done(): boolean;
}

/** Chunks, counting the tokens read and noting the end (so a streamed total becomes known). */
function counted(source: AsyncGenerator<string[]>): Counted {
  let tokens = 0;
  let done = false;
  async function* counting(): AsyncGenerator<string[]> {
    for await (const chunk of source) {
      tokens += chunk.length;
      yield chunk;
    }
    done = true;
  }
  return { chunks: counting(), tokens: () => tokens, done: () => done };
}
