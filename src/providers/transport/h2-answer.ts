// One HTTP/2 stream's answer as it arrives: the status, the response headers
// a provider asked for, and the body, cut off past its bound.
import type http2 from 'node:http2';
import { BodyTooLargeError } from './errors.js';
import { pickHeaders, type TransportResponse } from './transport.js';

/**
 * Listens on `stream`; calls `done` once with the complete answer, or with
 * BodyTooLargeError. A stream that ends without an answer (refused, reset)
 * calls nothing: its 'close' says why, and `answered` tells the two apart.
 */
export class StreamAnswer {
  #status = 0;
  #finished = false;

  constructor(stream: http2.ClientHttp2Stream, wanted: readonly string[], maxBodyBytes: number, done: (outcome: TransportResponse | Error) => void) {
    let headers: Record<string, string> = {};
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (outcome: TransportResponse | Error): void => {
      if (this.#finished) return;
      this.#finished = true;
      done(outcome);
    };
    stream.on('response', (received) => {
      this.#status = Number(received[':status']);
      headers = pickHeaders(received, wanted);
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.#finished) return;
      size += chunk.length;
      if (size > maxBodyBytes) finish(new BodyTooLargeError(this.#status, maxBodyBytes));
      else chunks.push(chunk);
    });
    stream.on('end', () => {
      if (this.#status === 0) return;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      finish({ status: this.#status, headers, body: body.toString('utf8') });
    });
  }

  /** Whether the server began an answer (sent its headers). */
  get answered(): boolean {
    return this.#status !== 0;
  }
}
