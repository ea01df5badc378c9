// `gocmctl send --messages`: a file of sends, one JSON object a line (the
// `send` request without `cmd`), written on one connection with at most
// WINDOW lines unanswered, so a file of millions costs the memory of a few
// hundred. A line that is not a send is reported by its number and skipped;
// the others go on.
import { pipeline, type Readable } from 'node:stream';
import { errorCode, isObject, stripBom } from '../guards.js';
// The daemon's own framing (split2, ndjson's core): the same line limit logic,
// and one frame per line (blank ones too), which is what keeps the line numbers
// right. ndjson.parse itself cannot report a bad line by number: it drops blank
// lines without a trace, names a bad one by its first 50 characters only, and a
// line `null` ends its stream, silently losing every line after it (ndjson 2.0).
import { type Frame, lineSplitter } from '../server/framing.js';
import { ConnectionLostError, type GocmClient, type Reply } from './client.js';
import { InputFileError } from './input.js';

/** Lines written and not yet answered. Well under the 1024 replies the daemon lets wait before it stops reading. */
export const WINDOW = 512;

/** Longer lines are refused here, before they fill our memory; the daemon's own limit (default 1 MiB) may be lower. */
export const MAX_MESSAGE_LINE_BYTES = 16 * 1024 * 1024;

export interface NumberedLine {
  /** From 1, as an editor counts. */
  readonly number: number;
  readonly frame: Frame;
}

/** The lines of a stream, numbered; read errors become InputFileError naming the source. */
export async function* numberedLines(input: Readable, name: string, maxLineBytes = MAX_MESSAGE_LINE_BYTES): AsyncGenerator<NumberedLine> {
  const lines = lineSplitter(maxLineBytes);
  // pipeline: a read error reaches the loop below, and leaving the loop early closes the file.
  pipeline(input, lines, () => undefined);
  let number = 0;
  try {
    for await (const frame of lines as AsyncIterable<Frame>) yield { number: ++number, frame };
  } catch (error) {
    throw new InputFileError(`--messages: cannot read ${name}: ${errorCode(error) ?? String(error)}`);
  }
}

/** A blank line: skipped without a word, as the protocol skips one (but still counted for the numbers). */
export function isBlank(line: NumberedLine): boolean {
  // trim() takes a byte-order mark too.
  return typeof line.frame === 'string' && line.frame.trim() === '';
}

export type LineRequest = { readonly request: Record<string, unknown>; readonly tokens: number } | { readonly problem: string } | undefined;

/**
 * One line as a `send` request: `defaults` (the flags' fields, --app among
 * them), then the line's own fields, which win; `id` is the line number
 * unless the line gives its own. Undefined for a blank line. Pure.
 */
export function lineRequest(line: NumberedLine, defaults: Readonly<Record<string, unknown>>): LineRequest {
  const frame = line.frame;
  if (typeof frame !== 'string') return { problem: `longer than ${MAX_MESSAGE_LINE_BYTES} bytes` };
  if (frame.trim() === '') return undefined;
  // A byte-order mark may start a file (the daemon tolerates one at the start of any line).
  const text = stripBom(frame);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `not JSON: ${(error as Error).message}` };
  }
  if (!isObject(value)) return { problem: 'not a JSON object: each line is a send, e.g. {"tokens":["t1"],"payload":{"k":"v"}}' };
  // A line that names another command must not run it: this file is sends only.
  if (value.cmd !== undefined && value.cmd !== 'send') return { problem: `"cmd": a line is a send; leave "cmd" out` };
  const tokens = Array.isArray(value.tokens) ? value.tokens.length : 0;
  return { request: { ...defaults, id: line.number, ...value, cmd: 'send' }, tokens };
}

export interface MessagesTotals {
  /** Lines read that were not blank. */
  lines: number;
  /** Lines written to the daemon. */
  sent: number;
  /** Lines it answered ok. */
  accepted: number;
  /** Lines it refused. */
  refused: number;
  /** Lines not sent: not JSON, not an object, too long. */
  skipped: number;
  /** Its `accepted` counts, summed: tokens accepted. */
  tokens: number;
}

export interface MessagesHooks {
  /** A reply, in line order. */
  onReply(number: number, reply: Reply): void;
  /** A line skipped, in line order among the replies. */
  onSkipped(number: number, problem: string): void;
}

export interface MessagesResult extends MessagesTotals {
  /** Set when the connection was lost: the lines sent and not answered may or may not have been taken. */
  readonly lost: ConnectionLostError | undefined;
}

/**
 * Send every line; resolves with the totals once every reply that can come
 * came (the connection's loss among them). Rejects with the input's read error.
 */
export async function sendMessages(
  client: GocmClient,
  lines: AsyncIterable<NumberedLine>,
  defaults: Readonly<Record<string, unknown>>,
  hooks: MessagesHooks,
  window = WINDOW,
): Promise<MessagesResult> {
  const totals: MessagesTotals = { lines: 0, sent: 0, accepted: 0, refused: 0, skipped: 0, tokens: 0 };
  let failure: unknown;
  let unanswered = 0;
  let wake: (() => void) | undefined;
  // The newest reply: a skipped line's report is its next reaction, after its handler
  // and before the next reply's (which may settle in the same turn).
  let latest: Promise<Reply> | undefined;
  // Replies settle in request order, so the last handler settles after all the others.
  let last: Promise<void> = Promise.resolve();
  const answered = (): void => {
    unanswered -= 1;
    wake?.();
  };
  try {
    for await (const line of lines) {
      if (failure !== undefined) break;
      const made = lineRequest(line, defaults);
      if (made === undefined) continue;
      totals.lines += 1;
      if ('problem' in made) {
        totals.skipped += 1;
        const report = (): void => hooks.onSkipped(line.number, made.problem);
        // Reported after the replies to the lines before it, so stderr reads in line order.
        if (latest) last = latest.then(report, report);
        else report();
        continue;
      }
      while (unanswered >= window && failure === undefined) await new Promise<void>((resolve) => (wake = resolve));
      // Backpressure: wait for the socket rather than buffer the file in memory.
      await client.writable();
      if (failure !== undefined) break;
      unanswered += 1;
      totals.sent += 1;
      const reply = client.request(made.request);
      last = reply.then(
        (answer) => {
          answered();
          if (answer.ok) {
            totals.accepted += 1;
            totals.tokens += typeof answer.accepted === 'number' ? answer.accepted : 0;
          } else {
            totals.refused += 1;
          }
          hooks.onReply(line.number, answer);
        },
        (error: unknown) => {
          answered();
          failure ??= error;
        },
      );
      latest = reply;
    }
  } catch (error) {
    // writable() rejects once the connection is gone: the same loss the replies report.
    failure ??= error;
  } finally {
    await last;
  }
  if (failure === undefined || failure instanceof ConnectionLostError) return { ...totals, lost: failure };
  throw failure;
}
