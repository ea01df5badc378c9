// gocmctl: parse the arguments into a command and where gocmd listens, then
// run it (src/client/ctl.ts). Exit 0 ok, 1 an error reply, 2 usage, 3 unreachable.
import yargs from 'yargs';
import type { Address } from '../client/client.js';
import { EXIT, OUTPUT_LOST } from '../client/context.js';
import { type CtlCommand, runCtl } from '../client/ctl.js';
import { openInput } from '../client/input.js';
import { ConfigError, ERROR_CODES } from '../errors.js';
import { parseTcp } from '../addresses.js';
import { appName, type SendArgs, sendCommand, stringList, UsageError } from './ctl-args.js';

const DEFAULT_SOCKET = '/run/gocm.sock';

const EPILOG = `Output: text on a terminal; with --json, or when stdout is not a terminal, one JSON line
per reply, as the daemon sent it. send cuts the tokens into lines of at most 1000 and writes them
all on one connection without waiting for each reply, so it prints one JSON line per chunk; after
an error reply it writes no more. With --tokens-file or --messages, a progress bar goes to stderr
when stderr is a terminal.

send --messages FILE|-: one send a line, the send request without "cmd", e.g.
  {"tokens":["t1"],"payload":{"name":"Ann"},"app":"ios"}
The other flags of send (--payload, --app, …) are defaults for every line; a line's own field wins.
Each request's "id" is its line number unless the line gives one, so the JSON lines say which line
each reply answers. A bad line (not JSON, not an object, or refused) is reported on stderr with its
number and skipped; a summary of the lines sent, accepted and refused ends the run.

watch [EVENT…]: delivered, failed, retry, notregistered, canonical (default: all), one line per
event until Ctrl-C; piped, the subscribe reply, then each event's JSON line as gocmd sent it.

Exit status:
  0  success (watch: stopped by SIGINT)
  1  gocmd answered with an error; its code and message go to stderr
     (${Object.keys(ERROR_CODES).join(', ')});
     send --messages: a line was bad or refused
  2  usage: a bad flag, bad JSON, no tokens or messages, an unreadable file
  3  gocmd could not be reached, or the connection was lost before every reply came
     (a send may then be partly accepted: its JSON lines say which chunks or lines were)`;

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

const APP = { app: { type: 'string', desc: 'only this app (a name from gocmd\'s --apps file)' } } as const;
const LIST = { ...APP, keep: { type: 'boolean', default: false, desc: 'read the list without clearing it' } } as const;

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
        messages: { type: 'string', nargs: 1, conflicts: ['token', 'tokens-file'], desc: 'a file of sends, one JSON object a line; - for stdin' },
        app: { type: 'string', desc: 'the app to send for (default: gocmd\'s default app)' },
        payload: { type: 'string', desc: 'the data payload, a JSON object (required without --messages)' },
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
    .command('report', 'counts per token since gocmd started', APP, (a) => {
      command = { name: 'report', app: appName(a.app) };
    })
    .command('queue', 'tokens pending, by state, and the age of the oldest', APP, (a) => {
      command = { name: 'queue', app: appName(a.app) };
    })
    // type string: yargs would make a numeric-looking id a number.
    .command('status <id>', "a message's tokens: pending, delivered, failed and why", (y) => y.positional('id', { type: 'string', desc: 'the "msg" a send answered' }).options(APP), (a) => {
      command = { name: 'status', msg: String(a.id), app: appName(a.app) };
    })
    .command('canonical', 'tokens to replace (and clear the list)', LIST, (a) => {
      command = { name: 'canonical', keep: a.keep, app: appName(a.app) };
    })
    .command('notregistered', 'tokens to purge (and clear the list)', LIST, (a) => {
      command = { name: 'notregistered', keep: a.keep, app: appName(a.app) };
    })
    .command('fleet', 'the daemons sharing the spool', {}, () => {
      command = { name: 'fleet' };
    })
    .command('watch [events..]', 'print events as they happen, until Ctrl-C', (y) => y.positional('events', { type: 'string', array: true, desc: 'the events to print (default: all)' }), (a) => {
      command = { name: 'watch', events: stringList('events', a.events) };
    })
    .command('ping', 'check that gocmd answers', {}, () => {
      command = { name: 'ping' };
    })
    .command(
      'vapid-keys',
      'make a VAPID key pair for a webpush app: write the private key, print the public key (no daemon needed)',
      (y) => y.options({ 'private-key-file': { type: 'string', nargs: 1, demandOption: true, desc: 'a new file for the private key (mode 0600; an existing file is never replaced)' } }),
      (a) => {
        command = { name: 'vapid-keys', privateKeyFile: a['private-key-file'] };
      },
    )
    .demandCommand(1, 'give a command: send, report, queue, status, canonical, notregistered, fleet, watch, ping or vapid-keys')
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
    openInput: (flag, path) => openInput(flag, path, process.stdin),
    interrupted: () => new Promise((resolve) => process.once('SIGINT', () => resolve())),
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
