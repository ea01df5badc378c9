// The protocol's commands: a line in, its reply out. Dispatch is by the
// `cmd` field to a method of the same name; validation lives in validate.ts.
import { randomUUID } from 'node:crypto';
import { ProtocolError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Report } from '../report.js';
import type { Spool } from '../spool/spool.js';
import { errorReply, okReply, type RequestId } from './replies.js';
import { isObject, requestIdOf, validateSend } from './validate.js';

type Request = Record<string, unknown>;
type Handler = (request: Request, id: RequestId) => string | Promise<string>;

export interface CommandDeps {
  readonly spool: Spool;
  readonly report: Report;
  /** Called after a send is spooled: there is new work. */
  readonly onAccepted: () => void;
  readonly log: Logger;
}

export class Commands {
  private readonly handlers: ReadonlyMap<string, Handler>;

  constructor(private readonly deps: CommandDeps) {
    this.handlers = new Map<string, Handler>([
      ['send', (request, id) => this.send(request, id)],
      ['report', (_request, id) => okReply(id, this.deps.report.snapshot())],
      ['canonical', (request, id) => okReply(id, { canonical_replacements: this.deps.spool.takeCanonicals(keepOf(request)) })],
      ['notregistered', (request, id) => okReply(id, { tokens: this.deps.spool.takeNotRegistered(keepOf(request)) })],
      ['queue', (_request, id) => this.queue(id)],
      ['ping', (_request, id) => okReply(id, {})],
    ]);
  }

  /** Answer one line. Never throws: every failure is an error reply. */
  handle(line: string): string | Promise<string> {
    let request: unknown;
    try {
      // A byte-order mark is tolerated at the start of a line.
      request = JSON.parse(line.charCodeAt(0) === 0xfeff ? line.slice(1) : line);
    } catch (error) {
      return errorReply('bad_json', undefined, `not JSON: ${(error as Error).message}`);
    }
    if (!isObject(request)) return errorReply('bad_json', undefined, 'a request must be a JSON object, e.g. {"cmd":"ping"}');
    let id: RequestId;
    try {
      id = requestIdOf(request);
      const handler = typeof request.cmd === 'string' ? this.handlers.get(request.cmd) : undefined;
      if (!handler) return errorReply('unknown_command', id, unknownCommand(request.cmd));
      const reply = handler(request, id);
      return typeof reply === 'string' ? reply : reply.catch((error: unknown) => this.failure(error, id));
    } catch (error) {
      return this.failure(error, id);
    }
  }

  private async send(request: Request, id: RequestId): Promise<string> {
    const { content, tokens } = validateSend(request);
    const message = { id: randomUUID(), content };
    await this.deps.spool.add(message, tokens);
    this.deps.onAccepted();
    return sendReply(id, message.id, tokens.length);
  }

  private queue(id: RequestId): string {
    const now = Date.now();
    const counts = this.deps.spool.counts();
    return okReply(id, {
      pending: counts.queued + counts.inflight + counts.retrying,
      queued: counts.queued,
      inflight: counts.inflight,
      retrying: counts.retrying,
      oldest_age_ms: counts.oldestAcceptedAt === undefined ? null : Math.max(0, now - counts.oldestAcceptedAt),
    });
  }

  private failure(error: unknown, id: RequestId): string {
    if (error instanceof ProtocolError) return errorReply(error.code, id, error.message);
    this.deps.log.error({ err: error }, 'request failed');
    return errorReply('internal', id, 'internal error; nothing was accepted (see the daemon log)');
  }
}

/**
 * The reply to every send, the one made 100,000 times a second: spliced, not
 * JSON.stringify'd (okReply's spread and stringify were 3–7% of the ingest
 * profile). The message id is a UUID and needs no escaping.
 */
function sendReply(id: RequestId, messageId: string, accepted: number): string {
  const echo = id === undefined ? '' : `,"id":${JSON.stringify(id)}`;
  return `{"ok":true${echo},"msg":"${messageId}","accepted":${accepted}}`;
}

function keepOf(request: Request): boolean {
  if (request.keep !== undefined && typeof request.keep !== 'boolean') throw new ProtocolError('bad_request', '"keep" must be true or false');
  return request.keep === true;
}

function unknownCommand(cmd: unknown): string {
  const known = 'send, report, canonical, notregistered, queue, ping';
  if (cmd === undefined) return `"cmd" is missing; one of: ${known}`;
  // Not echoed whole: a 100,000-deep array would overflow JSON.stringify, a megabyte string the reply.
  if (typeof cmd !== 'string') return `"cmd" must be a string, one of: ${known}`;
  return `unknown command ${JSON.stringify(cmd.length > 64 ? cmd.slice(0, 64) + '…' : cmd)}; one of: ${known}`;
}
