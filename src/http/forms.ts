// What GoCM's clients post to /gcm/send → a `send` request of the line
// protocol. Only the shape is translated here; every check of the content is
// the protocol's own (src/protocol/validate.ts), so both doors refuse alike.
import { ProtocolError } from '../errors.js';
import { isObject, stripBom } from '../guards.js';

export type BodyKind = 'form' | 'json';

/** The kind of body a Content-Type announces; undefined for one we do not read (multipart, text, none). */
export function bodyKindOf(contentType: string | undefined): BodyKind | undefined {
  const media = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  if (media === 'application/x-www-form-urlencoded') return 'form';
  if (media === 'application/json' || (media?.startsWith('application/') && media.endsWith('+json'))) return 'json';
  return undefined;
}

/** The send a body asks for. Throws ProtocolError (bad_json, bad_request) for one that cannot be a send. */
export function sendRequestOf(kind: BodyKind, body: Buffer): Record<string, unknown> {
  return kind === 'form' ? fromForm(body.toString('utf8')) : fromJson(body.toString('utf8'));
}

/**
 * GoCM's form: `tokens` (repeated) and `payload` (a JSON object as a string);
 * `app` as gocm adds it. Other fields are ignored, as GoCM ignored them: a
 * client that sends more than GoCM read must keep working.
 */
function fromForm(text: string): Record<string, unknown> {
  const form = new URLSearchParams(text);
  const request: Record<string, unknown> = { cmd: 'send' };
  if (form.has('tokens')) request.tokens = form.getAll('tokens');
  const payload = form.get('payload');
  if (payload !== null) request.payload = parsePayload(payload);
  const app = form.get('app');
  if (app !== null) request.app = app;
  return request;
}

/** The line protocol's send object without `cmd` (or with "cmd":"send"); `payload` may also be GoCM's string. */
function fromJson(text: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(stripBom(text));
  } catch (error) {
    throw new ProtocolError('bad_json', `the body is not JSON: ${(error as Error).message}`);
  }
  if (!isObject(body)) throw new ProtocolError('bad_json', 'the body must be a JSON object, e.g. {"tokens":["…"],"payload":{"title":"Hi"}}');
  if (body.cmd !== undefined && body.cmd !== 'send') throw new ProtocolError('bad_request', '"cmd": /gcm/send only sends; leave "cmd" out');
  const request: Record<string, unknown> = { ...body, cmd: 'send' };
  if (typeof request.payload === 'string') request.payload = parsePayload(request.payload);
  return request;
}

function parsePayload(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ProtocolError('bad_json', `"payload" is not JSON: ${(error as Error).message}`);
  }
}
