// What each gocmctl command does once its arguments are parsed: pick the
// module that runs it, and turn a daemon out of reach or an unreadable input
// into the exit status of SPEC.md.
import { ConnectionLostError, GocmClient, UnreachableError } from './client.js';
import { complain, type CtlContext, EXIT, print } from './context.js';
import { formatFleet, formatQueue, formatReport, formatStatus } from './format.js';
import { InputFileError } from './input.js';
import { type ListCommand, readList } from './lists.js';
import { type MessagesSendCommand, sendMessagesFile } from './send-messages.js';
import { sendTokens, type TokensSendCommand } from './send-tokens.js';
import { vapidKeys, type VapidKeysCommand } from './vapid-keys.js';
import { watch, type WatchCommand } from './watch.js';

/** A command of one request and one reply. */
type SimpleCommand =
  | { readonly name: 'report' | 'queue'; readonly app: string | undefined }
  | { readonly name: 'status'; readonly msg: string; readonly app: string | undefined }
  | { readonly name: 'ping' | 'fleet' };

export type CtlCommand = TokensSendCommand | MessagesSendCommand | ListCommand | WatchCommand | VapidKeysCommand | SimpleCommand;

const TEXT = {
  report: formatReport,
  queue: formatQueue,
  status: formatStatus,
  fleet: formatFleet,
  ping: () => 'ok',
} as const;

/** Run one command; resolves to the exit status. Failures to reach the daemon are answered, not thrown. */
export async function runCtl(command: CtlCommand, context: CtlContext): Promise<number> {
  try {
    switch (command.name) {
      case 'send':
        return await sendTokens(command, context);
      case 'messages':
        return await sendMessagesFile(command, context);
      case 'canonical':
      case 'notregistered':
        return await readList(command, context);
      case 'watch':
        return await watch(command, context);
      case 'vapid-keys':
        return vapidKeys(command, context);
      default:
        return await simple(command, context);
    }
  } catch (error) {
    if (error instanceof InputFileError) return complain(context, error.message, EXIT.usage);
    if (error instanceof UnreachableError || error instanceof ConnectionLostError) return complain(context, error.message, EXIT.unreachable);
    throw error;
  }
}

/** The request line of a simple command: its name, and what it names. */
function requestOf(command: SimpleCommand): Record<string, unknown> {
  const request: Record<string, unknown> = { cmd: command.name };
  if (command.name === 'status') request.msg = command.msg;
  if ('app' in command && command.app !== undefined) request.app = command.app;
  return request;
}

async function simple(command: SimpleCommand, context: CtlContext): Promise<number> {
  const client = await GocmClient.connect(context.address);
  try {
    const reply = await client.request(requestOf(command));
    print(context, reply, TEXT[command.name]);
    return reply.ok ? EXIT.ok : EXIT.refused;
  } finally {
    await client.close();
  }
}
