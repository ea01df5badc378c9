// The notification every benchmark sends: the daemon gets it in `send` lines,
// and the bare HTTP/2 client builds its FCM v1 bodies from the same content.
import { createHash } from 'node:crypto';
import type { MessageContent } from '../../src/message.js';

export const BENCH_PAYLOAD: MessageContent = { payload: { title: 'Hi', n: 3 } };

/** A `send` line (ending in "\n") for these tokens. */
export function sendLine(tokens: readonly string[]): string {
  return `${JSON.stringify({ cmd: 'send', tokens, payload: BENCH_PAYLOAD.payload })}\n`;
}

/** An APNs-shaped device token (64 hex digits) named by `name`: the same name, the same token. */
export function deviceToken(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}
