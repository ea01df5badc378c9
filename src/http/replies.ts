// Reply lines of the protocol → HTTP answers: GoCM's bodies for what worked
// (`ok\n`, its report and list objects), the protocol's own error object for
// what did not, under a status that says the same as its code.
import type { ErrorCode } from '../errors.js';
import { isObject, parseObject } from '../guards.js';
import { errorReply } from '../protocol/replies.js';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** What each GET endpoint shows of its command's reply. */
export type Shape = 'report' | 'canonical' | 'notregistered';

const STATUS: Record<ErrorCode, number> = {
  bad_json: 400,
  bad_request: 400,
  unknown_command: 400,
  line_too_long: 413,
  payload_too_large: 413,
  busy: 503,
  shutting_down: 503,
  internal: 500,
  not_found: 404,
};

/**
 * Seconds a client told `busy` should wait. The spool is full or its disk
 * failing: a second is long enough not to hammer it, short enough that a
 * client which honours it loses little once the cause is gone.
 */
export const RETRY_AFTER_SECONDS = 1;

const JSON_TYPE = 'application/json';

/** GoCM's answer to a send, byte for byte. */
export const SENT: HttpAnswer = { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'ok\n' };

export function errorAnswer(code: ErrorCode, message: string, status = STATUS[code], headers: Record<string, string> = {}): HttpAnswer {
  return lineAnswer(status, errorReply(code, undefined, message), headers);
}

/** A send's reply line → `ok\n`, or its error. */
export function sendAnswer(line: string): HttpAnswer {
  // The common case costs no parse: a reply that starts so succeeded.
  return line.startsWith('{"ok":true') ? SENT : replyError(line);
}

/** A report or list command's reply line → the object GoCM's endpoint answered, or the error. */
export function shapedAnswer(line: string, shape: Shape): HttpAnswer {
  const reply = parseObject(line);
  if (reply?.ok !== true) return replyError(line);
  if (shape === 'canonical') return lineAnswer(200, JSON.stringify({ canonical_replacements: reply.canonical_replacements }));
  if (shape === 'notregistered') return lineAnswer(200, JSON.stringify({ tokens: reply.tokens }));
  // GoCM's report object had no `ok`; the counters follow as the protocol gives them.
  delete reply.ok;
  return lineAnswer(200, JSON.stringify(reply));
}

function replyError(line: string): HttpAnswer {
  const error = parseObject(line)?.error;
  const code = isObject(error) && typeof error.code === 'string' && Object.hasOwn(STATUS, error.code) ? (error.code as ErrorCode) : 'internal';
  return lineAnswer(STATUS[code], line, code === 'busy' ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : {});
}

function lineAnswer(status: number, json: string, headers: Record<string, string> = {}): HttpAnswer {
  // A newline, as the line protocol ends every reply: curl's output ends its line.
  return { status, headers: { 'content-type': JSON_TYPE, ...headers }, body: json + '\n' };
}
