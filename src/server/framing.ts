// Line framing for the protocol: split2 splits and bounds lines; this adds the
// one thing it lacks, a marker where it skipped an over-long line, so that
// the line still gets its `line_too_long` reply, in its place.
import type { Transform, TransformCallback } from 'node:stream';
import split2 from 'split2';

/** Stands where a line longer than the limit was skipped. */
export const LINE_TOO_LONG: { readonly tooLong: true } = Object.freeze({ tooLong: true });

export type Frame = string | typeof LINE_TOO_LONG;

interface Split2Stream extends Transform {
  /** split2 sets this while it skips the rest of an over-long line. */
  overflow: boolean;
}

export function lineSplitter(maxLineBytes: number): Transform {
  // Called with `this` = the stream. `overflow` is true here only when split2
  // flushes the remainder of a line it was skipping at the end of input.
  function frame(this: Split2Stream, line: string): Frame | undefined {
    if (this.overflow) return undefined;
    // split2 counts characters; a line of multi-byte characters is checked in bytes.
    if (line.length > maxLineBytes || (line.length * 3 > maxLineBytes && Buffer.byteLength(line) > maxLineBytes)) {
      return LINE_TOO_LONG;
    }
    return line;
  }
  // skipOverflow is split2's, missing from its type definitions.
  const options = { maxLength: maxLineBytes, skipOverflow: true } as split2.Options;
  const splitter = split2(/\r?\n/, frame, options) as Split2Stream;
  const transform = splitter._transform.bind(splitter);
  splitter._transform = (chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void => {
    const wasSkipping = splitter.overflow;
    transform(chunk, encoding, (error?: Error | null) => {
      // A new skip started in this chunk: either none was under way, or the old
      // one ended at a newline in this chunk and another long line began.
      if (splitter.overflow && (!wasSkipping || chunk.includes(10))) splitter.push(LINE_TOO_LONG);
      callback(error);
    });
  };
  return splitter;
}
