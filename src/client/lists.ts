// `gocmctl canonical` and `gocmctl notregistered`. Without --keep a list is
// read in two steps, so that a reader that goes away loses nothing: read it
// with `keep`, print it, and only once the output took it, clear exactly what
// was printed (entries that arrived meanwhile stay for the next read).
import { errorCode } from '../guards.js';
import { GocmClient, type Reply } from './client.js';
import { complain, type CtlContext, EXIT, OUTPUT_LOST, print, written } from './context.js';
import { formatCanonical, formatError, formatNotRegistered } from './format.js';

export interface ListCommand {
  readonly name: 'canonical' | 'notregistered';
  readonly keep: boolean;
  /** Only this app's entries; undefined: every app's. */
  readonly app: string | undefined;
}

const TEXT = { canonical: formatCanonical, notregistered: formatNotRegistered } as const;

export async function readList(command: ListCommand, context: CtlContext): Promise<number> {
  const scope = command.app === undefined ? {} : { app: command.app };
  const client = await GocmClient.connect(context.address);
  try {
    const reply = await client.request({ cmd: command.name, ...scope, keep: true });
    if (!reply.ok || command.keep) {
      print(context, reply, TEXT[command.name]);
      return reply.ok ? EXIT.ok : EXIT.refused;
    }
    const entries = listed(command.name, reply);
    const text = context.json ? JSON.stringify(reply) : TEXT[command.name](reply);
    try {
      await written(context.stdout, text + '\n');
    } catch (error) {
      return complain(context, `could not write the list (${errorCode(error) ?? String(error)}); it was left in place`, OUTPUT_LOST);
    }
    if (entries.length === 0) return EXIT.ok;
    const cleared = await client.request({ cmd: command.name, ...scope, clear: entries });
    if (!cleared.ok) return complain(context, `the list was printed but not cleared: ${formatError(cleared)}`, EXIT.refused);
    return EXIT.ok;
  } finally {
    await client.close();
  }
}

/** What a list reply names: the not-registered tokens, or the originals of canonical replacements. */
function listed(name: ListCommand['name'], reply: Reply): string[] {
  const entries = name === 'notregistered' ? reply.tokens : reply.canonical_replacements;
  if (!Array.isArray(entries)) return [];
  return entries.flatMap((entry: unknown) => {
    if (typeof entry === 'string') return [entry];
    const original = (entry as { original?: unknown } | null)?.original;
    return typeof original === 'string' ? [original] : [];
  });
}
