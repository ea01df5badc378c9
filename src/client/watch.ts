// `gocmctl watch [EVENT…]`: a subscription, one line per event until
// interrupted. Piped, the subscribe reply, then each event's JSON line as the
// daemon wrote it (a gap line included); on a terminal, a line for people,
// a gap as a warning.
import { type EventLine, GocmClient } from './client.js';
import { complain, type CtlContext, EXIT, type Output, print } from './context.js';
import { formatEvent } from './format.js';

export interface WatchCommand {
  readonly name: 'watch';
  /** The events to hear; empty: all of them (the daemon knows which exist). */
  readonly events: readonly string[];
}

export async function watch(command: WatchCommand, context: CtlContext): Promise<number> {
  // Heard from the start: a SIGINT right after the first line is printed must not kill us by default.
  const interrupted = context.interrupted().then(() => undefined);
  const client = await GocmClient.connect(context.address);
  try {
    const output = new PacedOutput(context.stdout, client);
    // Events that came in the reply's read are held until the reply is printed: it goes first.
    let early: EventLine[] | undefined = [];
    // Listening before subscribing: the first event may come right behind the reply.
    client.onEvent((event) => (early ? early.push(event) : show(context, output, event)));
    const reply = await client.request(command.events.length > 0 ? { cmd: 'subscribe', events: command.events } : { cmd: 'subscribe' });
    if (!reply.ok) {
      print(context, reply, () => undefined);
      return EXIT.refused;
    }
    // Piped, the reply is the first line (a script knows the subscription is live); then the events.
    if (context.json) output.write(JSON.stringify(reply) + '\n');
    else context.stderr.write(`gocmctl: watching ${Array.isArray(reply.subscribed) ? reply.subscribed.join(', ') : 'events'}; Ctrl-C stops\n`);
    for (const event of early) show(context, output, event);
    early = undefined;
    const lost = await Promise.race([interrupted, client.ended()]);
    // Interrupted is how a watch is meant to end; the daemon going away is not.
    return lost === undefined ? EXIT.ok : complain(context, lost.message, EXIT.unreachable);
  } finally {
    // Nothing is owed on a subscription: drop it rather than half-close and wait.
    client.destroy();
  }
}

function show(context: CtlContext, output: PacedOutput, event: EventLine): void {
  if (context.json) return output.write(event.line + '\n');
  if (event.event === 'gap') {
    context.stderr.write(`gocmctl: warning: ${String(event.fields.dropped)} events were dropped while this watch fell behind\n`);
    return;
  }
  output.write(formatEvent(event.fields) + '\n');
}

/** Writes not yet taken by stdout past which the socket is no longer read. */
const MAX_UNWRITTEN = 256;

/**
 * stdout, written no faster than it takes the text: a pipe to a slow reader
 * is written asynchronously, and without this every event would wait in our
 * memory. While too much is unwritten the socket is not read, so the daemon
 * drops events for us and says so with a gap line.
 */
class PacedOutput {
  private unwritten = 0;

  constructor(
    private readonly output: Output,
    private readonly client: GocmClient,
  ) {}

  write(text: string): void {
    this.unwritten += 1;
    if (this.unwritten === MAX_UNWRITTEN) this.client.pauseReading();
    this.output.write(text, () => {
      this.unwritten -= 1;
      if (this.unwritten === MAX_UNWRITTEN / 2) this.client.resumeReading();
    });
  }
}
