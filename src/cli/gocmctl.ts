// gocmctl: parse the arguments into a command and where gocmd listens, then
// run it (src/client/ctl.ts). Exit 0 ok, 1 an error reply, 2 usage, 3 unreachable.
import yargs from 'yargs';
import type { Address } from '../client/client.js';
import { type CtlCommand, EXIT, OUTPUT_LOST, runCtl } from '../client/ctl.js';
import { tokensSource } from '../client/tokens.js';
import { ConfigError, ERROR_CODES } from '../errors.js';
import { parseTcp } from '../config.js';

/** A bad flag or value: one line on stderr, exit 2. */
class UsageError extends Error {}

const DEFAULT_SOCKET = '/run/gocm.sock';

const EPILOG = `Output: text on a terminal; with --json, or when stdout is not a terminal, one JSON line
per reply, as the daemon sent it. send cuts the tokens into lines of at most 1000 and writes them
all on one connection without waiting for each reply, so it prints one JSON line per chunk; after
an error reply it writes no more. With --tokens-file, a progress bar of the tokens acknowledged
goes to stderr when stderr is a terminal.

Exit status:
  0  success
  1  gocmd answered with an error; its code and message go to stderr
     (${Object.keys(ERROR_CODES).join(', ')})
  2  usage: a bad flag, bad JSON, no tokens, an unreadable tokens file
  3  gocmd could not be reached, or the connection was lost before every reply came
     (a send may then be partly accepted: its JSON lines say which chunks were)`;

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
function stringList(flag: string, value: unknown): string[] {
  const list = (value === undefined ? [] : [value].flat()).map(String);
  if (list.some((item) => item === '')) throw new UsageError(`--${flag}: an empty value`);
  return list;
}

interface SendArgs {
  token?: unknown;
  'tokens-file'?: string;
  payload: string;
  notification?: string;
  'collapse-key'?: string;
  priority?: string;
  ttl?: number;
  'dry-run'?: boolean;
}

function sendCommand(args: SendArgs): CtlCommand {
  const payload = jsonObject('payload', args.payload);
  const notification = jsonObject('notification', args.notification);
  const ttl = args.ttl;
  if (ttl !== undefined && !(Number.isSafeInteger(ttl) && ttl >= 0)) throw new UsageError('--ttl: a whole number of seconds ≥ 0');
  if (args['tokens-file'] === '') throw new UsageError('--tokens-file: give a path, or - for stdin');
  const fields: Record<string, unknown> = { payload };
  if (notification) fields.notification = notification;
  if (args['collapse-key'] !== undefined) fields.collapse_key = args['collapse-key'];
  if (args.priority !== undefined) fields.priority = args.priority;
  if (ttl !== undefined) fields.ttl = ttl;
  if (args['dry-run']) fields.dry_run = true;
  return { name: 'send', fields, tokens: stringList('token', args.token), tokensFile: args['tokens-file'] };
}

function addressOf(socket: string | undefined, tcp: string | undefined, env: NodeJS.ProcessEnv): Address {
  if (tcp !== undefined) {
    try {
      return parseTcp(tcp);
    } catch (error) {
      throw new UsageError((error as ConfigError).message);
    }
  }
  return { path: socket || env.GOCM_SOCKET || DEFAULT_SOCKET };
}

const KEEP = { keep: { type: 'boolean', default: false, desc: 'read the list without clearing it' } } as const;

/** Parse; resolves to undefined when --help was printed. */
async function parse(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<{ command: CtlCommand; address: Address; json: boolean } | undefined> {
  let command: CtlCommand | undefined;
  const args = await yargs([...argv])
    .scriptName('gocmctl')
    .usage('$0 <command> [options]: talk to gocmd, the gocm daemon, over its socket')
    .options({
      socket: { type: 'string', desc: "gocmd's Unix socket", defaultDescription: `$GOCM_SOCKET, else ${DEFAULT_SOCKET}` },
      tcp: { type: 'string', desc: 'talk to gocmd on HOST:PORT instead' },
      json: { type: 'boolean', default: false, desc: 'one JSON line per reply, even on a terminal' },
    })
    .conflicts('socket', 'tcp')
    .command('send', 'queue one notification for many devices', (y) =>
      y.options({
        token: { type: 'string', desc: 'a device token (repeat for more)' },
        // nargs: without it, yargs reads a lone "-" as a positional argument, not this flag's value.
        'tokens-file': { type: 'string', nargs: 1, desc: 'a file of tokens, one a line; - for stdin' },
        payload: { type: 'string', demandOption: true, desc: 'the data payload, a JSON object' },
        notification: { type: 'string', desc: 'a JSON object: {title, body, image}' },
        'collapse-key': { type: 'string', desc: 'collapse key' },
        priority: { choices: ['normal', 'high'] as const, desc: 'delivery priority' },
        ttl: { type: 'number', desc: 'time to live, in seconds' },
        'dry-run': { type: 'boolean', desc: 'ask the upstream to validate without delivering' },
      }),
      (a) => {
        command = sendCommand(a as SendArgs);
      },
    )
    .command('report', 'counts per token since gocmd started', {}, () => {
      command = { name: 'report' };
    })
    .command('queue', 'tokens pending, by state, and the age of the oldest', {}, () => {
      command = { name: 'queue' };
    })
    .command('canonical', 'tokens to replace (and clear the list)', KEEP, (a) => {
      command = { name: 'canonical', keep: a.keep };
    })
    .command('notregistered', 'tokens to purge (and clear the list)', KEEP, (a) => {
      command = { name: 'notregistered', keep: a.keep };
    })
    .command('ping', 'check that gocmd answers', {}, () => {
      command = { name: 'ping' };
    })
    .demandCommand(1, 'give a command: send, report, queue, canonical, notregistered or ping')
    .strict()
    .version(false)
    .help()
    .epilog(EPILOG)
    .wrap(104)
    .exitProcess(false)
    .showHelpOnFail(false)
    .fail((message: string | undefined, error: Error | undefined) => {
      if (error instanceof UsageError) throw error;
      // Some of yargs' messages span lines; ours is one line.
      throw new UsageError((message ?? error?.message ?? 'bad arguments').replace(/\s*\n\s*/g, ' '));
    })
    .parseAsync();
  if (!command) return undefined;
  return { command, address: addressOf(args.socket, args.tcp, env), json: args.json };
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = await parse(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`gocmctl: ${error.message} (see gocmctl --help)\n`);
    return EXIT.usage;
  }
  if (!parsed) return EXIT.ok;
  // Until a list to be cleared is printed, a reader that goes away is a failure: the list stays.
  if ((parsed.command.name === 'canonical' || parsed.command.name === 'notregistered') && !parsed.command.keep) process.exitCode = OUTPUT_LOST;
  return runCtl(parsed.command, {
    address: parsed.address,
    json: parsed.json || !process.stdout.isTTY,
    progress: process.stderr.isTTY,
    stdout: process.stdout,
    stderr: process.stderr,
    openTokens: (path) => tokensSource(path, process.stdin),
  });
}

// A reader that goes away (| head) is not our failure, except while a list to be cleared is printed (above).
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
});

main().then(
  (status) => {
    // exitCode, not exit(): a long list still being written to a pipe is not cut short.
    process.exitCode = status;
  },
  (error: unknown) => {
    process.stderr.write(`gocmctl: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = EXIT.refused;
  },
);
