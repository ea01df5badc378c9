// Flags, environment (GOCM_*) and config file → one frozen, validated Config.
// Every problem here is a ConfigError: gocmd prints one line and exits 2.
import { readFileSync } from 'node:fs';
import { availableParallelism, homedir, hostname } from 'node:os';
import { join } from 'node:path';
import yargs, { type Options } from 'yargs';
import { type AppConfig, type AppsConfig, loadAppsFile, readSecretFile } from './apps.js';
import { ConfigError } from './errors.js';
import { errorCode } from './guards.js';
import { isLoopback, parseTcp, type TcpAddress } from './addresses.js';
import { checkGocmHost, takeGocmFlags } from './gocm-flags.js';

export interface Config {
  /** Unix socket path; undefined when systemd hands us our sockets. */
  readonly socket: string;
  readonly socketMode: number;
  readonly tcp: TcpAddress | undefined;
  readonly tcpAllowRemote: boolean;
  /** GoCM's HTTP API (--http, or GoCM's -host/-port); undefined: off unless systemd passes a socket named `http`. */
  readonly http: TcpAddress | undefined;
  /** HTTP API: the headers of a request must arrive within this, the whole request within twice it. */
  readonly httpTimeoutMs: number;
  /** --metrics: where GET /metrics and GET /healthz are served; undefined: nowhere (unless systemd passes a socket named `metrics`). */
  readonly metrics: TcpAddress | undefined;
  readonly maxLineBytes: number;
  readonly maxConnections: number;
  /** 0: never. */
  readonly idleTimeoutMs: number;
  readonly spool: string;
  readonly sync: 'normal' | 'full';
  readonly spoolMax: number;
  readonly fcmEndpoint: string;
  readonly gcmEndpoint: string;
  readonly retries: number;
  readonly maxBackoffMs: number;
  readonly requestTimeoutMs: number;
  readonly concurrency: number;
  readonly connections: number;
  readonly dryRun: boolean;
  readonly drainTimeoutMs: number;
  readonly logLevel: string;
  /** --apps FILE, re-read on SIGHUP; undefined: the app `default`, from the flags above. */
  readonly appsFile: string | undefined;
  readonly apps: AppsConfig;
  /** --rate: tokens a second per app unless its entry says otherwise; undefined: unlimited. */
  readonly rate: number | undefined;
  readonly statusRetentionMs: number;
  /** A PostgreSQL spool's claims hold this long unless renewed (--lease). */
  readonly leaseMs: number;
  /** This daemon's name in `fleet` (--name). */
  readonly name: string;
  /** Delivery threads (--workers); 0: the main thread sends. */
  readonly workers: number;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** The longest a Node timer can wait: a longer duration would fire after 1 ms. */
const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * "10s", "250ms", "2m", or a bare number of seconds → milliseconds, from 1 ms
 * to 2^31−1 ms (what a timer can wait); `zeroMeansNever` lets 0 through.
 */
export function parseDuration(name: string, value: unknown, zeroMeansNever = false): number {
  const match = DURATION.exec(String(value).trim());
  if (!match) throw new ConfigError(`--${name}: "${String(value)}" is not a duration (e.g. 10s, 250ms, 2m)`);
  const ms = Math.round(Number(match[1]) * (UNIT_MS[match[2] ?? 's'] ?? 1000));
  if (ms === 0 && zeroMeansNever) return 0;
  if (ms < 1) throw new ConfigError(`--${name}: "${String(value)}" is shorter than 1 ms${zeroMeansNever ? ' (0 means never)' : ''}`);
  if (ms > MAX_DURATION_MS) throw new ConfigError(`--${name}: "${String(value)}" is longer than a timer can wait (2^31−1 ms, about 24.8 days)`);
  return ms;
}

function wholeNumber(name: string, value: unknown, min: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(`--${name}: "${String(value)}" is not a whole number ≥ ${min}`);
  return n;
}

/** The cores but one for delivery, the other for ingest, the spool and the engine; at least one, at most eight. */
function defaultWorkers(): number {
  return Math.min(8, Math.max(1, availableParallelism() - 1));
}

/** A TCP address to listen on: loopback only unless --tcp-allow-remote (anyone who can reach it could use it). */
function listenAddress(flag: '--tcp' | '--http' | '--metrics', value: string | undefined, allowRemote: boolean): TcpAddress | undefined {
  if (!value) return undefined;
  const address = parseTcp(value, flag);
  if (!isLoopback(address.host) && !allowRemote) throw new ConfigError(`${flag}: ${address.host} is not a loopback address; add --tcp-allow-remote to listen on it`);
  return address;
}

function defaultSpool(env: NodeJS.ProcessEnv): string {
  if (env.STATE_DIRECTORY) return join(env.STATE_DIRECTORY.split(':')[0] as string, 'spool.db');
  const stateHome = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(stateHome, 'gocm', 'spool.db');
}

function credentialsPath(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (flag) return flag;
  if (env.GOOGLE_APPLICATION_CREDENTIALS) return env.GOOGLE_APPLICATION_CREDENTIALS;
  if (env.CREDENTIALS_DIRECTORY) return join(env.CREDENTIALS_DIRECTORY, 'fcm.json');
  return undefined;
}

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const USAGE = 'gocmd [options]: the gocm daemon. Options come from flags, GOCM_* variables or --config FILE.';

/** The option table: one place for names, defaults and help (the README's flag table is checked against it). */
export const OPTIONS = {
  socket: { type: 'string', default: '/run/gocm.sock', desc: 'Unix socket to listen on' },
  'socket-mode': { type: 'string', default: '0660', desc: 'permissions of the socket file (octal)' },
  tcp: { type: 'string', desc: 'also listen on HOST:PORT (loopback only unless --tcp-allow-remote)' },
  'tcp-allow-remote': { type: 'boolean', default: false, desc: 'allow --tcp, --http and --metrics on a non-loopback address' },
  http: { type: 'string', desc: "serve GoCM's HTTP API (/gcm/send, /gcm/report…) on HOST:PORT (loopback only unless --tcp-allow-remote)" },
  'http-timeout': { type: 'string', default: '10s', desc: 'HTTP API: headers must arrive within this, a whole request within twice it' },
  metrics: { type: 'string', desc: 'serve GET /metrics (Prometheus) and GET /healthz on HOST:PORT (loopback only unless --tcp-allow-remote)' },
  'max-line-bytes': { type: 'number', default: 1_048_576, desc: 'longest request line accepted' },
  'max-connections': { type: 'number', default: 1024, desc: 'client connections served at once' },
  'idle-timeout': { type: 'string', default: '0', desc: 'close connections silent this long (0: never)' },
  spool: { type: 'string', desc: 'SQLite spool file, postgres://… for a spool shared by a fleet, or :memory: to keep nothing' },
  sync: { choices: ['normal', 'full'], default: 'normal', desc: 'normal survives a crash; full also power loss' },
  'spool-max': { type: 'number', default: 10_000_000, desc: 'tokens the spool may hold before send answers busy' },
  provider: { choices: ['fcm', 'gcm'], desc: 'push service: fcm (HTTP v1, default) or gcm (legacy)' },
  credentials: { type: 'string', desc: 'Google service-account JSON file (fcm)' },
  'project-id': { type: 'string', desc: "Firebase project id (default: the credentials file's)" },
  'apikey-file': { type: 'string', desc: 'file holding the legacy server key (gcm)' },
  apikey: { type: 'string', desc: 'the legacy server key itself (visible in ps; prefer --apikey-file)' },
  'fcm-endpoint': { type: 'string', default: 'https://fcm.googleapis.com', desc: 'FCM v1 base URL' },
  'gcm-endpoint': { type: 'string', default: 'https://fcm.googleapis.com/fcm/send', desc: 'legacy send URL' },
  retries: { type: 'number', default: 2, desc: 'extra tries per token for retryable outcomes' },
  'max-backoff': { type: 'string', default: '60s', desc: 'longest wait between tries (Retry-After may ask up to an hour)' },
  'request-timeout': { type: 'string', default: '10s', desc: 'a request unanswered this long after it is sent is a network error' },
  concurrency: { type: 'number', default: 2500, desc: 'requests to the push service in flight at once' },
  connections: { type: 'number', default: 25, desc: 'connections to the push service (HTTP/2: up to 100 streams each)' },
  'dry-run': { type: 'boolean', default: false, desc: 'ask the push service to validate without delivering' },
  'drain-timeout': { type: 'string', default: '10s', desc: 'on SIGTERM, how long connections and requests in flight may take' },
  'log-level': { choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], default: 'info' },
  apps: { type: 'string', desc: 'a JSON file naming the apps to send for (re-read on SIGHUP)' },
  rate: { type: 'number', desc: 'tokens a second per app, on average (default: unlimited)' },
  'status-retention': { type: 'string', default: '24h', desc: 'how long status remembers a message after it became final' },
  lease: { type: 'string', default: '30s', desc: "PostgreSQL spool: how long a daemon's claims hold unless renewed" },
  name: { type: 'string', desc: "this daemon's name in fleet (default HOST:PID)" },
  workers: { type: 'number', desc: 'delivery threads, each with its own connections; 0: the main thread sends (default: the cores but one, at least 1)' },
} as const satisfies Record<string, Options>;

/** GOCM_MAX_BACKOFF → max-backoff. */
function optionOfVariable(name: string): string {
  return name.slice('GOCM_'.length).toLowerCase().replace(/_/g, '-');
}

/**
 * yargs would stop at an unknown GOCM_* variable with "Unknown argument: foo",
 * which does not say where it came from; a deploy tool may set one. Name it.
 */
function checkEnvironment(env: NodeJS.ProcessEnv): void {
  for (const name of Object.keys(env)) {
    if (!name.startsWith('GOCM_')) continue;
    const option = optionOfVariable(name);
    if (option !== 'config' && !Object.hasOwn(OPTIONS, option)) {
      throw new ConfigError(`the environment variable ${name} names no setting (GOCM_<FLAG> sets --<flag>, e.g. GOCM_RETRIES=3)`);
    }
  }
}

function parser(argv: readonly string[]) {
  return yargs([...argv])
    .scriptName('gocmd')
    .usage(USAGE)
    .env('GOCM')
    // A flag given twice (or in the environment and on the command line) takes its last value.
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .config('config', 'a JSON file of options, named as the long flags', (path: string) => {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (error) {
        throw new ConfigError(`--config: cannot read ${path}: ${errorCode(error) ?? 'error'}`);
      }
      try {
        return JSON.parse(text) as object;
      } catch {
        // JSON.parse quotes the text around the error, and a config file may hold a key.
        throw new ConfigError(`--config: ${path} is not valid JSON`);
      }
    })
    .options(OPTIONS)
    .epilogue(
      "GoCM's flags are taken as GoCM took them: -apikey KEY (the legacy key), -host ADDR (or -ipaddress), -port PORT " +
        "serve GoCM's HTTP API, at 127.0.0.1:5601 unless they say otherwise.",
    )
    .strict()
    .version(false)
    .help()
    .wrap(100)
    .fail((message: string | undefined, error: Error | undefined) => {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(message ?? error?.message ?? 'bad arguments');
    });
}

/** Parse and validate; throws ConfigError. Prints help and returns undefined for --help. */
export async function loadConfig(gocmArgv: readonly string[], env: NodeJS.ProcessEnv): Promise<Config | undefined> {
  checkEnvironment(env);
  const gocm = takeGocmFlags(gocmArgv);
  const argv = gocm.argv;
  // --help and --version print and end the run; yargs must not exit the process for us.
  if (argv.includes('--help') || argv.includes('-h')) {
    await parser(argv).exitProcess(false).parseAsync();
    return undefined;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`${VERSION}\n`);
    return undefined;
  }
  const args = await parser(argv).exitProcess(false).showHelpOnFail(false).parseAsync();
  if (args._.length > 0) throw new ConfigError(`unexpected argument "${String(args._[0])}"`);

  const socketMode = Number.parseInt(args['socket-mode'], 8);
  if (!/^0?[0-7]{3}$/.test(args['socket-mode'])) throw new ConfigError(`--socket-mode: "${args['socket-mode']}" is not an octal mode like 0660`);
  const tcp = listenAddress('--tcp', args.tcp, args['tcp-allow-remote']);
  if (gocm.http) checkGocmHost(gocm.http, args['tcp-allow-remote']);
  const http = gocm.http ?? listenAddress('--http', args.http, args['tcp-allow-remote']);
  const metrics = listenAddress('--metrics', args.metrics, args['tcp-allow-remote']);
  for (const flag of ['fcm-endpoint', 'gcm-endpoint'] as const) {
    let url: URL;
    try {
      url = new URL(args[flag]);
    } catch {
      throw new ConfigError(`--${flag}: "${args[flag]}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`--${flag}: only http:// and https:// URLs work`);
  }

  const concurrency = wholeNumber('concurrency', args.concurrency, 1);
  const rate = args.rate === undefined ? undefined : wholeNumber('rate', args.rate, 1);
  const dryRun = args['dry-run'];
  const fcmEndpoint = args['fcm-endpoint'];
  const gcmEndpoint = args['gcm-endpoint'];
  const appsFile = args.apps || undefined;
  let apps: AppsConfig;
  let provider: 'fcm' | 'gcm' = 'fcm';
  let credentials: string | undefined;
  let apiKey: string | undefined;
  if (appsFile) {
    apps = loadAppsFile(appsFile, { concurrency, rate, dryRun });
  } else {
    apiKey = args['apikey-file'] ? readSecretFile('--apikey-file', args['apikey-file']) : args.apikey || undefined;
    credentials = credentialsPath(args.credentials, env);
    provider = (args.provider as 'fcm' | 'gcm' | undefined) ?? (apiKey && !credentials ? 'gcm' : 'fcm');
    if (provider === 'gcm' && !apiKey) throw new ConfigError('--provider gcm needs a key: --apikey-file FILE or $GOCM_APIKEY');
    if (provider === 'fcm' && !credentials) {
      throw new ConfigError('--provider fcm needs a service-account file: --credentials FILE, $GOOGLE_APPLICATION_CREDENTIALS or $CREDENTIALS_DIRECTORY/fcm.json');
    }
    const common = { name: 'default', concurrency, rate, dryRun };
    const app: AppConfig =
      provider === 'fcm'
        ? { ...common, provider, endpoint: fcmEndpoint, credentials: credentials as string, projectId: args['project-id'] }
        : { ...common, provider, endpoint: gcmEndpoint, apiKey: apiKey as string };
    apps = { defaultApp: 'default', apps: [app] };
  }

  return Object.freeze({
    socket: args.socket,
    socketMode,
    tcp,
    tcpAllowRemote: args['tcp-allow-remote'],
    http,
    httpTimeoutMs: parseDuration('http-timeout', args['http-timeout']),
    metrics,
    maxLineBytes: wholeNumber('max-line-bytes', args['max-line-bytes'], 64),
    maxConnections: wholeNumber('max-connections', args['max-connections'], 1),
    idleTimeoutMs: parseDuration('idle-timeout', args['idle-timeout'], true),
    spool: args.spool || defaultSpool(env),
    sync: args.sync as 'normal' | 'full',
    spoolMax: wholeNumber('spool-max', args['spool-max'], 1),
    fcmEndpoint,
    gcmEndpoint,
    retries: wholeNumber('retries', args.retries, 0),
    maxBackoffMs: parseDuration('max-backoff', args['max-backoff']),
    requestTimeoutMs: parseDuration('request-timeout', args['request-timeout']),
    concurrency,
    connections: wholeNumber('connections', args.connections, 1),
    dryRun,
    drainTimeoutMs: parseDuration('drain-timeout', args['drain-timeout']),
    logLevel: args['log-level'],
    appsFile,
    apps,
    rate,
    statusRetentionMs: parseDuration('status-retention', args['status-retention']),
    leaseMs: parseDuration('lease', args.lease),
    name: args.name || `${hostname()}:${process.pid}`,
    workers: args.workers === undefined ? defaultWorkers() : wholeNumber('workers', args.workers, 0),
  });
}
