// What each gocmctl command does once its arguments are parsed: talk to the
// daemon, print the replies (JSON lines or text for people), and decide the
// exit status of SPEC.md.
import { errorCode } from '../guards.js';
import { type Address, ConnectionLostError, GocmClient, type Reply, UnreachableError } from './client.js';
import { formatCanonical, formatError, formatNotRegistered, formatQueue, formatReport, formatSend } from './format.js';
import { ProgressBar } from './progress.js';
import { sendInChunks } from './send.js';
import { allTokens, chunks, countTokens, TokensFileError, type TokensSource } from './tokens.js';

export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

export type CtlCommand =
  | {
      readonly name: 'send';
      /** The message: every field of the `send` line but `tokens`. */
      readonly fields: Readonly<Record<string, unknown>>;
      readonly tokens: readonly string[];
      /** A path, or `-` for stdin. */
      readonly tokensFile: string | undefined;
    }
  | { readonly name: 'report' | 'queue' | 'ping' }
  | { readonly name: 'canonical' | 'notregistered'; readonly keep: boolean };

/** Where output goes; `done` hears whether the text was taken (a closed pipe says EPIPE). */
export interface Output {
  write(text: string, done?: (error?: Error | null) => void): unknown;
}

export interface CtlContext {
  readonly address: Address;
  /** JSON lines (--json, or stdout is not a terminal) rather than text. */
  readonly json: boolean;
  /** Draw a progress bar on stderr (it is a terminal). */
  readonly progress: boolean;
  readonly stdout: Output;
  readonly stderr: { write(text: string): unknown };
  /** Opens a tokens file or stdin; throws TokensFileError. */
  readonly openTokens: (path: string) => Promise<TokensSource>;
}

const TEXT: Record<string, (reply: Reply) => string> = {
  report: formatReport,
  queue: formatQueue,
  canonical: formatCanonical,
  notregistered: formatNotRegistered,
  ping: () => 'ok',
};

/** Run one command; resolves to the exit status. Failures to reach the daemon are answered, not thrown. */
export async function runCtl(command: CtlCommand, context: CtlContext): Promise<number> {
  try {
    if (command.name === 'send') return await send(command, context);
    return await simple(command, context);
  } catch (error) {
    if (error instanceof TokensFileError) return complain(context, error.message, EXIT.usage);
    if (error instanceof UnreachableError || error instanceof ConnectionLostError) return complain(context, error.message, EXIT.unreachable);
    throw error;
  }
}

function complain(context: CtlContext, message: string, status: number): number {
  context.stderr.write(`gocmctl: ${message}\n`);
  return status;
}

/** Print one reply as its JSON line or as text; an error reply's code and message also go to stderr. */
function print(context: CtlContext, reply: Reply, text: (reply: Reply) => string | undefined): void {
  if (context.json) context.stdout.write(JSON.stringify(reply) + '\n');
  if (!reply.ok) {
    context.stderr.write(`gocmctl: ${formatError(reply)}\n`);
    return;
  }
  const shown = context.json ? undefined : text(reply);
  if (shown !== undefined) context.stdout.write(shown + '\n');
}

/** The exit status of a list that was read but could not be printed (it was left in place). */
export const OUTPUT_LOST = EXIT.refused;

/** Resolves once `text` was written to `output`; rejects if it could not be. */
function written(output: Output, text: string): Promise<void> {
  return new Promise((resolve, reject) => output.write(text, (error) => (error ? reject(error) : resolve())));
}

/**
 * canonical / notregistered without --keep: read with `keep`, print, and
 * only once the output took it, clear exactly what was printed. A reader
 * that went away (| head -0) leaves the list as it was.
 */
async function carefulRead(command: Extract<CtlCommand, { name: 'canonical' | 'notregistered' }>, context: CtlContext): Promise<number> {
  const client = await GocmClient.connect(context.address);
  try {
    const reply = await client.request({ cmd: command.name, keep: true });
    if (!reply.ok) {
      print(context, reply, () => undefined);
      return EXIT.refused;
    }
    const entries = listed(command.name, reply);
    const text = context.json ? JSON.stringify(reply) : (TEXT[command.name] as (reply: Reply) => string)(reply);
    try {
      await written(context.stdout, text + '\n');
    } catch (error) {
      context.stderr.write(`gocmctl: could not write the list (${errorCode(error) ?? String(error)}); it was left in place\n`);
      return OUTPUT_LOST;
    }
    if (entries.length === 0) return EXIT.ok;
    const cleared = await client.request({ cmd: command.name, clear: entries });
    if (!cleared.ok) context.stderr.write(`gocmctl: the list was printed but not cleared: ${formatError(cleared)}\n`);
    return cleared.ok ? EXIT.ok : EXIT.refused;
  } finally {
    await client.close();
  }
}

/** What a list reply names: the not-registered tokens, or the originals of canonical replacements. */
function listed(name: 'canonical' | 'notregistered', reply: Reply): string[] {
  const entries = name === 'notregistered' ? reply.tokens : reply.canonical_replacements;
  if (!Array.isArray(entries)) return [];
  return entries.flatMap((entry: unknown) => {
    if (typeof entry === 'string') return [entry];
    const original = (entry as { original?: unknown } | null)?.original;
    return typeof original === 'string' ? [original] : [];
  });
}

async function simple(command: Exclude<CtlCommand, { name: 'send' }>, context: CtlContext): Promise<number> {
  if ((command.name === 'canonical' || command.name === 'notregistered') && !command.keep) return carefulRead(command, context);
  const request = 'keep' in command && command.keep ? { cmd: command.name, keep: true } : { cmd: command.name };
  const client = await GocmClient.connect(context.address);
  try {
    const reply = await client.request(request);
    print(context, reply, TEXT[command.name] ?? (() => undefined));
    return reply.ok ? EXIT.ok : EXIT.refused;
  } finally {
    await client.close();
  }
}

async function send(command: Extract<CtlCommand, { name: 'send' }>, context: CtlContext): Promise<number> {
  const source = command.tokensFile === undefined ? undefined : await context.openTokens(command.tokensFile);
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

async function sendAll(
  command: Extract<CtlCommand, { name: 'send' }>,
  context: CtlContext,
  source: TokensSource | undefined,
  reading: Counted,
  first: string[],
): Promise<number> {
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

async function* prepend<T>(head: T, rest: AsyncGenerator<T>): AsyncGenerator<T> {
  yield head;
  yield* rest;
}
