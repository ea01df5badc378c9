// The protocol's commands: a line in, its reply out. Dispatch is by the
// `cmd` field to a method of the same name; validation lives in validate.ts.
import { randomUUID } from 'node:crypto';
import { type ErrorCode, ProtocolError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Report } from '../report.js';
import type { Spool } from '../spool/spool.js';
import { errorReply, okReply, type RequestId } from './replies.js';
import { isObject } from '../guards.js';
import { requestIdOf, validateSend } from './validate.js';

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
      ['report', (_request, id) => this.report(id)],
      ['canonical', (request, id) => this.canonical(request, id)],
      ['notregistered', (request, id) => this.notregistered(request, id)],
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

  /** The reply to a line that will not be processed (the daemon is stopping): its id echoed when it has a good one. */
  refuse(line: string, code: ErrorCode, message: string): string {
    let id: RequestId;
    try {
      const request: unknown = JSON.parse(line.charCodeAt(0) === 0xfeff ? line.slice(1) : line);
      id = isObject(request) ? requestIdOf(request) : undefined;
    } catch {
      id = undefined;
    }
    return errorReply(code, id, message);
  }

  private async send(request: Request, id: RequestId): Promise<string> {
    const { content, tokens } = validateSend(request);
    const message = { id: randomUUID(), content };
    await this.deps.spool.add(message, tokens);
    this.deps.report.accepted(tokens.length);
    this.deps.onAccepted();
    return sendReply(id, message.id, tokens.length);
  }

  private async report(id: RequestId): Promise<string> {
    const { pending } = await this.deps.spool.counts();
    return okReply(id, this.deps.report.snapshot(pending));
  }

  /** Read and clear in one step, read only (`keep`), or clear exactly what an earlier careful read printed (`clear`). */
  private async canonical(request: Request, id: RequestId): Promise<string> {
    const clear = clearOf(request, 'canonical originals');
    if (clear) return okReply(id, { cleared: await this.deps.spool.clearCanonicals(clear) });
    return okReply(id, { canonical_replacements: await this.deps.spool.takeCanonicals(keepOf(request)) });
  }

  private async notregistered(request: Request, id: RequestId): Promise<string> {
    const clear = clearOf(request, 'tokens');
    if (clear) return okReply(id, { cleared: await this.deps.spool.clearNotRegistered(clear) });
    return okReply(id, { tokens: await this.deps.spool.takeNotRegistered(keepOf(request)) });
  }

  private async queue(id: RequestId): Promise<string> {
    const counts = await this.deps.spool.counts();
    const now = Date.now();
    return okReply(id, {
      pending: counts.pending,
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

/** `clear`: the entries to remove, as an array of strings; undefined when absent. */
function clearOf(request: Request, what: string): readonly string[] | undefined {
  const clear = request.clear;
  if (clear === undefined) return undefined;
  if (!Array.isArray(clear) || !clear.every((entry) => typeof entry === 'string')) throw new ProtocolError('bad_request', `"clear" must be an array of the ${what} to remove`);
  if (request.keep !== undefined) throw new ProtocolError('bad_request', '"clear" and "keep" do not go together');
  return clear as string[];
}

function unknownCommand(cmd: unknown): string {
  const known = 'send, report, canonical, notregistered, queue, ping';
  if (cmd === undefined) return `"cmd" is missing; one of: ${known}`;
  // Not echoed whole: a 100,000-deep array would overflow JSON.stringify, a megabyte string the reply.
  if (typeof cmd !== 'string') return `"cmd" must be a string, one of: ${known}`;
  return `unknown command ${JSON.stringify(cmd.length > 64 ? cmd.slice(0, 64) + '…' : cmd)}; one of: ${known}`;
}
