// `gocmctl send --messages FILE|-`: the command around messages.ts — open
// the file, refuse an empty one before connecting, draw the progress bar,
// report each bad line by its number, and end with a summary.
import { GocmClient, type Reply } from './client.js';
import { complain, type CtlContext, EXIT } from './context.js';
import { formatError, formatMessages } from './format.js';
import { type InputSource, prepend } from './input.js';
import { isBlank, type NumberedLine, numberedLines, sendMessages } from './messages.js';
import { LINES, ProgressBar } from './progress.js';

export interface MessagesSendCommand {
  readonly name: 'messages';
  /** A path, or `-` for stdin. */
  readonly file: string;
  /** Fields every line gets unless it has its own (--app and the other message flags). */
  readonly defaults: Readonly<Record<string, unknown>>;
}

export async function sendMessagesFile(command: MessagesSendCommand, context: CtlContext): Promise<number> {
  const source = await context.openInput('--messages', command.file);
  const lines = numberedLines(source.open(), source.name);
  try {
    // Up to the first line that is not blank before connecting: nothing to send is a usage error.
    const first = await firstLine(lines);
    if (!first) return complain(context, `no messages in ${source.name}: give one send a line, e.g. {"tokens":["t1"],"payload":{"k":"v"}}`, EXIT.usage);
    return await sendAll(command, context, source, prepend(first, lines));
  } finally {
    // Whatever ended the send, the file (or stdin) is closed.
    await lines.return(undefined);
  }
}

async function sendAll(command: MessagesSendCommand, context: CtlContext, source: InputSource, lines: AsyncGenerator<NumberedLine>): Promise<number> {
  const bar = context.progress ? new ProgressBar(context.stderr, LINES) : undefined;
  // A file is counted first only for the bar's sake: a pass over it, not held in memory.
  const total = bar && source.rereadable ? await countLines(source) : undefined;
  let done = 0;
  const progressed = (): void => {
    done += 1;
    bar?.update(done, total);
  };
  const client = await GocmClient.connect(context.address);
  try {
    bar?.update(0, total);
    const result = await sendMessages(client, lines, command.defaults, {
      onReply(number: number, reply: Reply) {
        if (context.json || !reply.ok) bar?.clear();
        if (context.json) context.stdout.write(JSON.stringify(reply) + '\n');
        if (!reply.ok) context.stderr.write(`gocmctl: line ${number}: ${formatError(reply)}\n`);
        progressed();
      },
      onSkipped(number: number, problem: string) {
        bar?.clear();
        context.stderr.write(`gocmctl: line ${number}: ${problem}; skipped\n`);
        progressed();
      },
    });
    bar?.clear();
    // People read the summary where they read the rest; scripts keep stdout for the JSON lines.
    (context.json ? context.stderr : context.stdout).write(`${context.json ? 'gocmctl: ' : ''}${formatMessages(result)}\n`);
    if (result.lost) {
      const unanswered = result.sent - result.accepted - result.refused;
      return complain(context, `${result.lost.message} (${unanswered} lines sent were not answered: they may or may not have been taken)`, EXIT.unreachable);
    }
    return result.refused + result.skipped > 0 ? EXIT.refused : EXIT.ok;
  } finally {
    bar?.clear();
    await client.close();
  }
}

/** The first line that is not blank (a send, or one to be reported), or undefined at the end. */
async function firstLine(lines: AsyncGenerator<NumberedLine>): Promise<NumberedLine | undefined> {
  for (;;) {
    const next = await lines.next();
    if (next.done) return undefined;
    if (!isBlank(next.value)) return next.value;
  }
}

/** Lines that are not blank: what the bar counts to. */
async function countLines(source: InputSource): Promise<number> {
  let count = 0;
  for await (const line of numberedLines(source.open(), source.name)) if (!isBlank(line)) count += 1;
  return count;
}
