// A request body, read whole but never past the limit (--max-line-bytes, as
// for a line). Past it reading stops and node:http discards the rest once the
// answer is out, so the connection can serve its next request and a huge body
// costs bandwidth, never memory.
import type { IncomingMessage } from 'node:http';

/** The client closed its connection before the end of its body: there is no one left to answer. */
export class ClientGone extends Error {
  constructor() {
    super('the client went away before the end of its request');
    this.name = 'ClientGone';
  }
}

/** Stands for a body over the limit. */
export const TOO_LARGE: unique symbol = Symbol('body too large');

/** The body, or TOO_LARGE; rejects with ClientGone when the client goes away before its end. */
export function readBody(request: IncomingMessage, limit: number): Promise<Buffer | typeof TOO_LARGE> {
  // A declared length over the limit is refused before a byte of it is read.
  if (Number(request.headers['content-length']) > limit) return Promise.resolve(TOO_LARGE);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      // Chunked bodies declare no length: the limit is found on the way.
      stop();
      resolve(TOO_LARGE);
    };
    const onEnd = (): void => {
      stop();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onGone = (): void => {
      stop();
      reject(new ClientGone());
    };
    const stop = (): void => {
      request.off('data', onData).off('end', onEnd).off('error', onGone).off('close', onGone);
    };
    request.on('data', onData).once('end', onEnd).once('error', onGone).once('close', onGone);
  });
}
