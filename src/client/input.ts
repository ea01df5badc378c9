// The files gocmctl reads (--tokens-file, --messages): a path or `-` for
// stdin, checked to be readable before anything is sent, then streamed.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { errorCode } from '../guards.js';

/** An input file cannot be read: a usage error, as SPEC.md's exit 2. */
export class InputFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputFileError';
  }
}

/** A source of lines, checked to be readable before anything is sent. */
export interface InputSource {
  /** How messages name it: the path, or "stdin". */
  readonly name: string;
  /** A regular file can be read twice (to count it for a progress bar); stdin cannot. */
  readonly rereadable: boolean;
  open(): Readable;
}

/** Open `-` (stdin) or a path for `flag`; throws InputFileError, naming the flag, when it cannot be read. */
export async function openInput(flag: string, path: string, stdin: Readable): Promise<InputSource> {
  if (path === '-') return { name: 'stdin', rereadable: false, open: () => stdin };
  let isFile: boolean;
  try {
    const handle = await open(path, 'r');
    try {
      const stat = await handle.stat();
      if (stat.isDirectory()) throw new InputFileError(`${flag}: ${path} is a directory`);
      isFile = stat.isFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof InputFileError) throw error;
    throw new InputFileError(`${flag}: cannot read ${path}: ${errorCode(error) ?? String(error)}`);
  }
  return { name: path, rereadable: isFile, open: () => createReadStream(path) };
}

/** `head`, then the rest of a stream already read up to it (what was read to check a file is not empty). */
export async function* prepend<T>(head: T, rest: AsyncGenerator<T>): AsyncGenerator<T> {
  yield head;
  yield* rest;
}
