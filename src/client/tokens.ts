// Device tokens for `gocmctl send`: read from a file or stdin one per line,
// streamed (a file of millions is never held whole), and cut into the chunks
// that become `send` lines.
import { pipeline, type Readable } from 'node:stream';
import split2 from 'split2';
import { errorCode } from '../guards.js';
import { InputFileError, type InputSource } from './input.js';

/** The legacy multicast limit, and so the size GoCM's users already batch at. */
export const MAX_CHUNK_TOKENS = 1000;

/**
 * Long tokens could make a chunk of 1000 longer than the daemon's default
 * --max-line-bytes (1 MiB); a chunk also ends once its tokens reach this.
 */
const MAX_CHUNK_BYTES = 512 * 1024;

/** The tokens of a stream, one per line; blank lines and surrounding whitespace are ignored. */
export async function* tokenLines(input: Readable, name: string): AsyncGenerator<string> {
  const lines = split2();
  // pipeline: a read error reaches the loop below, and leaving the loop early closes the file.
  pipeline(input, lines, () => undefined);
  try {
    for await (const line of lines as AsyncIterable<string>) {
      const token = line.trim();
      if (token !== '') yield token;
    }
  } catch (error) {
    throw new InputFileError(`--tokens-file: cannot read ${name}: ${errorCode(error) ?? String(error)}`);
  }
}

/** How many tokens a source holds (a pass of its own, for the progress bar's total). */
export async function countTokens(source: InputSource): Promise<number> {
  let count = 0;
  for await (const token of tokenLines(source.open(), source.name)) if (token) count += 1;
  return count;
}

/** Cut tokens into chunks of at most `maxTokens` tokens and about `maxBytes` bytes. */
export async function* chunks(
  tokens: AsyncIterable<string> | Iterable<string>,
  maxTokens = MAX_CHUNK_TOKENS,
  maxBytes = MAX_CHUNK_BYTES,
): AsyncGenerator<string[]> {
  let chunk: string[] = [];
  let bytes = 0;
  for await (const token of tokens) {
    chunk.push(token);
    // Characters stand in for bytes: tokens are ASCII, and this is a bound, not a limit.
    bytes += token.length + 3;
    if (chunk.length >= maxTokens || bytes >= maxBytes) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** The tokens given as flags first, then those of the source, if any. */
export async function* allTokens(flagTokens: readonly string[], source: InputSource | undefined): AsyncGenerator<string> {
  yield* flagTokens;
  if (source) yield* tokenLines(source.open(), source.name);
}
