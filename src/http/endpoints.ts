// GoCM's four endpoints, each a request of the line protocol answered by the
// same Commands: /gcm/send is `send`; /gcm/report, /gcm/report/canonical and
// /gcm/report/notregistered are `report`, `canonical` and `notregistered`, so
// the lists are read and cleared in one spool transaction, as there.
import type { IncomingMessage } from 'node:http';
import { ProtocolError } from '../errors.js';
import type { Commands } from '../protocol/commands.js';
import { readBody, TOO_LARGE } from './body.js';
import { bodyKindOf, sendRequestOf } from './forms.js';
import { errorAnswer, type HttpAnswer, sendAnswer, type Shape, shapedAnswer } from './replies.js';

export interface Endpoint {
  readonly method: 'GET' | 'POST';
  answer(request: IncomingMessage): Promise<HttpAnswer>;
}

/** The bodies /gcm/send reads, for the Accept-Post header of a 415. */
const ACCEPTED = 'application/x-www-form-urlencoded, application/json';

export function endpoints(commands: Commands, maxBodyBytes: number): ReadonlyMap<string, Endpoint> {
  const list = (cmd: Shape): Endpoint => ({
    method: 'GET',
    answer: async (request) => shapedAnswer(await commands.handleRequest({ cmd, ...appOf(request) }), cmd),
  });
  return new Map<string, Endpoint>([
    ['/gcm/send', { method: 'POST', answer: (request) => send(commands, request, maxBodyBytes) }],
    ['/gcm/report', list('report')],
    ['/gcm/report/canonical', list('canonical')],
    ['/gcm/report/notregistered', list('notregistered')],
  ]);
}

async function send(commands: Commands, request: IncomingMessage, maxBodyBytes: number): Promise<HttpAnswer> {
  const kind = bodyKindOf(request.headers['content-type']);
  const encoding = request.headers['content-encoding'];
  if (!kind || (encoding !== undefined && encoding.toLowerCase() !== 'identity')) {
    const what = kind ? `a body in ${encoding} encoding` : `a body of type ${request.headers['content-type'] ?? '(none given)'}`;
    return errorAnswer('bad_request', `/gcm/send reads a form (tokens=…&payload=…) or a JSON object, not ${what}`, 415, { 'accept-post': ACCEPTED });
  }
  const body = await readBody(request, maxBodyBytes);
  if (body === TOO_LARGE) return errorAnswer('line_too_long', `the body is longer than --max-line-bytes (${maxBodyBytes} bytes)`);
  let send: Record<string, unknown>;
  try {
    send = sendRequestOf(kind, body);
  } catch (error) {
    if (error instanceof ProtocolError) return errorAnswer(error.code, error.message);
    throw error;
  }
  return sendAnswer(await commands.handleRequest(send));
}

/** `?app=NAME`: the one app a GET covers (the protocol's `app`); all apps without it. */
function appOf(request: IncomingMessage): { app?: string } {
  const query = request.url?.split('?')[1];
  const app = query === undefined ? null : new URLSearchParams(query).get('app');
  return app === null ? {} : { app };
}
