// gocmctl's flag values turned into what a command sends: JSON flags
// parsed, repeatable flags listed, send's flags made into a message's fields.
// Anything wrong is a UsageError: one line on stderr, exit 2.
import type { CtlCommand } from '../client/ctl.js';

/** A bad flag or value: one line on stderr, exit 2. */
export class UsageError extends Error {}

/** A JSON object given as a flag's value. */
function jsonObject(flag: string, text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--${flag}: not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`--${flag}: must be a JSON object, e.g. '{"title":"Hi"}'`);
  return value as Record<string, unknown>;
}

/** A repeatable string flag: yargs gives a string once, an array when repeated. */
export function stringList(flag: string, value: unknown): string[] {
  const list = (value === undefined ? [] : [value].flat()).map(String);
  if (list.some((item) => item === '')) throw new UsageError(`--${flag}: an empty value`);
  return list;
}

export interface SendArgs {
  token?: unknown;
  'tokens-file'?: string;
  messages?: string;
  app?: string;
  payload?: string;
  notification?: string;
  'collapse-key'?: string;
  priority?: string;
  ttl?: number;
  'dry-run'?: boolean;
}

export function sendCommand(args: SendArgs): CtlCommand {
  const payload = jsonObject('payload', args.payload);
  const notification = jsonObject('notification', args.notification);
  const ttl = args.ttl;
  if (ttl !== undefined && !(Number.isSafeInteger(ttl) && ttl >= 0)) throw new UsageError('--ttl: a whole number of seconds ≥ 0');
  if (args['tokens-file'] === '') throw new UsageError('--tokens-file: give a path, or - for stdin');
  if (args.messages === '') throw new UsageError('--messages: give a path, or - for stdin');
  if (args.messages === undefined && payload === undefined) throw new UsageError('send: give --payload JSON (or --messages FILE)');
  const fields: Record<string, unknown> = {};
  // With --messages these are defaults: a line's own "app" (or payload, …) wins.
  if (args.app !== undefined) fields.app = appName(args.app);
  if (payload) fields.payload = payload;
  if (notification) fields.notification = notification;
  if (args['collapse-key'] !== undefined) fields.collapse_key = args['collapse-key'];
  if (args.priority !== undefined) fields.priority = args.priority;
  if (ttl !== undefined) fields.ttl = ttl;
  if (args['dry-run']) fields.dry_run = true;
  if (args.messages !== undefined) return { name: 'messages', file: args.messages, defaults: fields };
  return { name: 'send', fields, tokens: stringList('token', args.token), tokensFile: args['tokens-file'] };
}

/** --app: given, so it must name something (the daemon says whether it is an app). */
export function appName(app: string | undefined): string | undefined {
  if (app === '') throw new UsageError('--app: give the name of an app of the --apps file');
  return app;
}
