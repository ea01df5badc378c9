// The protocol's commands: a line in, its reply out. Dispatch is by the
// `cmd` field to a method of the same name; validation lives in validate.ts.
import { performance } from 'node:perf_hooks';
import { type Clock, systemClock } from '../clock.js';
import { type ErrorCode, ProtocolError } from '../errors.js';
import { isObject, stripBom } from '../guards.js';
import type { Logger } from '../log.js';
import { newMessageId, type NewMessage } from '../message.js';
import type { Report } from '../report.js';
import type { AppFilter, Spool } from '../spool/spool.js';
import { EVENT_NAMES, type EventName } from '../events.js';
import { errorReply, okReply, type RequestId } from './replies.js';
import { requestIdOf, validateSend } from './validate.js';

type Request = Record<string, unknown>;
type Handler = (request: Request, id: RequestId, session: Session | undefined) => string | Promise<string>;

/** The apps configured now (they change on SIGHUP). */
export interface AppDirectory {
  /** The app of a send that names none. */
  readonly defaultApp: string;
  readonly names: readonly string[];
  /** Why `content` is too large for `app`'s push service; undefined when it fits. */
  sizeProblem(app: string, content: NewMessage['content']): string | undefined;
}

/** What a connection offers the commands that need one (subscribe). */
export interface Session {
  /** From now on, write the events named to this connection. */
  subscribe(events: ReadonlySet<EventName>): void;
}

export interface CommandDeps {
  readonly spool: Spool;
  readonly report: Report;
  readonly apps: () => AppDirectory;
  /** Delivery's view of an app: when a quota answer lets it send again. */
  readonly pausedUntil: (app: string) => number | undefined;
  /** Called after a send is spooled: there is new work. */
  readonly onAccepted: () => void;
  /**
   * Called as a spooled send's reply is made: its app, its tokens, and the
   * seconds since the send began to be handled (validation and the spool's
   * commit). Metrics count and time acknowledgements with it; without it no
   * clock is read.
   */
  readonly onAck?: (app: string, tokens: number, seconds: number) => void;
  readonly log: Logger;
  readonly clock?: Clock;
}

export const COMMANDS = ['send', 'report', 'queue', 'status', 'canonical', 'notregistered', 'subscribe', 'fleet', 'ping'] as const;

export class Commands {
  private readonly handlers: ReadonlyMap<string, Handler>;
  private readonly clock: Clock;
  /** Extra commands wired in by the daemon (fleet). */
  private readonly extra = new Map<string, Handler>();

  constructor(private readonly deps: CommandDeps) {
    this.clock = deps.clock ?? systemClock;
    this.handlers = new Map<string, Handler>([
      ['send', (request, id) => this.send(request, id)],
      ['report', (request, id) => this.report(request, id)],
      ['queue', (request, id) => this.queue(request, id)],
      ['status', (request, id) => this.status(request, id)],
      ['canonical', (request, id) => this.canonical(request, id)],
      ['notregistered', (request, id) => this.notregistered(request, id)],
      ['subscribe', (request, id, session) => this.subscribe(request, id, session)],
      ['ping', (_request, id) => okReply(id, {})],
    ]);
  }

  /** Add a command whose reply comes from elsewhere (the fleet view of a shared spool). */
  register(name: (typeof COMMANDS)[number], reply: (request: Request) => Promise<object> | object): void {
    this.extra.set(name, async (request, id) => okReply(id, await reply(request)));
  }

  /** Answer one line. Never throws: every failure is an error reply. */
  handle(line: string, session?: Session): string | Promise<string> {
    let request: unknown;
    try {
      // A byte-order mark is tolerated at the start of a line.
      request = JSON.parse(stripBom(line));
    } catch (error) {
      return errorReply('bad_json', undefined, `not JSON: ${(error as Error).message}`);
    }
    if (!isObject(request)) return errorReply('bad_json', undefined, 'a request must be a JSON object, e.g. {"cmd":"ping"}');
    return this.handleRequest(request, session);
  }

  /** Answer one parsed request (the HTTP API builds them itself). Never throws. */
  handleRequest(request: Request, session?: Session): string | Promise<string> {
    let id: RequestId;
    try {
      id = requestIdOf(request);
      const handler = typeof request.cmd === 'string' ? (this.handlers.get(request.cmd) ?? this.extra.get(request.cmd)) : undefined;
      if (!handler) return errorReply('unknown_command', id, unknownCommand(request.cmd));
      const reply = handler(request, id, session);
      return typeof reply === 'string' ? reply : reply.catch((error: unknown) => this.failure(error, id));
    } catch (error) {
      return this.failure(error, id);
    }
  }

  /** The reply to a line that will not be processed (the daemon is stopping): its id echoed when it has a good one. */
  refuse(line: string, code: ErrorCode, message: string): string {
    let id: RequestId;
    try {
      const request: unknown = JSON.parse(stripBom(line));
      id = isObject(request) ? requestIdOf(request) : undefined;
    } catch {
      id = undefined;
    }
    return errorReply(code, id, message);
  }

  /** `app` of a request: undefined for all apps; a bad_request naming it when no such app is configured. */
  private appOf(request: Request): AppFilter {
    const app = request.app;
    if (app === undefined) return undefined;
    if (typeof app !== 'string') throw new ProtocolError('bad_request', '"app" must be a string');
    return this.knownApp(app);
  }

  private knownApp(app: string): string {
    const names = this.deps.apps().names;
    if (!names.includes(app)) throw new ProtocolError('bad_request', `unknown app ${JSON.stringify(app.slice(0, 64))}; configured: ${names.join(', ')}`);
    return app;
  }

  private async send(request: Request, id: RequestId): Promise<string> {
    const started = this.deps.onAck ? performance.now() : 0;
    const now = this.clock.now();
    const valid = validateSend(request, now);
    const directory = this.deps.apps();
    const app = valid.app === undefined ? directory.defaultApp : this.knownApp(valid.app);
    const tooLarge = directory.sizeProblem(app, valid.content);
    if (tooLarge) throw new ProtocolError('payload_too_large', tooLarge);
    const message: NewMessage = {
      id: newMessageId(now),
      app,
      acceptedAt: now,
      content: valid.content,
      ...(valid.sendAt !== undefined && { sendAt: valid.sendAt }),
      ...(valid.expiresAt !== undefined && { expiresAt: valid.expiresAt }),
    };
    await this.deps.spool.add(message, valid.tokens);
    this.deps.report.accepted(app, valid.tokens.length);
    this.deps.onAccepted();
    this.deps.onAck?.(app, valid.tokens.length, (performance.now() - started) / 1000);
    return sendReply(id, message.id, valid.tokens.length);
  }

  private async report(request: Request, id: RequestId): Promise<string> {
    const app = this.appOf(request);
    const { pending } = await this.deps.spool.counts(app, this.clock.now());
    return okReply(id, this.deps.report.snapshot(pending, app));
  }

  private async queue(request: Request, id: RequestId): Promise<string> {
    const app = this.appOf(request);
    const now = this.clock.now();
    const counts = await this.deps.spool.counts(app, now);
    const reply: Record<string, unknown> = {
      pending: counts.pending,
      queued: counts.queued,
      scheduled: counts.scheduled,
      inflight: counts.inflight,
      retrying: counts.retrying,
      oldest_age_ms: counts.oldestAcceptedAt === undefined ? null : Math.max(0, now - counts.oldestAcceptedAt),
    };
    const paused = (app === undefined ? this.deps.apps().names : [app]).flatMap((name) => {
      const until = this.deps.pausedUntil(name);
      return until === undefined ? [] : [[name, new Date(until).toISOString()] as const];
    });
    if (app !== undefined && paused[0]) reply.paused_until = paused[0][1];
    if (app === undefined && paused.length > 0) reply.paused = Object.fromEntries(paused);
    return okReply(id, reply);
  }

  private async status(request: Request, id: RequestId): Promise<string> {
    const msg = request.msg;
    if (typeof msg !== 'string' || msg === '') throw new ProtocolError('bad_request', '"msg" must be the message id a send answered');
    const app = this.appOf(request);
    const status = await this.deps.spool.status(msg);
    if (!status || (app !== undefined && status.app !== app)) {
      throw new ProtocolError('not_found', `no message ${JSON.stringify(msg.slice(0, 64))}: unknown, or final longer ago than --status-retention`);
    }
    return okReply(id, {
      msg,
      app: status.app,
      tokens: status.tokens,
      pending: status.pending,
      delivered: status.delivered,
      failed: status.failed,
      failures: status.failures,
      ...(status.failed > status.failures.length && { truncated: true }),
    });
  }

  /** Read and clear in one step, read only (`keep`), or clear exactly what an earlier careful read printed (`clear`). */
  private async canonical(request: Request, id: RequestId): Promise<string> {
    const app = this.appOf(request);
    const clear = clearOf(request, 'canonical originals');
    if (clear) return okReply(id, { cleared: await this.deps.spool.clearCanonicals(app, clear) });
    const list = await this.deps.spool.takeCanonicals(app, keepOf(request));
    const entry = ({ original, canonical }: { original: string; canonical: string }) => ({ original, canonical });
    return okReply(id, { canonical_replacements: list.map(entry), ...(app === undefined && { by_app: byApp(list, entry) }) });
  }

  private async notregistered(request: Request, id: RequestId): Promise<string> {
    const app = this.appOf(request);
    const clear = clearOf(request, 'tokens');
    if (clear) return okReply(id, { cleared: await this.deps.spool.clearNotRegistered(app, clear) });
    const list = await this.deps.spool.takeNotRegistered(app, keepOf(request));
    return okReply(id, { tokens: list.map((entry) => entry.token), ...(app === undefined && { by_app: byApp(list, (entry) => entry.token) }) });
  }

  private subscribe(request: Request, id: RequestId, session: Session | undefined): string {
    if (!session) throw new ProtocolError('bad_request', 'subscribe needs a connection of the line protocol');
    const events = eventsOf(request.events);
    session.subscribe(events);
    return okReply(id, { subscribed: [...events] });
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

/** A list's entries grouped by their app, for the replies that cover every app. */
function byApp<T extends { readonly app: string }, R>(list: readonly T[], entry: (item: T) => R): Record<string, R[]> {
  const grouped: Record<string, R[]> = {};
  for (const item of list) (grouped[item.app] ??= []).push(entry(item));
  return grouped;
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

/** `events` of a subscribe: the names given (all when absent). */
function eventsOf(value: unknown): ReadonlySet<EventName> {
  if (value === undefined) return new Set(EVENT_NAMES);
  if (!Array.isArray(value) || value.length === 0) throw new ProtocolError('bad_request', `"events" must be a non-empty array of: ${EVENT_NAMES.join(', ')}`);
  for (const name of value) {
    if (!(EVENT_NAMES as readonly unknown[]).includes(name)) throw new ProtocolError('bad_request', `"events": ${JSON.stringify(String(name).slice(0, 64))} is not one of ${EVENT_NAMES.join(', ')}`);
  }
  return new Set(value as EventName[]);
}

function unknownCommand(cmd: unknown): string {
  const known = COMMANDS.join(', ');
  if (cmd === undefined) return `"cmd" is missing; one of: ${known}`;
  // Not echoed whole: a 100,000-deep array would overflow JSON.stringify, a megabyte string the reply.
  if (typeof cmd !== 'string') return `"cmd" must be a string, one of: ${known}`;
  return `unknown command ${JSON.stringify(cmd.length > 64 ? cmd.slice(0, 64) + '…' : cmd)}; one of: ${known}`;
}
