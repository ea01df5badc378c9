// A logger that writes to memory, so that tests can read every line it wrote.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

export interface MemoryLog {
  readonly log: Logger;
  /** Every line written so far, parsed. */
  lines(): Array<Record<string, unknown>>;
  /** The lines whose `msg` matches. */
  find(pattern: RegExp): Array<Record<string, unknown>>;
}

export function memoryLog(level = 'trace'): MemoryLog {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const lines = (): Array<Record<string, unknown>> =>
    chunks
      .join('')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { log: createLogger(level, stream), lines, find: (pattern) => lines().filter((line) => pattern.test(String(line.msg))) };
}
